"""FID, KID and precision/recall against independent references (scipy's sqrtm, numpy
double loops, brute-force nearest neighbours), and the shipped feature networks on real data."""

import os

import keras
import numpy as np
import pytest
import scipy.linalg
import tensorflow as tf

from ae_zoo import data
from ae_zoo.evaluation import feature_networks
from ae_zoo.evaluation.generation import (
    feature_extractor,
    feature_metrics,
    frechet_distance,
    generation_metrics,
    kernel_distance,
    precision_recall,
)


def correlated(n, d, seed, shift=0.0):
    """n draws of one correlated Gaussian in d dimensions (the same for every seed)."""
    mixing = np.random.default_rng(d).normal(size=(d, d)) / np.sqrt(d)
    return np.random.default_rng(seed).normal(size=(n, d)) @ mixing + shift


def test_fid_equals_scipy_sqrtm():
    a, b = correlated(300, 12, 0), correlated(250, 12, 1, shift=0.3)
    covmean = scipy.linalg.sqrtm(np.cov(a, rowvar=False) @ np.cov(b, rowvar=False)).real
    expected = (np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(np.cov(a, rowvar=False))
                + np.trace(np.cov(b, rowvar=False)) - 2 * np.trace(covmean))
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-4)


def test_fid_is_zero_symmetric_permutation_invariant_and_grows_with_a_shift():
    a, b = correlated(200, 8, 2), correlated(180, 8, 3)
    scale = np.trace(np.cov(a, rowvar=False))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9 * scale)
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-9)
    order = np.random.default_rng(0).permutation(len(b))
    assert frechet_distance(a, b[order]) == pytest.approx(frechet_distance(a, b), rel=1e-9)
    direction = np.ones(8) / np.sqrt(8)
    shifted = [frechet_distance(a, a + s * direction) for s in (0.5, 1.0, 2.0)]
    # the covariances agree, so only the mean term remains: |shift|^2
    np.testing.assert_allclose(shifted, [0.25, 1.0, 4.0], rtol=1e-6)


def test_fid_with_fewer_samples_than_features_is_finite():
    a, b = correlated(10, 32, 4), correlated(12, 32, 5)  # singular covariances
    value = frechet_distance(a, b)
    assert np.isfinite(value) and value > 0
    assert value == pytest.approx(frechet_distance(b, a), rel=1e-6)


def mmd2_double_loop(x, y):
    d = x.shape[1]
    k = lambda u, v: (np.dot(u, v) / d + 1.0) ** 3  # noqa: E731
    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_kid_equals_the_unbiased_estimator_as_a_double_loop():
    a, b = correlated(30, 6, 6), correlated(30, 6, 7, shift=0.5)
    whole = kernel_distance(a, b, num_subsets=1, subset_size=30)
    assert whole.value == pytest.approx(mmd2_double_loop(a, b), rel=1e-9)
    assert whole.std == 0.0
    # over subsets: the documented draws (a's rows then b's, without replacement)
    kid = kernel_distance(a, b, num_subsets=4, subset_size=12, seed=3)
    rng = np.random.default_rng(3)
    estimates = []
    for _ in range(4):
        pick_a, pick_b = rng.choice(30, 12, replace=False), rng.choice(30, 12, replace=False)
        estimates.append(mmd2_double_loop(a[pick_a], b[pick_b]))
    assert (kid.num_subsets, kid.subset_size) == (4, 12)
    assert kid.value == pytest.approx(np.mean(estimates), rel=1e-9)
    assert kid.std == pytest.approx(np.std(estimates, ddof=1), rel=1e-9)
    # unbiased: near 0 for two samples of one distribution, clearly positive when shifted
    same = kernel_distance(correlated(400, 6, 8), correlated(400, 6, 9))
    assert abs(same.value) < 3 * same.std
    shifted = kernel_distance(correlated(400, 6, 10), correlated(400, 6, 11, shift=1.0))
    assert shifted.value > 10 * shifted.std


def precision_recall_brute_force(real, fake, k):
    def radii(points):
        return np.array([np.sort([np.linalg.norm(p - q) for q in points])[k] for p in points])

    def inside(manifold, radius, query):
        return np.mean([any(np.linalg.norm(q - p) <= r for p, r in zip(manifold, radius))
                        for q in query])

    return inside(real, radii(real), fake), inside(fake, radii(fake), real)


def test_precision_recall_equal_brute_force_knn():
    real, fake = correlated(70, 5, 10), correlated(60, 5, 11, shift=0.8) * 1.3
    for k in (1, 3, 5):
        expected = precision_recall_brute_force(real, fake, k)
        assert precision_recall(real, fake, k=k) == pytest.approx(expected, abs=1e-12)
    p, r = precision_recall(real, fake)
    assert 0 < p < 1 and 0 < r < 1


