"""vae_iaf and vae_nf: their flows and posterior densities against autodiff and numpy.

The log-determinant of each whole (amortized) flow equals log |det J| of the Jacobian from
``tf.GradientTape.batch_jacobian``; log q(z_T|x) equals numpy's log q_0(z_0|x) minus that;
the flows invert (the IAF through TFP's sequential ``MaskedAutoregressiveFlow.forward``);
and q(z|x), evaluated through the inverse on a grid of the 2-d latent, integrates to 1.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from scipy import stats

from ae_zoo.models import VAEIAF, VAENF
from tests.models.test_vae import SHAPE, prototype_images

tfb = tfp.bijectors


def make(cls, latent_dim=3, spread=0.6, **kwargs):
    """A tiny model whose flow layers have random weights of std ``spread``."""
    keras.utils.set_random_seed(0)
    model = cls(latent_dim=latent_dim, input_shape=SHAPE, hidden_units=(16,), seed=0, **kwargs)
    rng = np.random.default_rng(0)
    for layer in getattr(model, "mades", []) + getattr(model, "flow_parameters", []):
        for weight in layer.weights:  # IAF steps start as the identity: make them bend
            weight.assign(rng.normal(0.0, spread, weight.shape).astype("float32"))
    return model


MODELS = {
    "vae_iaf": lambda d=3: make(VAEIAF, d, spread=0.25, num_flows=3, made_units=(16, 16)),
    "vae_nf": lambda d=3: make(VAENF, d, flows=["planar", "radial", "planar", "radial"]),
}


def context_and_noise(d, batch=16, seed=1):
    """Posterior parameters, noise, and what they give: ``(mean, log_var, eps, context,
    z_0 = mean + sigma * eps)``."""
    rng = np.random.default_rng(seed)
    mean = rng.normal(size=(batch, d)).astype("float32")
    log_var = rng.uniform(-1.0, 0.5, (batch, d)).astype("float32")
    eps = rng.normal(size=(batch, d)).astype("float32")
    context = tf.concat([mean, log_var], -1)
    return mean, log_var, eps, context, mean + np.exp(0.5 * log_var) * eps


def autodiff_log_det(model, z, context):
    z = tf.constant(z)
    with tf.GradientTape() as tape:
        tape.watch(z)
        out, _ = model.flow(z, context)
    sign, log_det = np.linalg.slogdet(tape.batch_jacobian(out, z).numpy().astype(np.float64))
    return sign, log_det


@pytest.mark.parametrize("name", MODELS)
def test_flow_log_det_equals_the_autodiff_jacobian(name):
    model = MODELS[name]()
    _, _, _, context, z = context_and_noise(3)
    sign, expected = autodiff_log_det(model, z, context)
    assert np.all(sign > 0)
    _, log_det = model.flow(tf.constant(z), context)
    np.testing.assert_allclose(log_det.numpy(), expected, rtol=1e-4, atol=1e-4)
    assert np.std(expected) > 0.05  # the flow is not a volume-preserving or affine map


@pytest.mark.parametrize("name", MODELS)
def test_log_q_is_the_base_density_minus_the_log_det(name):
    """log q(z_T|x) = log N(z_0; mu, sigma^2) - log |det dz_T/dz_0|, z_0 = mu + sigma eps."""
    model = MODELS[name]()
    mean, log_var, eps, context, z0 = context_and_noise(3)
    z, log_q = model.posterior_draw(tf.constant(mean), tf.constant(log_var), tf.constant(eps))
    base = stats.norm.logpdf(z0, mean, np.exp(0.5 * log_var)).sum(-1)
    _, log_det = autodiff_log_det(model, z0, context)
    np.testing.assert_allclose(log_q.numpy(), base - log_det, rtol=1e-4, atol=1e-4)
    flowed, _ = model.flow(tf.constant(z0), context)
    np.testing.assert_allclose(z.numpy(), flowed.numpy(), rtol=1e-6)


def invert(model, y, context):
    """z_0 from z_T = flow(z_0): each step's inverse, last step first (for the IAF, TFP's
    sequential ``MaskedAutoregressiveFlow.forward`` undoes the parallel inverse)."""
    if isinstance(model, VAEIAF):
        for step in reversed(model.iaf_steps(context)):
            y = step.forward(y) if isinstance(step, tfb.MaskedAutoregressiveFlow) else step.inverse(y)
        return y
    for bijector in reversed(model.bijectors(context)):
        y = bijector.inverse(y)
    return y


@pytest.mark.parametrize("name", MODELS)
def test_the_flow_inverts(name):
    model = MODELS[name]()
    _, _, _, context, z0 = context_and_noise(3)
    z_t, _ = model.flow(tf.constant(z0), context)
    np.testing.assert_allclose(invert(model, tf.constant(z_t.numpy()), context).numpy(), z0,
                               atol=2e-3)


@pytest.mark.parametrize("name", MODELS)
def test_the_posterior_density_integrates_to_one(name):
    """sum over a grid of q(y|x) h^2 = 1, q(y|x) = q_0(z_0|x) / |det df/dz_0|, z_0 = f^-1(y)."""
    model = MODELS[name](2)
    mean, log_var, *_ = context_and_noise(2, batch=2)
    axis = np.linspace(-16, 16, 481)
    h = axis[1] - axis[0]
    grid = np.stack(np.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2).astype("float32")
    for b in range(2):
        context = tf.constant(np.tile(np.concatenate([mean[b], log_var[b]])[None], (len(grid), 1)))
        z0 = invert(model, tf.constant(grid), context)
        _, log_det = model.flow(z0, context)
        log_q0 = stats.norm.logpdf(z0.numpy(), mean[b], np.exp(0.5 * log_var[b])).sum(-1)
        mass = np.sum(np.exp(log_q0 - log_det.numpy().astype(np.float64))) * h * h
        assert mass == pytest.approx(1.0, abs=0.002), mass


@pytest.mark.parametrize("name", MODELS)
def test_kl_is_the_monte_carlo_estimate_at_the_draw(name):
    model = MODELS[name](2)
    x = tf.constant(prototype_images(8, seed=4))
    terms = model.elbo_terms(x)
    z, log_q = terms["z"].numpy(), terms["log_q"].numpy()
    expected = np.mean(log_q - stats.norm.logpdf(z).sum(-1))
    assert float(terms["kl"]) == pytest.approx(expected, rel=1e-5, abs=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_encode_is_the_flow_of_the_posterior_mean(name):
    model = MODELS[name](2)
    x = prototype_images(6, seed=5)
    mean, log_var, _ = model.posterior_params(tf.constant(x))
    zero = tf.zeros_like(mean)
    np.testing.assert_allclose(model.encode(x), model.posterior_draw(mean, log_var, zero)[0],
                               rtol=1e-5, atol=1e-6)
    assert model.posterior_type is None
    with pytest.raises(TypeError, match="flow"):
        model.encode(x, return_distribution=True)


@pytest.mark.parametrize("cls", [VAEIAF, VAENF])
def test_a_new_flow_is_the_identity(cls):
    keras.utils.set_random_seed(0)
    model = cls(latent_dim=3, input_shape=SHAPE, hidden_units=(16,), seed=0)
    _, _, _, context, z0 = context_and_noise(3)
    z, log_det = model.flow(tf.constant(z0), context)
    # The IAF's two default steps reverse the order of the dimensions once, between them.
    expected = z0[:, ::-1] if cls is VAEIAF else z0
    np.testing.assert_allclose(z.numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(log_det.numpy(), 0.0, atol=1e-5)


def test_flows_take_a_list_or_a_dashed_string_and_check_them():
    a = make(VAENF, 2, flows=["planar", "radial"])
    b = make(VAENF, 2, flows="planar-radial")
    assert a.flows == b.flows == ("planar", "radial")
    assert a.get_config()["flows"] == "planar-radial"
    assert VAENF.from_config(a.get_config()).flows == ("planar", "radial")
    for bad in ([], "planar-sylvester", ["householder"]):
        with pytest.raises(ValueError, match="flows"):
            make(VAENF, 2, flows=bad)
    for kwargs, match in ((dict(num_flows=0), "num_flows"), (dict(made_units=()), "made_units")):
        with pytest.raises(ValueError, match=match):
            make(VAEIAF, 2, **kwargs)
