"""The TFDS adapter, on tiny datasets generated locally, and its data-absent error."""

import ast
import os
import time
from pathlib import Path

import numpy as np
import pytest

from ae_zoo import data
from ae_zoo.data import tfds_adapter
from tests.data import tiny_tfds

DIGITS = "tfds:ae_zoo_tiny_digits"


@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("tfds")
    tiny_tfds.prepare(tiny_tfds.AeZooTinyDigits, root)
    tiny_tfds.prepare(tiny_tfds.AeZooTinyFactors, root)
    return str(root)


@pytest.fixture
def factor_spec(monkeypatch):
    """Reads ae_zoo_tiny_factors the way the dSprites spec reads dSprites."""
    spec = tfds_adapter.TfdsSpec(factor_keys=("label_a", "label_b"), factor_names=("a", "b"),
                                 binary=True)
    monkeypatch.setitem(tfds_adapter.TFDS_DATASETS, "ae_zoo_tiny_factors", spec)


def match_to_source(ds, split):
    """Index of each loaded example in the generated split (TFDS reorders examples)."""
    images, labels = tiny_tfds.tiny_digits_examples(split)
    position = {img.tobytes(): i for i, img in enumerate(images)}
    assert len(position) == len(images)
    as_uint8 = np.rint(ds.x * 255).astype(np.uint8)
    return np.array([position[img.tobytes()] for img in as_uint8]), images, labels


