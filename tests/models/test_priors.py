"""vamp and mog_vae: their learned mixture priors against numpy.

log p(z) is checked against numpy's logsumexp over the components (for the VampPrior, the
encoder's posteriors at the pseudo-inputs, read off the network); the KL against numpy's
log q(z|x) - log p(z) at the training draw; the prior draws against the mixture's
component frequencies and moments, and against their seeds.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import stats
from scipy.special import log_softmax, logsumexp, softmax

from ae_zoo.models import MixtureOfGaussiansVAE, VampPriorVAE
from tests import battery
from tests.models.test_vae import SHAPE, prototype_images, raw_posterior


class ConditionalVamp(VampPriorVAE):
    """The VampPrior under labels: p(z|y) = (1/K) sum_k q(z|u_k, y)."""

    conditional = True
    num_classes = 3


def make(cls, **kwargs):
    keras.utils.set_random_seed(0)
    return cls(latent_dim=2, input_shape=SHAPE, hidden_units=(16,), seed=0, **kwargs)


def np_mixture_log_prob(z, log_weights, loc, scale):
    """log sum_k w_k N(z; loc_k, diag scale_k^2) for z (..., D), components (K, D)."""
    standardized = (z[..., None, :] - loc) / scale  # (..., K, D)
    per_component = -0.5 * np.sum(standardized ** 2 + np.log(2 * np.pi * scale ** 2), axis=-1)
    return logsumexp(per_component + log_weights, axis=-1)


def vamp_components(model, labels=None):
    """(loc, scale) of q(z|u_k) from the encoder at the pseudo-inputs, in numpy."""
    u = 1.0 / (1.0 + np.exp(-np.asarray(model.pseudo_input_logits, np.float64)))
    if labels is None:
        mu, log_var = raw_posterior(model, u.astype("float32"))
    else:
        one_hot = np.eye(model.num_classes, dtype="float32")[np.full(len(u), labels)]
        out = np.asarray(model.encoder([u.astype("float32"), one_hot]), np.float64)
        mu, log_var = out[:, :2], out[:, 2:]
    return mu, np.exp(0.5 * log_var)


def mog_components(model):
    logits = np.asarray(model.mixture_logits, np.float64)
    raw = np.asarray(model.component_raw_scales, np.float64)
    return log_softmax(logits), np.asarray(model.component_means, np.float64), np.logaddexp(0, raw) + 1e-5


def randomize_mog(model, seed=0, spread=1.0):
    rng = np.random.default_rng(seed)
    k = model.num_components
    model.mixture_logits.assign(rng.normal(0, 1, k).astype("float32"))
    model.component_means.assign(rng.normal(0, spread, (k, 2)).astype("float32"))
    model.component_raw_scales.assign(rng.normal(-1, 0.5, (k, 2)).astype("float32"))
    return model


def test_vamp_log_prior_is_the_mean_of_the_encoded_pseudo_inputs():
    model = make(VampPriorVAE, num_pseudo_inputs=7)
    loc, scale = vamp_components(model)
    assert loc.shape == (7, 2)
    z = np.random.default_rng(0).normal(size=(5, 4, 2)).astype("float32")
    expected = np_mixture_log_prob(z.astype(np.float64), -np.log(7), loc, scale)
    np.testing.assert_allclose(model.prior().log_prob(z).numpy(), expected, rtol=1e-5, atol=1e-5)


def test_conditional_vamp_prior_encodes_the_pseudo_inputs_under_each_label():
    model = make(ConditionalVamp, num_pseudo_inputs=5)
    labels = np.array([0, 2, 1, 2])
    z = np.random.default_rng(1).normal(size=(6, 4, 2)).astype("float32")
    got = model.prior(model.condition(labels)).log_prob(z).numpy()
    for b, y in enumerate(labels):
        loc, scale = vamp_components(model, labels=y)
        expected = np_mixture_log_prob(z[:, b].astype(np.float64), -np.log(5), loc, scale)
        np.testing.assert_allclose(got[:, b], expected, rtol=1e-5, atol=1e-5)
    assert not np.allclose(got[:, 1], model.prior(model.condition([0] * 4)).log_prob(z).numpy()[:, 1])


def test_mixture_log_prior_is_numpy_logsumexp():
    model = randomize_mog(make(MixtureOfGaussiansVAE, num_components=6))
    z = np.random.default_rng(2).normal(size=(3, 5, 2)).astype("float32")
    expected = np_mixture_log_prob(z.astype(np.float64), *mog_components(model))
    np.testing.assert_allclose(model.prior().log_prob(z).numpy(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cls", [VampPriorVAE, MixtureOfGaussiansVAE])
def test_kl_is_the_monte_carlo_estimate_at_the_draw(cls):
    model = make(cls)
    if cls is MixtureOfGaussiansVAE:
        randomize_mog(model)
    x = prototype_images(8, seed=3)
    terms = model.elbo_terms(tf.constant(x))
    z = terms["z"].numpy().astype(np.float64)
    mu, log_var = raw_posterior(model, x)
    log_q = stats.norm.logpdf(z, mu, np.exp(0.5 * log_var)).sum(-1)
    if cls is VampPriorVAE:
        log_p = np_mixture_log_prob(z, -np.log(model.num_pseudo_inputs), *vamp_components(model))
    else:
        log_p = np_mixture_log_prob(z, *mog_components(model))
    assert float(terms["kl"]) == pytest.approx(np.mean(log_q - log_p), rel=1e-4, abs=1e-4)


def test_mixture_draws_pick_components_by_weight_and_depend_on_their_seed_only():
    model = randomize_mog(make(MixtureOfGaussiansVAE, num_components=3))
    model.component_means.assign(np.array([[-20, 0], [0, 20], [20, 0]], "float32"))
    log_w, loc, scale = mog_components(model)
    n = 3000
    z = np.asarray(model.sample_codes(np.arange(n) + 100), np.float64)
    assert z.shape == (n, 2)
    component = np.argmin(((z[:, None, :] - loc) ** 2).sum(-1), axis=1)
    weights = softmax(log_w)
    counts = np.bincount(component, minlength=3)
    assert stats.chisquare(counts, weights * n).pvalue > 1e-3, (counts, weights * n)
    for k in range(3):  # each component's draws are its Gaussian
        rows = z[component == k]
        err = scale[k] / np.sqrt(len(rows))
        assert np.all(np.abs(rows.mean(0) - loc[k]) < 5 * err)
        assert np.all(np.abs(rows.std(0) / scale[k] - 1) < 5 / np.sqrt(2 * len(rows)))
    again = np.asarray(model.sample_codes(tf.constant([105, 104], tf.int64)))
    np.testing.assert_array_equal(again, z[[5, 4]].astype("float32"))
    big = np.asarray(model.sample_codes(tf.constant([2**62 + 7], tf.int64)))  # int64 seeds
    assert np.all(np.isfinite(big))


@pytest.mark.parametrize("labels", [None, 1])
def test_vamp_draws_have_the_mixture_moments(labels):
    model = make(VampPriorVAE if labels is None else ConditionalVamp, num_pseudo_inputs=4)
    n = 4000
    z = np.asarray(model.sample_codes(np.arange(n), labels=None if labels is None else [labels] * n),
                   np.float64)
    loc, scale = vamp_components(model, labels=labels)
    mean = loc.mean(0)
    second = np.mean(scale ** 2 + loc ** 2, axis=0)
    std = np.sqrt(second - mean ** 2)
    assert np.all(np.abs(z.mean(0) - mean) < 5 * std / np.sqrt(n))
    assert np.all(np.abs(z.std(0) / std - 1) < 0.08)


@pytest.mark.parametrize("cls", [VampPriorVAE, MixtureOfGaussiansVAE])
def test_training_moves_the_prior(cls):
    model = make(cls)
    before = [np.asarray(w).copy() for w in model.weights if "pseudo" in w.path or "component" in w.path]
    model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=False)
    model.fit(prototype_images(32), epochs=2, batch_size=16, verbose=0)
    after = [np.asarray(w) for w in model.weights if "pseudo" in w.path or "component" in w.path]
    assert before and all(not np.allclose(a, b) for a, b in zip(before, after))


def test_prior_is_learned_and_its_kl_does_not_split_over_dimensions():
    model = make(MixtureOfGaussiansVAE)
    assert model.prior_type == "learned" and model.posterior_type == "gaussian"
    with pytest.raises(TypeError, match="mixture"):
        model.kl_per_dim(prototype_images(4))
    for cls, key in ((VampPriorVAE, "num_pseudo_inputs"), (MixtureOfGaussiansVAE, "num_components")):
        with pytest.raises(ValueError, match=key):
            make(cls, **{key: 0})
        assert make(cls, **{key: 3}).get_config()[key] == 3


def test_vamp_pseudo_inputs_are_made_when_the_model_is_built():
    model = VampPriorVAE(latent_dim=2, hidden_units=(8,), num_pseudo_inputs=3)
    assert model.pseudo_input_logits is None
    model.compile(jit_compile=False)
    model.fit(prototype_images(16), epochs=1, batch_size=8, verbose=0)
    assert tuple(model.pseudo_input_logits.shape) == (3, *SHAPE)
    assert np.all((np.asarray(model.pseudo_inputs) > 0) & (np.asarray(model.pseudo_inputs) < 1))


def test_conditional_vamp_exports_a_stateless_generate_signature(tmp_path):
    """The shared battery's export check on the VampPrior under labels: ``generate`` draws
    from p(z|y) in the graph exactly as ``sample(labels=...)`` does."""
    model = ConditionalVamp(latent_dim=2, input_shape=battery.SHAPE, hidden_units=(16,),
                            num_pseudo_inputs=4, seed=0)
    battery.check_export(model, tmp_path)
