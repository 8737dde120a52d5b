"""TFDS splits over the memory budget stream from their files (StreamPipeline), and
in-memory ones keep their images as uint8: checked on the tiny local TFDS datasets."""

import gc
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
import yaml
from sklearn.mixture import GaussianMixture

from ae_zoo import data, models
from ae_zoo.data import streaming
from ae_zoo.data.streaming import block_shuffle
from ae_zoo.experiments.train import run
from ae_zoo.training.pipeline import StreamPipeline
from tests.data import tiny_tfds

DIGITS = "tfds:ae_zoo_tiny_digits"  # 12 train / 5 test examples of 28x28x1 uint8


@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("tfds")
    tiny_tfds.prepare(tiny_tfds.AeZooTinyDigits, root)
    return str(root)


def load(tfds_dir, budget=None, split="train"):
    return data.load(DIGITS, split, data_dir=tfds_dir, memory_budget_mb=budget)


def test_a_split_over_the_budget_streams_and_one_under_it_is_uint8_in_memory(tfds_dir):
    in_memory = load(tfds_dir, budget=1.0)  # 12 x 784 bytes: under a megabyte
    assert isinstance(in_memory, data.ImageDataset) and in_memory.images.dtype == np.uint8
    streamed = load(tfds_dir, budget=0.005)
    assert isinstance(streamed, data.StreamingImageDataset)
    assert (len(streamed), streamed.input_shape, streamed.num_classes) == (12, (28, 28, 1), 10)
    head = streamed.head()
    np.testing.assert_array_equal(head.images, in_memory.images)  # the same file order
    np.testing.assert_array_equal(head.y, in_memory.y)
    with pytest.raises(AttributeError, match="head"):
        streamed.x


def test_block_shuffle_permutes_within_blocks_by_seed_and_epoch():
    examples = tf.data.Dataset.range(10)

    def epoch(seed, e):
        return [int(v) for v in block_shuffle(examples, seed, tf.constant(e, tf.int64), block=4)]

    first = epoch(0, 0)
    assert sorted(first) == list(range(10))  # every example once
    for start in (0, 4, 8):  # blocks [0..3], [4..7], [8, 9] keep their members
        assert sorted(first[start:start + 4]) == list(range(start, min(start + 4, 10)))
    assert epoch(0, 0) == first and epoch(0, 1) != first and epoch(1, 0) != first


def test_stream_batches_pair_each_image_with_its_label(tfds_dir):
    streamed, in_memory = load(tfds_dir, budget=0.005), load(tfds_dir)
    pipeline = StreamPipeline(streamed, batch_size=5, seed=3, labels=True)
    assert pipeline.steps_per_epoch == 3  # 5, 5 and a partial batch of 2
    seen = []
    for x, y in pipeline.dataset():
        for image, label in zip(x.numpy(), y.numpy()):
            index = int(np.argmin(np.abs(in_memory.x - image).reshape(12, -1).sum(axis=1)))
            np.testing.assert_allclose(image, in_memory.x[index], atol=1e-7)
            assert label == in_memory.y[index]
            seen.append(index)
    assert sorted(seen) == list(range(12))


def test_the_decoded_cache_is_written_once_and_gives_the_batches_of_the_files(tfds_dir, tmp_path,
                                                                           monkeypatch):
    monkeypatch.setenv(streaming.CACHE_ENV, str(tmp_path))
    streamed = load(tfds_dir, budget=0.005)
    cached, uncached = (StreamPipeline(streamed, batch_size=5, seed=3, labels=True, cache=c)
                        for c in (True, False))
    assert uncached.cache is None and os.path.dirname(cached.cache.folder) == str(tmp_path)
    for epoch in range(3):  # the first epoch writes the cache, the later ones read it
        for pipeline in (cached, uncached):
            pipeline.epoch.assign(epoch)
        for a, b in zip(cached.dataset(), uncached.dataset(), strict=True):
            for u, v in zip(a, b):
                np.testing.assert_array_equal(u.numpy(), v.numpy())
        assert any(f.endswith(".index") for f in os.listdir(cached.cache.folder))
    streams = [list(p.stream().take(7).as_numpy_iterator()) for p in (cached, uncached)]
    for a, b in zip(*streams):
        np.testing.assert_array_equal(a[0], b[0])
    assert StreamPipeline(streamed, batch_size=5, steps_per_epoch=2).cache is None  # a part
    folder = cached.cache.folder
    del cached, streams
    gc.collect()
    assert not os.path.exists(folder)
    dead = tmp_path / f"{streaming._CACHE_PREFIX}999999999_x"  # no such process
    dead.mkdir()
    monkeypatch.setenv(streaming.CACHE_ENV, "off")
    assert StreamPipeline(streamed, batch_size=5).cache is None
    monkeypatch.setenv(streaming.CACHE_ENV, str(tmp_path))
    assert StreamPipeline(streamed, batch_size=5).cache is not None and not dead.exists()


def test_fit_on_a_streamed_split_is_seeded_and_validates_on_its_last_part(tfds_dir):
    histories, weights = [], []
    for _ in range(2):
        keras.utils.set_random_seed(0)
        model = models.create("cvae", latent_dim=2, input_shape=(28, 28, 1), hidden_units=(8,),
                              num_classes=10, seed=1)
        model.compile()
        history = model.fit(load(tfds_dir, budget=0.005), batch_size=4, epochs=2,
                            validation_split=0.25, verbose=0).history
        assert int(model.optimizer.iterations) == 2 * 3  # 9 of the 12 examples train
        histories.append(history)
        weights.append(model.get_weights())
    assert np.all(np.isfinite(histories[0]["val_loss"]))
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)  # the same seed, the same batches


def test_the_runner_streams_a_split_over_its_recipe_budget(tfds_dir, tmp_path):
    recipe = {"model": {"name": "vae", "latent_dim": 2, "options": {"hidden_units": [8]}},
              "data": {"name": DIGITS, "data_dir": tfds_dir, "memory_budget_mb": 0.003,
                       "validation_split": 0.25, "evaluation_examples": 3},
              "training": {"epochs": 2, "batch_size": 4, "iwae_samples": 2},
              "sampler": {"name": "gmm", "options": {"n_components": 2}, "examples": 5},
              "out": str(tmp_path / "run")}
    result = run(recipe, verbose=0)
    metrics = result["metrics"]
    assert metrics["num_train_examples"] == 9 and metrics["num_validation_examples"] == 3
    assert metrics["num_test_examples"] == 3  # the test split's head, in memory
    assert np.isfinite(metrics["test_loss"]) and (tmp_path / "run" / "model.keras").exists()
    assert yaml.safe_load((tmp_path / "run" / "run.json").read_text())["steps_per_epoch"] == 3
    mixture = result["model"].sampler.mixture  # fitted to the codes of the first 5 examples
    codes = np.asarray(result["model"].encode(load(tfds_dir, budget=0.005).head(5).x), np.float64)
    reference = GaussianMixture(**mixture.get_params()).fit(codes)
    np.testing.assert_allclose(mixture.means_, reference.means_, rtol=1e-6)
    assert metrics["sampler_seconds"] > 0
