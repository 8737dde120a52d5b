"""Latent-space tools against numpy references on tiny models and 8x8 digits."""

import keras
import numpy as np
import pytest
import tensorflow_probability as tfp

import ae_zoo.data as data
import ae_zoo.models as models
from ae_zoo.evaluation import (
    interpolate,
    latent_codes,
    latent_path,
    latent_stats,
    traversal_grid_images,
    traverse,
)

SHAPE = (8, 8, 1)


def tiny(name, latent_dim=3, **kwargs):
    keras.utils.set_random_seed(0)
    options = {"filters": (4, 8)} if name == "conv_ae" else {"hidden_units": (16,)}
    return models.create(name, latent_dim=latent_dim, input_shape=SHAPE, seed=0, **options, **kwargs)


@pytest.fixture(scope="module")
def digits():
    return data.load("digits", "test")


@pytest.fixture(scope="module")
def x(digits):
    return digits.x[:120]


@pytest.fixture(scope="module")
def vae():
    return tiny("vae")  # untrained: every check here is exact whatever the weights


@pytest.fixture(scope="module")
def ae():
    return tiny("ae")


def np_code(model, x):
    return np.asarray(model.encode(np.asarray(x)[None] if np.ndim(x) == 3 else x), np.float64)


def np_decode(model, z):
    return np.asarray(model.decode(np.asarray(z, "float32")))


def np_slerp(a, b, t):
    omega = np.arccos(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


# ------------------------------------------------------------------ interpolation
def test_linear_interpolation_codes_and_endpoints(vae, x):
    images, codes = interpolate(vae, x[0], x[1], steps=6, return_codes=True)
    assert images.shape == (6, *SHAPE) and codes.shape == (6, 3)
    za, zb = np_code(vae, x[0])[0], np_code(vae, x[1])[0]
    t = np.linspace(0, 1, 6)[:, None]
    np.testing.assert_allclose(codes, (1 - t) * za + t * zb, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(images[0], np_decode(vae, za[None])[0], atol=1e-6)
    np.testing.assert_allclose(images[-1], np_decode(vae, zb[None])[0], atol=1e-6)
    np.testing.assert_allclose(images, np_decode(vae, codes), atol=1e-6)
    assert not np.allclose(images[0], images[-1])


def test_slerp_codes_match_formula_for_pairs(ae, x):
    images, codes = interpolate(ae, x[:3], x[3:6], steps=5, method="slerp", return_codes=True)
    assert images.shape == (3, 5, *SHAPE) and codes.shape == (3, 5, 3)
    za, zb = np_code(ae, x[:3]), np_code(ae, x[3:6])
    for i in range(3):
        expected = np.stack([np_slerp(za[i], zb[i], t) for t in np.linspace(0, 1, 5)])
        np.testing.assert_allclose(codes[i], expected, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(images[i], np_decode(ae, codes[i]), atol=1e-6)
    np.testing.assert_allclose(images[:, 0], np_decode(ae, za), atol=1e-6)
    np.testing.assert_allclose(images[:, -1], np_decode(ae, zb), atol=1e-6)


def test_slerp_keeps_the_norm_of_equal_norm_endpoints_and_the_angle_linear_in_t():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=5), rng.normal(size=5)
    b *= np.linalg.norm(a) / np.linalg.norm(b)
    t = np.linspace(0, 1, 9)
    path = latent_path(a, b, steps=9, method="slerp")
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), np.linalg.norm(a), rtol=1e-10)
    omega = np.arccos(a @ b / (np.linalg.norm(a) ** 2))
    angles = np.arccos(np.clip(path @ a / np.linalg.norm(a) ** 2, -1, 1))
    np.testing.assert_allclose(angles, t * omega, atol=1e-6)
    linear = latent_path(a, b, steps=9)
    assert np.linalg.norm(linear[4]) < np.linalg.norm(a) - 1e-3  # the chord cuts inside


def test_slerp_falls_back_to_linear_for_parallel_or_zero_codes():
    a = np.array([1.0, -2.0, 0.5])
    for b in (3.0 * a, np.zeros(3), a.copy()):
        slerp = latent_path(a, b, steps=4, method="slerp")
        assert np.all(np.isfinite(slerp))
        np.testing.assert_allclose(slerp, latent_path(a, b, steps=4), atol=1e-12)


