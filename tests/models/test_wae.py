"""WAE-MMD and InfoVAE: the unbiased MMD against a numpy double loop, and how each
objective weighs its terms."""

import numpy as np
import pytest
import tensorflow as tf

from ae_zoo import models
from ae_zoo.models import kernel_matrix, mmd_unbiased


def np_kernel(u, v, kernel, scale):
    c = 2.0 * len(u) * scale
    squared = float(np.sum((u - v) ** 2))
    return np.exp(-squared / c) if kernel == "rbf" else c / (c + squared)


def np_mmd_unbiased(a, b, kernel, scale):
    """MMD^2_u by its definition (Gretton et al. 2012, eq. 3), one pair at a time."""
    n, m = len(a), len(b)
    aa = sum(np_kernel(a[i], a[j], kernel, scale) for i in range(n) for j in range(n) if i != j)
    bb = sum(np_kernel(b[i], b[j], kernel, scale) for i in range(m) for j in range(m) if i != j)
    ab = sum(np_kernel(a[i], b[j], kernel, scale) for i in range(n) for j in range(m))
    return aa / (n * (n - 1)) + bb / (m * (m - 1)) - 2.0 * ab / (n * m)


@pytest.mark.parametrize("kernel", ["rbf", "imq"])
@pytest.mark.parametrize("scale", [1.0, 0.3])
def test_mmd_equals_a_numpy_double_loop(kernel, scale):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(7, 3))
    b = rng.normal(loc=0.5, scale=1.5, size=(5, 3))
    got = float(mmd_unbiased(tf.constant(a, tf.float32), tf.constant(b, tf.float32), kernel, scale))
    assert got == pytest.approx(np_mmd_unbiased(a, b, kernel, scale), rel=1e-4, abs=1e-6)
    matrix = np.asarray(kernel_matrix(tf.constant(a, tf.float32), tf.constant(b, tf.float32),
                                      kernel, scale))
    np.testing.assert_allclose(matrix, [[np_kernel(u, v, kernel, scale) for v in b] for u in a],
                               rtol=1e-5)


def test_unbiased_mmd_is_centred_on_zero_for_one_distribution():
    """E[MMD^2_u] = 0 when both samples come from one distribution (the biased estimate
    is positive), and it grows with the distance between them."""
    rng = np.random.default_rng(1)
    same = [float(mmd_unbiased(rng.normal(size=(32, 2)).astype("float32"),
                               rng.normal(size=(32, 2)).astype("float32"))) for _ in range(200)]
    shifted = float(mmd_unbiased(rng.normal(size=(32, 2)).astype("float32"),
                                 rng.normal(loc=2.0, size=(32, 2)).astype("float32")))
    assert abs(np.mean(same)) < 3 * np.std(same) / np.sqrt(len(same))
    assert shifted > np.max(same)


def _terms(name, **kwargs):
    model = models.create(name, latent_dim=2, input_shape=(8, 8, 1), hidden_units=(16,), seed=0,
                          **kwargs)
    x = np.random.default_rng(0).uniform(size=(16, 8, 8, 1)).astype("float32")
    return {k: float(v) for k, v in model.terms(tf.constant(x), training=True).items()}


def test_wae_minimizes_reconstruction_plus_weighted_mmd():
    t = _terms("wae_mmd", mmd_weight=3.0, kernel="rbf")
    assert t["loss"] == pytest.approx(t["reconstruction_loss"] + 3.0 * t["mmd"], rel=1e-6)


@pytest.mark.parametrize("alpha, lam", [(0.0, 1000.0), (1.0, 5.0), (-1.0, 3.0)])
def test_info_vae_weighs_kl_by_one_minus_alpha_and_mmd_by_alpha_plus_lambda_minus_one(alpha, lam):
    t = _terms("info_vae", alpha=alpha, lambda_=lam)
    expected = t["reconstruction_loss"] + (1 - alpha) * t["kl"] + (alpha + lam - 1) * t["mmd"]
    assert t["loss"] == pytest.approx(expected, rel=1e-5)
    assert t["elbo"] == pytest.approx(-(t["reconstruction_loss"] + t["kl"]), rel=1e-6)


def test_bad_arguments_are_named():
    common = dict(latent_dim=2, input_shape=(8, 8, 1))
    with pytest.raises(ValueError, match="kernel"):
        models.create("wae_mmd", kernel="laplace", **common)
    with pytest.raises(ValueError, match="kernel_scale"):
        models.create("wae_mmd", kernel_scale=0.0, **common)
    with pytest.raises(ValueError, match="alpha"):
        models.create("info_vae", alpha=1.5, **common)
    with pytest.raises(ValueError, match="lambda_"):
        models.create("info_vae", alpha=0.0, lambda_=0.5, **common)
    with pytest.raises(TypeError, match="beta"):
        models.create("info_vae", beta=2.0, **common)