def test_precision_recall_of_identical_and_of_far_apart_sets():
    real = correlated(50, 4, 12)
    assert precision_recall(real, real.copy()) == (1.0, 1.0)
    assert precision_recall(real, real + 1000.0) == (0.0, 0.0)


def test_bad_features_are_refused():
    a = correlated(20, 4, 13)
    with pytest.raises(ValueError, match="same feature network"):
        frechet_distance(a, correlated(20, 5, 14))
    with pytest.raises(ValueError, match="2-D"):
        kernel_distance(a[0], a)
    with pytest.raises(ValueError, match="at least 2"):
        frechet_distance(a[:1], a)
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(a, np.full_like(a, np.nan))
    with pytest.raises(ValueError, match="k must be"):
        precision_recall(a, a, k=20)
    with pytest.raises(ValueError, match="subset_size"):
        kernel_distance(a, a, subset_size=21)


def test_generation_metrics_on_a_callable_network():
    rng = np.random.default_rng(15)
    real, fake = rng.uniform(size=(40, 4, 4, 1)), rng.uniform(size=(30, 4, 4, 1)) ** 2
    flat = lambda x: np.asarray(x).reshape(len(x), -1)  # noqa: E731
    result = generation_metrics(real, fake, feature_network=flat, kid_subsets=5)
    expected = feature_metrics(flat(real), flat(fake), kid_subsets=5)
    for key in ("fid", "kid", "kid_std", "precision", "recall"):
        assert result[key] == pytest.approx(expected[key], rel=1e-5, abs=1e-9)
    assert (result["num_real"], result["num_generated"], result["feature_dim"]) == (40, 30, 16)
    assert result["feature_network"]["source"] == "callable"


def test_feature_extractor_resizes_and_repeats_channels():
    inputs = keras.Input((6, 6, 3))
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(inputs))
    network = feature_extractor(model, image_size=(6, 6), preprocess=lambda x: x / 127.5 - 1.0)
    images = np.random.default_rng(16).uniform(size=(5, 3, 3, 1)).astype("float32")
    resized = tf.image.resize(images, (6, 6), method="bilinear").numpy()
    expected = (np.repeat(resized, 3, axis=-1) * 2.0 - 1.0).mean(axis=(1, 2))
    np.testing.assert_allclose(np.asarray(network(images)), expected, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------- the shipped networks
@pytest.fixture(scope="module")
def mnist():
    return data.load("mnist5k", "train"), data.load("mnist5k", "test")


@pytest.mark.parametrize("name,target", [("mnist5k", 0.97), ("dsprites", 0.99)])
def test_the_shipped_classifiers_reach_their_test_accuracy(name, target):
    card = feature_networks.card(name)
    test = data.load(card["dataset"], "test")
    labels = test.y if test.y is not None else test.factors[:, 0]
    classifier = keras.models.load_model(
        os.path.join(feature_networks.HERE, f"{name}.keras"), compile=False)
    accuracy = np.mean(np.argmax(classifier.predict(test.x, batch_size=500, verbose=0), -1) == labels)
    assert accuracy >= target
    assert accuracy == pytest.approx(card["test_accuracy"], abs=2e-3)
    assert card["feature_layer"] == "features" and card["command"].startswith("ae-zoo feature-network")
    assert os.path.getsize(os.path.join(feature_networks.HERE, f"{name}.keras")) < 400_000
    features = feature_networks.load(name).features(test.x[:8])
    assert features.shape == (8, card["feature_dim"])


def test_fid_on_real_data_ranks_train_far_below_noise_and_shuffled_pixels(mnist):
    train, test = mnist
    network = feature_networks.load("mnist5k")
    real = network.features(test.x)
    rng = np.random.default_rng(0)
    noise = rng.uniform(size=test.x.shape).astype("float32")
    shuffled = rng.permuted(test.x.reshape(len(test.x), -1), axis=1).reshape(test.x.shape)
    fid = {what: frechet_distance(real, network.features(x))
           for what, x in (("train", train.x[:1000]), ("noise", noise), ("shuffled", shuffled))}
    assert fid["train"] * 20 < fid["noise"] and fid["train"] * 20 < fid["shuffled"]
    assert precision_recall(real, network.features(train.x[:1000]))[0] > 0.8


def test_which_network_fits_which_dataset():
    assert feature_networks.for_dataset("mnist") == "mnist5k"
    assert feature_networks.for_dataset("dsprites") == "dsprites"
    with pytest.raises(ValueError, match="InceptionV3"):
        feature_networks.for_dataset("cifar10")
    with pytest.raises(ValueError, match="takes \\(28, 28, 1\\)"):
        generation_metrics(np.zeros((4, 8, 8, 1)), np.zeros((4, 8, 8, 1)), "mnist5k")
    with pytest.raises(ValueError, match="shipped"):
        feature_networks.load("nope")