def test_interpolation_rejects_bad_arguments(vae, x):
    with pytest.raises(ValueError, match="method"):
        interpolate(vae, x[0], x[1], method="cubic")
    with pytest.raises(ValueError, match="steps"):
        interpolate(vae, x[0], x[1], steps=1)
    with pytest.raises(ValueError, match="same shape"):
        interpolate(vae, x[:2], x[2:5])
    with pytest.raises(ValueError, match="image shape"):
        interpolate(vae, np.zeros((2, 9, 9, 1)), np.zeros((2, 9, 9, 1)))


# ---------------------------------------------------------------------- traversal
@pytest.mark.parametrize("which", ["vae", "ae"])
def test_traverse_changes_only_the_chosen_dimension(which, vae, ae, x):
    model = {"vae": vae, "ae": ae}[which]
    values = np.array([-2.0, -0.5, 0.0, 1.5])
    images, codes = traverse(model, x[:3], dim=1, values=values, return_codes=True)
    assert images.shape == (3, 4, *SHAPE) and codes.shape == (3, 4, 3)
    z = np_code(model, x[:3])
    for i in range(3):
        np.testing.assert_allclose(codes[i, :, 1], values)
        np.testing.assert_allclose(codes[i][:, [0, 2]], np.repeat(z[i, [0, 2]][None], 4, 0), atol=1e-6)
        np.testing.assert_allclose(images[i], np_decode(model, codes[i]), atol=1e-6)
    single, single_codes = traverse(model, x[0], dim=1, values=values, return_codes=True)
    assert single.shape == (4, *SHAPE)
    np.testing.assert_allclose(single_codes, codes[0], atol=1e-6)


def test_traversal_grid_rows_vary_their_own_dimension(vae, x):
    values = np.linspace(-1, 1, 5)
    images, codes = traversal_grid_images(vae, x[7], dims=[2, 0], values=values, return_codes=True)
    assert images.shape == (2, 5, *SHAPE)
    z = np_code(vae, x[7])[0]
    for row, dim in enumerate([2, 0]):
        np.testing.assert_allclose(codes[row][:, dim], values)
        others = [d for d in range(3) if d != dim]
        np.testing.assert_allclose(codes[row][:, others], np.repeat(z[None, others], 5, 0), atol=1e-6)
        np.testing.assert_allclose(images[row], np_decode(vae, codes[row]), atol=1e-6)
    all_dims, all_codes = traversal_grid_images(vae, x[7], return_codes=True)  # VAE default values
    assert all_dims.shape == (3, 9, *SHAPE)
    np.testing.assert_allclose(all_codes[1][:, 1], np.linspace(-3, 3, 9))


def test_traversal_errors(ae, x):
    with pytest.raises(ValueError, match="no N\\(0, I\\) prior"):
        traversal_grid_images(ae, x[0])
    with pytest.raises(ValueError, match="out of range"):
        traverse(ae, x[0], dim=3, values=[0.0])
    with pytest.raises(ValueError, match="values"):
        traverse(ae, x[0], dim=0, values=[])


# --------------------------------------------------------------------- statistics
def test_latent_stats_of_an_autoencoder_match_numpy(ae, x):
    stats = latent_stats(ae, x, batch_size=7)
    codes = np.asarray(ae.encode(x), np.float64)
    np.testing.assert_allclose(stats["min"], codes.min(0), atol=1e-6)
    np.testing.assert_allclose(stats["max"], codes.max(0), atol=1e-6)
    np.testing.assert_allclose(stats["mean"], codes.mean(0), atol=1e-6)
    np.testing.assert_allclose(stats["std"], codes.std(0), atol=1e-6)
    np.testing.assert_allclose(stats["value_range"], (codes.min(), codes.max()), atol=1e-6)
    np.testing.assert_allclose(stats["percentile_range"], np.percentile(codes, [1, 99]), atol=1e-5)
    np.testing.assert_allclose(stats["quantiles"], np.percentile(codes, [1, 25, 50, 75, 99], axis=0), atol=1e-5)
    assert stats["kl_per_dim"] is None
    assert stats["num_examples"] == len(x) and stats["latent_dim"] == 3


