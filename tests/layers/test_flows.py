"""The planar and radial bijectors and MADE, against automatic differentiation and numpy.

The log-determinants are checked against log |det J| of the Jacobian that
``tf.GradientTape.batch_jacobian`` computes; invertibility against the inverse (a fresh
tensor, so TFP's cache of the forward pass is not what answers) and against numpy's
picture of the unconstrained maps, which do fold where the constraints forbid it.
"""

import numpy as np
import pytest
import tensorflow as tf

from ae_zoo.layers.flows import (
    FLOWS,
    MADE,
    PlanarFlow,
    RadialFlow,
    identity_parameters,
    made_degrees,
    make_flow,
)


def autodiff_log_det(bijector, z):
    """log |det df/dz| per row from the Jacobian by automatic differentiation (float64)."""
    z = tf.constant(z, tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(z)
        y = bijector.forward(z)
    jacobian = tape.batch_jacobian(y, z).numpy()
    sign, log_det = np.linalg.slogdet(jacobian)
    return sign, log_det


def random_flow(kind, batch, dim, rng, spread=3.0):
    """A ``kind`` bijector (float64) with one set of raw parameters per row, some extreme."""
    return make_flow(kind, tf.constant(rng.normal(0.0, spread, (batch, FLOWS[kind](dim)))))


@pytest.mark.parametrize("kind", ["planar", "radial"])
@pytest.mark.parametrize("dim", [1, 2, 5])
def test_log_det_equals_autodiff_jacobian(kind, dim):
    rng = np.random.default_rng(dim)
    bijector = random_flow(kind, 64, dim, rng)
    z = rng.normal(0.0, 2.0, (64, dim))
    sign, expected = autodiff_log_det(bijector, z)
    assert np.all(sign > 0)  # orientation-preserving: the constraint at work
    got = bijector.forward_log_det_jacobian(tf.constant(z), event_ndims=1).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("kind", ["planar", "radial"])
def test_parameters_broadcast_against_samples(kind):
    """One parameter set per example (B, P) against S draws per example (S, B, D)."""
    rng = np.random.default_rng(0)
    params = tf.constant(rng.normal(0.0, 2.0, (4, FLOWS[kind](3))))
    z = rng.normal(size=(5, 4, 3))
    bijector = make_flow(kind, params)
    y = bijector.forward(tf.constant(z)).numpy()
    log_det = bijector.forward_log_det_jacobian(tf.constant(z), event_ndims=1).numpy()
    assert y.shape == (5, 4, 3) and log_det.shape == (5, 4)
    for b in range(4):  # each example's own flow, one at a time
        own = make_flow(kind, params[b])
        np.testing.assert_allclose(y[:, b], own.forward(tf.constant(z[:, b])).numpy(), rtol=1e-12)
        np.testing.assert_allclose(log_det[:, b], own.forward_log_det_jacobian(
            tf.constant(z[:, b]), event_ndims=1).numpy(), rtol=1e-12)


def test_planar_constraint_keeps_w_dot_u_hat_above_minus_one_and_the_map_invertible():
    rng = np.random.default_rng(1)
    w = rng.normal(0.0, 3.0, (200, 3))
    noise = rng.normal(size=(200, 3))
    along = np.sum(noise * w, -1, keepdims=True) / np.sum(w * w, -1, keepdims=True)
    target = rng.uniform(-5.0, -1.5, (200, 1))  # w.u < -1: the raw map is not invertible
    u = noise - along * w + target * w / np.sum(w * w, -1, keepdims=True)
    b = rng.normal(size=200)
    flow = PlanarFlow(tf.constant(u), tf.constant(w), tf.constant(b))
    assert np.all(np.sum(w * u, -1) < -1)
    assert np.all(np.sum(w * flow.u_hat.numpy(), -1) > -1)
    z = rng.normal(0.0, 2.0, (200, 3))
    y = flow.forward(tf.constant(z)).numpy()
    np.testing.assert_allclose(flow.inverse(tf.constant(y.copy())).numpy(), z, atol=1e-6)
    # Along w the constrained map a -> a + (w.u_hat) tanh(a + b) increases; the raw one folds.
    a = np.linspace(-10, 10, 2001)
    for c_raw, c_hat, bias in zip(np.sum(w * u, -1)[:20], np.sum(w * flow.u_hat.numpy(), -1)[:20], b):
        assert np.all(np.diff(a + c_hat * np.tanh(a + bias)) > 0)
        assert np.any(np.diff(a + c_raw * np.tanh(a + bias)) < 0)


def test_radial_constraint_keeps_beta_above_minus_alpha_and_the_map_invertible():
    rng = np.random.default_rng(2)
    z0 = rng.normal(size=(200, 4))
    flow = RadialFlow(tf.constant(z0), tf.constant(rng.normal(0, 3, 200)),
                      tf.constant(rng.normal(-2, 4, 200)))  # beta_raw often very negative
    alpha, beta = flow.alpha.numpy(), flow.beta.numpy()
    assert np.all(alpha > 0) and np.all(beta > -alpha) and np.any(beta < -0.5 * alpha)
    z = z0 + rng.normal(0.0, 2.0, (200, 4))
    y = flow.forward(tf.constant(z)).numpy()
    np.testing.assert_allclose(flow.inverse(tf.constant(y.copy())).numpy(), z, atol=1e-9)
    # The radius r -> r (1 + beta / (alpha + r)) increases under the constraint; with
    # beta < -alpha (what the constraint rules out) it does not.
    r = np.linspace(0, 10, 2001)
    for al, be in zip(alpha[:20], beta[:20]):
        assert np.all(np.diff(r * (1 + be / (al + r))) > 0)
        assert np.any(np.diff(r * (1 - 3 * al / (al + r))) < 0)


def test_float32_round_trip_is_close():
    rng = np.random.default_rng(3)
    for kind in FLOWS:
        bijector = make_flow(kind, tf.constant(rng.normal(0, 1, (100, FLOWS[kind](3))), tf.float32))
        z = rng.normal(size=(100, 3)).astype("float32")
        y = bijector.forward(tf.constant(z)).numpy()
        np.testing.assert_allclose(bijector.inverse(tf.constant(y.copy())).numpy(), z, atol=2e-4)


@pytest.mark.parametrize("kind", ["planar", "radial"])
def test_identity_parameters_make_the_identity(kind):
    params = identity_parameters(kind, 5, np.random.default_rng(0))
    assert params.shape == (FLOWS[kind](5),)
    z = np.random.default_rng(1).normal(0.0, 3.0, (50, 5)).astype("float32")
    bijector = make_flow(kind, tf.constant(params))
    np.testing.assert_allclose(bijector.forward(tf.constant(z)).numpy(), z, atol=1e-5)
    np.testing.assert_allclose(bijector.forward_log_det_jacobian(z, event_ndims=1).numpy(), 0.0,
                               atol=1e-6)


def test_unknown_flow_is_an_error():
    with pytest.raises(ValueError, match="planar"):
        make_flow("sylvester", tf.zeros((1, 5)))
    with pytest.raises(ValueError, match="radial"):
        identity_parameters("sylvester", 5, np.random.default_rng(0))


# ---------------------------------------------------------------------- MADE
def test_made_degrees_follow_germain_et_al():
    degrees = made_degrees(3, (4, 5))
    np.testing.assert_array_equal(degrees[0], [1, 2, 3])
    np.testing.assert_array_equal(degrees[1], [0, 1, 2, 0])
    np.testing.assert_array_equal(degrees[-1], [1, 2, 3])


def test_made_outputs_are_autoregressive_in_z_and_free_in_the_context():
    dim, ctx = 4, 3
    made = MADE(dim, (16, 16), context_size=ctx, dtype="float32")
    rng = np.random.default_rng(0)
    for weight in made.weights:  # the output layer starts at zero: randomize everything
        weight.assign(rng.normal(0, 0.5, weight.shape).astype("float32"))
    z = tf.constant(rng.normal(size=(6, dim)), tf.float32)
    c = tf.constant(rng.normal(size=(6, ctx)), tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([z, c])
        shift, log_scale = made(z, c)
    for out in (shift, log_scale):
        jz = np.abs(tape.batch_jacobian(out, z).numpy()).max(axis=0)
        jc = np.abs(tape.batch_jacobian(out, c).numpy()).max(axis=0)
        assert np.all(jz[np.triu_indices(dim)] == 0)          # output i ignores z_i, z_{>i}
        assert np.all(jz[np.tril_indices(dim, -1)] > 0)       # and sees every z_{<i}
        assert np.all(jc > 0)                                 # the context reaches every output
    assert np.all(np.abs(log_scale.numpy()) < made.max_log_scale)


def test_made_starts_as_zero_outputs_and_rejects_no_hidden_layer():
    made = MADE(3, (8,), dtype="float32")
    shift, log_scale = made(tf.ones((2, 3)))
    assert not np.any(shift.numpy()) and not np.any(log_scale.numpy())
    with pytest.raises(ValueError, match="hidden_units"):
        MADE(3, ())
