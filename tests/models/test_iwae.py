"""IWAE, MIWAE, PIWAE and CIWAE against independent references.

The ELBO and log p(x) come from brute-force quadrature on a grid of the 2-d latent and
numpy's closed-form KL (as in test_vae); the bounds' groupings from numpy's logsumexp on
the same log weights; the equalities between models (MIWAE with M = 1 and the IWAE,
CIWAE's endpoints and the VAE / IWAE, PIWAE's two gradients and the MIWAE / IWAE ones)
from the other models on the same weights and the same noise.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy.special import logsumexp

from ae_zoo.models import CIWAE, IWAE, MIWAE, PIWAE, VAE
from tests.models.test_vae import (
    SHAPE,
    grid_quadrature,
    np_kl_per_dim,
    prototype_images,
    raw_posterior,
)


def make(cls, seed=3, **kwargs):
    keras.utils.set_random_seed(seed)
    return cls(latent_dim=2, input_shape=SHAPE, hidden_units=(32,), seed=seed, **kwargs)


def like(cls, source, **kwargs):
    """A ``cls`` model with ``source``'s networks (its own ``beta``) and a fresh seed
    generator of the same seed: models made alike draw the same noise."""
    model = make(cls, seed=source.seed, **kwargs)
    model.encoder.set_weights(source.encoder.get_weights())
    model.decoder.set_weights(source.decoder.get_weights())
    return model


@pytest.fixture(scope="module")
def x_val():
    return prototype_images(8, seed=1)


@pytest.fixture(scope="module")
def fitted():
    """An IWAE (K = 5) fit briefly, XLA off, so that its posterior is not the prior."""
    model = make(IWAE, num_samples=5)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=False)
    model.fit(prototype_images(96, seed=0), epochs=8, batch_size=32, verbose=0)
    return model


def reference(model, x):
    """(log p(x) by quadrature, ELBO = E_q[log p(x|z)] by quadrature - numpy KL), per example."""
    mu, log_var = raw_posterior(model, x)
    log_px, expected = grid_quadrature(model.decoder, x, mu, log_var)
    return log_px, expected - np_kl_per_dim(mu, log_var).sum(axis=1)


def per_example_bounds(model, x, reps):
    """``reps`` draws of the model's IWAE bound per example of ``x``: (reps, len(x))."""
    tiled = tf.constant(np.tile(x, (reps, 1, 1, 1)))
    log_w = model.importance_terms(tiled)["log_w"].numpy().astype(np.float64)
    bound = logsumexp(log_w, axis=0) - np.log(len(log_w))
    return bound.reshape(reps, len(x))


def test_iwae_with_one_sample_is_the_elbo_in_expectation(fitted, x_val):
    _, elbo = reference(fitted, x_val)
    model = like(IWAE, fitted, num_samples=1)
    draws = per_example_bounds(model, x_val, reps=300)
    diff = draws - elbo
    assert abs(diff.mean()) < 5 * diff.std() / np.sqrt(diff.size), diff.mean()
    assert np.all(np.abs(diff.mean(0)) < 5 * diff.std(0) / np.sqrt(len(diff)))
    # The tracked bound is the batch mean of the same quantity.
    model = like(IWAE, fitted, num_samples=1)
    tiled = tf.constant(np.tile(x_val, (300, 1, 1, 1)))
    np.testing.assert_allclose(float(model.objective(tiled)["iwae_bound"]), draws.mean(), rtol=1e-5)


def test_the_bound_grows_with_k_on_average_towards_log_px(fitted, x_val):
    log_px, elbo = reference(fitted, x_val)
    assert np.mean(log_px - elbo) > 0.05  # the posterior is not exact, so K matters
    means, errs = {}, {}
    for k in (1, 2, 5, 20):
        gap = per_example_bounds(like(IWAE, fitted, num_samples=k), x_val, reps=100) - log_px
        means[k], errs[k] = gap.mean(), gap.std() / np.sqrt(gap.size)
    for small, large in ((1, 2), (2, 5), (5, 20)):
        assert means[small] <= means[large] + 3 * np.hypot(errs[small], errs[large]), means
    assert means[20] - means[1] > 5 * np.hypot(errs[1], errs[20]), means
    assert all(means[k] <= 3 * errs[k] for k in means), means  # never above log p(x)


def test_miwae_with_one_group_is_the_iwae(fitted, x_val):
    x = tf.constant(x_val)
    iwae = like(IWAE, fitted, num_samples=5).objective(x)
    miwae = like(MIWAE, fitted, num_groups=1, num_samples=5).objective(x)
    for key, value in iwae.items():
        np.testing.assert_allclose(float(miwae[key]), float(value), rtol=1e-6, err_msg=key)
    np.testing.assert_allclose(float(miwae["miwae_bound"]), float(iwae["iwae_bound"]), rtol=1e-6)