def test_latent_stats_of_a_vae_use_posterior_means_and_kl_sums_to_mean_kl(vae, x):
    stats = latent_stats(vae, x, batch_size=50)
    mean, scale = (np.asarray(a, np.float64) for a in vae.encode(x, return_distribution=True))
    np.testing.assert_allclose(stats["mean"], mean.mean(0), atol=1e-6)
    np.testing.assert_allclose(stats["std"], mean.std(0), atol=1e-6)
    np.testing.assert_allclose(stats["min"], mean.min(0), atol=1e-6)
    kl_ref = np.mean(np.log(1 / scale) + (scale**2 + mean**2) / 2 - 0.5, axis=0)
    np.testing.assert_allclose(stats["kl_per_dim"], kl_ref, rtol=1e-5, atol=1e-6)
    total = tfp.distributions.kl_divergence(vae.posterior(x), vae.prior()).numpy().mean()
    np.testing.assert_allclose(stats["kl_per_dim"].sum(), total, rtol=1e-4)
    np.testing.assert_allclose(stats["kl_per_dim"], vae.kl_per_dim(x), rtol=1e-4, atol=1e-6)
    again, codes = latent_stats(vae, x, batch_size=50, return_codes=True)
    np.testing.assert_allclose(codes, mean, atol=1e-6)  # the posterior means, (N, D)
    np.testing.assert_array_equal(again["kl_per_dim"], stats["kl_per_dim"])


def test_active_units_follow_the_covariance_of_the_posterior_mean(vae, x):
    codes = np.asarray(vae.encode(x), np.float64)
    activity = np.diag(np.cov(codes, rowvar=False, bias=True))
    stats = latent_stats(vae, x)
    np.testing.assert_allclose(stats["activity"], activity, rtol=1e-5, atol=1e-9)
    np.testing.assert_array_equal(stats["active_mask"], activity > 0.01)
    threshold = float(np.median(activity))  # one dimension on each side
    stats = latent_stats(vae, x, active_threshold=threshold)
    np.testing.assert_array_equal(stats["active_mask"], activity > threshold)
    assert stats["active_units"] == int(np.sum(activity > threshold)) == 1
    constant = latent_stats(vae, np.repeat(x[:1], 10, axis=0))
    assert constant["active_units"] == 0


# ------------------------------------------------------------ every model, labels
@pytest.mark.parametrize("name", models.names())
def test_every_registered_model(name, digits):
    model = tiny(name, latent_dim=4)  # 4: a VQ-VAE's two 2-d codewords
    x, y = digits.x[:20], digits.y[:20]
    labels = y if model.conditional else None
    stats = latent_stats(model, x, labels=labels)
    codes = latent_codes(model, x, labels=labels)
    assert codes.shape == (20, 4)
    np.testing.assert_allclose(stats["mean"], codes.mean(0), atol=1e-6)
    assert (stats["kl_per_dim"] is None) == (model.posterior_type != "gaussian"
                                             or model.prior_type != "standard_normal")
    one = None if labels is None else labels[:2]
    images = interpolate(model, x[:2], x[2:4], steps=3, method="slerp", labels=one)
    assert images.shape == (2, 3, *SHAPE) and np.all(np.isfinite(images))
    images, tcodes = traverse(model, x[:2], 2, [0.0, 0.5], labels=one, return_codes=True)
    np.testing.assert_allclose(tcodes[..., :2], np.repeat(codes[:2, None, :2], 2, 1), atol=1e-6)


def test_conditional_vae_encodes_and_decodes_under_labels(digits):
    cvae = tiny("cvae")
    x, y = digits.x[:4], digits.y[:4]
    with pytest.raises(ValueError, match="labels"):
        interpolate(cvae, x[0], x[1])
    with pytest.raises(ValueError, match="labels"):
        latent_stats(cvae, x)
    images, codes = interpolate(cvae, x[0], x[1], steps=4, labels=5, return_codes=True)
    za = np.asarray(cvae.encode(x[:1], labels=[5]))[0]
    np.testing.assert_allclose(codes[0], za, atol=1e-6)
    np.testing.assert_allclose(images, np.asarray(cvae.decode(codes, labels=[5] * 4)), atol=1e-6)
    other = interpolate(cvae, x[0], x[1], steps=4, labels=6)
    assert not np.allclose(images, other)  # the label changes what is decoded
    stats = latent_stats(cvae, x, labels=y)
    np.testing.assert_allclose(stats["kl_per_dim"], cvae.kl_per_dim(x, labels=y), rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        latent_stats(cvae, x, labels=[0, 1, 2, 10])


def test_labels_are_refused_by_unconditional_models(ae, x):
    with pytest.raises(ValueError, match="only applies to a conditional model"):
        latent_stats(ae, x, labels=np.zeros(len(x), int))