@pytest.mark.parametrize("split", ["train", "test"])
def test_round_trip_exact_pixels_and_labels(tfds_dir, split):
    ds = data.load(DIGITS, split, data_dir=tfds_dir)
    n = tiny_tfds.TINY_SPLITS[split]
    assert (ds.name, ds.split, len(ds), ds.input_shape) == (DIGITS, split, n, (28, 28, 1))
    assert ds.x.dtype == np.float32 and ds.y.dtype == np.int64 and ds.num_classes == 10
    assert ds.factors is None and ds.ground_truth is None
    assert ds.value_names() == tuple(str(c) for c in range(10))  # the ClassLabel's names
    index, images, labels = match_to_source(ds, split)
    assert sorted(index) == list(range(n))  # every example exactly once
    np.testing.assert_array_equal(ds.x, images[index].astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(ds.y, labels[index])
    assert ds.x.min() == 0.0 and ds.x.max() == 1.0


def test_order_is_stable(tfds_dir):
    a, b = (data.load(DIGITS, "train", data_dir=tfds_dir) for _ in range(2))
    np.testing.assert_array_equal(a.x, b.x)


def test_max_examples_and_slicing(tfds_dir):
    full = data.load(DIGITS, "train", data_dir=tfds_dir)
    first = data.load(DIGITS, "train", data_dir=tfds_dir, max_examples=5)
    assert len(first) == 5 and first.split == "train[:5]"
    np.testing.assert_array_equal(first.x, full.x[:5])
    np.testing.assert_array_equal(first.y, full.y[:5])
    assert len(data.load(DIGITS, "train", data_dir=tfds_dir, max_examples=1000)) == 12
    sliced = data.load(DIGITS, "train[3:7]", data_dir=tfds_dir)
    np.testing.assert_array_equal(sliced.x, full.x[3:7])
    with pytest.raises(ValueError, match="not both"):
        data.load(DIGITS, "train[:3]", data_dir=tfds_dir, max_examples=2)
    for bad in (0, -1, 2.0):
        with pytest.raises(ValueError, match="max_examples"):
            data.load(DIGITS, "train", data_dir=tfds_dir, max_examples=bad)


def test_unknown_split_lists_the_prepared_splits(tfds_dir):
    with pytest.raises(ValueError, match="'validation'.*valid splits: test, train"):
        data.load(DIGITS, "validation", data_dir=tfds_dir)


def test_image_size_resizes(tfds_dir):
    ds = data.load(DIGITS, "test", data_dir=tfds_dir, image_size=14)
    full = data.load(DIGITS, "test", data_dir=tfds_dir)
    assert ds.x.shape == (5, 14, 14, 1) and ds.x.dtype == np.float32
    assert 0.0 <= ds.x.min() and ds.x.max() <= 1.0
    # Area resizing by 2 averages 2x2 blocks, kept to the nearest 1/255 (uint8 storage).
    assert ds.images.dtype == np.uint8 and full.images.dtype == np.uint8
    blocks = full.x.reshape(5, 14, 2, 14, 2, 1).mean(axis=(2, 4))
    np.testing.assert_allclose(ds.x, np.round(blocks * 255) / 255, atol=1e-6)


def test_builder_object_and_generic_loader(tfds_dir):
    builder = tiny_tfds.AeZooTinyDigits(data_dir=tfds_dir)
    ds = data.load_tfds(builder, "test")
    np.testing.assert_array_equal(ds.x, data.load(DIGITS, "test", data_dir=tfds_dir).x)
    assert ds.name == "ae_zoo_tiny_digits"
    with pytest.raises(ValueError, match="data_dir"):
        data.load_tfds(builder, "test", data_dir=tfds_dir)
    no_labels = data.load(DIGITS, "test", data_dir=tfds_dir, label_key=None)
    assert no_labels.y is not None  # None means "the default": the ClassLabel 'label'
    with pytest.raises(ValueError, match="no image feature 'picture'"):
        data.load(DIGITS, "test", data_dir=tfds_dir, image_key="picture")
    with pytest.raises(ValueError, match="no feature 'digit'"):
        data.load(DIGITS, "test", data_dir=tfds_dir, label_key="digit")


def test_factor_dataset_and_lookup_interface(tfds_dir, factor_spec):
    ds = data.load("tfds:ae_zoo_tiny_factors", data_dir=tfds_dir)
    assert ds.factor_sizes == (2, 3) and ds.factor_names == ("a", "b")
    assert ds.y is None and ds.factors.dtype == np.int64 and len(ds) == 6
    for image, (a, b) in zip(ds.x, ds.factors):  # binary 0/1 pixels kept as 0/1
        np.testing.assert_array_equal(image, tiny_tfds.tiny_factor_image(a, b).astype(np.float32))
    gt = ds.ground_truth
    assert gt.is_complete and gt.factor_sizes == (2, 3) and gt.observation_shape == (8, 8, 1)
    factors = gt.sample_factors(30, np.random.RandomState(0))
    observations = gt.sample_observations_from_factors(factors, np.random.RandomState(0))
    for image, (a, b) in zip(observations, factors):
        np.testing.assert_array_equal(image, tiny_tfds.tiny_factor_image(a, b).astype(np.float32))

    partial = data.load("tfds:ae_zoo_tiny_factors", data_dir=tfds_dir, max_examples=3)
    assert not partial.ground_truth.is_complete
    missing = {(a, b) for a in range(2) for b in range(3)} - {tuple(f) for f in partial.factors}
    with pytest.raises(ValueError, match="not in the loaded data"):
        partial.ground_truth.sample_observations_from_factors(np.array([sorted(missing)[0]]))


def test_absent_data_raises_a_clear_error_quickly(tmp_path):
    empty = tmp_path / "no_data_here"
    empty.mkdir()
    start = time.perf_counter()
    with pytest.raises(data.DatasetNotFoundError) as err:
        data.load("mnist", "train", data_dir=str(empty))
    assert time.perf_counter() - start < 5.0
    assert isinstance(err.value, FileNotFoundError)
    message = str(err.value)
    assert "'mnist'" in message and str(empty) in message
    assert "tfds build mnist --data_dir" in message and "download=True" in message
    assert err.value.__cause__ is None and err.value.__suppress_context__
    assert os.listdir(empty) == []  # nothing written


@pytest.mark.parametrize(
    "name, options, tfds_name",
    [("fashion_mnist", {}, "fashion_mnist"), ("cifar10", {}, "cifar10"),
     ("celeb_a", {}, "celeb_a"), ("shapes3d", {}, "shapes3d"),
     ("dsprites", {"source": "tfds"}, "dsprites"), ("tfds:dsprites", {}, "dsprites")],
)
def test_absent_data_for_every_tfds_name(tmp_path, name, options, tfds_name):
    with pytest.raises(data.DatasetNotFoundError, match=f"'{tfds_name}' is not prepared"):
        data.load(name, data_dir=str(tmp_path), **options)


def test_unknown_tfds_name(tmp_path):
    with pytest.raises(ValueError, match="unknown TFDS dataset 'no_such_dataset_xyz'"):
        data.load("tfds:no_such_dataset_xyz", data_dir=str(tmp_path))
    with pytest.raises(ValueError, match="after 'tfds:'"):
        data.load("tfds:")


def test_tensorflow_datasets_is_imported_lazily():
    """No module of ae_zoo.data imports tensorflow_datasets at import time (it is slow)."""
    package = Path(data.__file__).parent
    for path in package.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in tree.body:  # module level only; imports inside functions are lazy
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            assert not any(m.startswith("tensorflow_datasets") for m in modules), path.name