def test_miwae_groups_its_draws_as_numpy_does(fitted, x_val):
    model = like(MIWAE, fitted, num_groups=3, num_samples=4)
    state = np.asarray(model.seed_generator.state)
    log_w = model.importance_terms(tf.constant(x_val))["log_w"].numpy().astype(np.float64)
    model.seed_generator.state.assign(state)  # the objective draws the same noise
    terms = model.objective(tf.constant(x_val))
    assert log_w.shape == (12, len(x_val))
    groups = log_w.reshape(3, 4, -1)
    miwae = np.mean(logsumexp(groups, axis=1) - np.log(4))
    iwae = np.mean(logsumexp(log_w, axis=0) - np.log(12))
    np.testing.assert_allclose(float(terms["miwae_bound"]), miwae, rtol=1e-5)
    np.testing.assert_allclose(float(terms["iwae_bound"]), iwae, rtol=1e-5)
    assert float(terms["loss"]) == pytest.approx(-miwae, rel=1e-5)
    assert miwae <= iwae  # Jensen: the groups' bound is the looser one


def test_piwae_steps_the_encoder_as_miwae_and_the_decoder_as_iwae(fitted, x_val):
    """One SGD step (w - lr * grad) from the same weights and noise: PIWAE's encoder moves
    as MIWAE(M, K)'s, its decoder as IWAE(M * K)'s."""
    stepped = {}
    for name, cls, kwargs in (("piwae", PIWAE, dict(num_groups=2, num_samples=3)),
                              ("miwae", MIWAE, dict(num_groups=2, num_samples=3)),
                              ("iwae", IWAE, dict(num_samples=6))):
        model = like(cls, fitted, **kwargs)
        model.compile(optimizer=keras.optimizers.SGD(0.05), jit_compile=False)
        model.fit(x_val, epochs=1, batch_size=len(x_val), shuffle=False, verbose=0)
        stepped[name] = model
    for net, reference_model in (("encoder", "miwae"), ("decoder", "iwae")):
        got = getattr(stepped["piwae"], net).get_weights()
        expected = getattr(stepped[reference_model], net).get_weights()
        for a, b in zip(got, expected, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    moved = [np.abs(a - b).max() for a, b in zip(stepped["piwae"].encoder.get_weights(),
                                                 stepped["iwae"].encoder.get_weights())]
    assert max(moved) > 1e-4  # the two bounds give the encoder different gradients


def test_ciwae_endpoints_are_the_vae_and_the_iwae(fitted, x_val):
    x = tf.constant(x_val)
    vae = like(VAE, fitted).objective(x)
    ciwae = like(CIWAE, fitted, beta=1.0, num_samples=1).objective(x)
    for key in ("loss", "reconstruction_loss", "kl", "elbo"):
        np.testing.assert_allclose(float(ciwae[key]), float(vae[key]), rtol=1e-5, err_msg=key)
    iwae = like(IWAE, fitted, num_samples=5).objective(x)
    ciwae = like(CIWAE, fitted, beta=0.0, num_samples=5).objective(x)
    for key, value in iwae.items():
        np.testing.assert_allclose(float(ciwae[key]), float(value), rtol=1e-5, err_msg=key)
    mixed = like(CIWAE, fitted, beta=0.25, num_samples=5).objective(x)
    expected = -(0.25 * float(mixed["elbo"]) + 0.75 * float(mixed["iwae_bound"]))
    assert float(mixed["loss"]) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("make_model,error,match", [
    (lambda: make(IWAE, num_samples=0), ValueError, "num_samples"),
    (lambda: make(IWAE, beta=2.0), TypeError, "beta"),
    (lambda: make(MIWAE, num_groups=1.5), ValueError, "num_groups"),
    (lambda: make(CIWAE, beta=1.5), ValueError, "beta"),
])
def test_bad_arguments_are_errors_naming_them(make_model, error, match):
    with pytest.raises(error, match=match):
        make_model()


def test_config_round_trips_the_bounds_settings():
    model = make(PIWAE, num_groups=3, num_samples=2)
    config = model.get_config()
    assert (config["num_groups"], config["num_samples"]) == (3, 2) and "beta" not in config
    again = PIWAE.from_config(config)
    assert (again.num_groups, again.num_samples) == (3, 2)
    assert make(CIWAE, beta=0.3).get_config()["beta"] == 0.3
