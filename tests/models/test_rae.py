"""RAE-L2 and RAE-GP: the penalties against finite differences and numpy."""

import numpy as np
import pytest
import tensorflow as tf

from ae_zoo import models
from ae_zoo.models.rae import jacobian_frobenius


def tiny_rae(name, **kwargs):
    return models.create(name, latent_dim=3, input_shape=(6, 5, 1), hidden_units=(16,), seed=0,
                         **kwargs)


def finite_difference_penalty(decode, z, h=1e-3):
    """mean_i sum_j ||(D(z_i + h e_j) - D(z_i - h e_j)) / 2h||^2, in float64."""
    total = 0.0
    for j in range(z.shape[1]):
        step = np.zeros_like(z)
        step[:, j] = h
        diff = (np.asarray(decode(z + step), np.float64) - np.asarray(decode(z - step), np.float64))
        total += np.sum((diff / (2 * h)) ** 2)
    return total / len(z)


def test_gradient_penalty_equals_finite_differences():
    model = tiny_rae("rae_gp")
    z = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    penalty = float(model.decoder_penalty(tf.constant(z)))
    reference = finite_difference_penalty(lambda t: model.decoder(tf.constant(t)), z)
    assert penalty == pytest.approx(reference, rel=1e-3)


def test_jacobian_norm_of_a_linear_map_is_its_frobenius_norm():
    a = np.random.default_rng(1).normal(size=(3, 4)).astype("float32")
    z = tf.constant(np.random.default_rng(2).normal(size=(6, 3)).astype("float32"))
    got = float(jacobian_frobenius(lambda t: tf.matmul(t, a), z))
    assert got == pytest.approx(float(np.sum(a.astype(np.float64) ** 2)), rel=1e-5)


def test_gradient_penalty_is_differentiable_in_the_decoder_weights():
    """d penalty / d w by the enclosing tape (through the forward-mode pass) equals a
    central finite difference in one decoder weight."""
    model = tiny_rae("rae_gp")
    z = tf.constant(np.random.default_rng(3).normal(size=(4, 3)).astype("float32"))
    kernel = model.decoder.trainable_weights[0]
    with tf.GradientTape() as tape:
        penalty = model.decoder_penalty(z)
    grad = tape.gradient(penalty, kernel).numpy()[1, 2]
    original = kernel.numpy()
    values = []
    for sign in (1.0, -1.0):
        changed = original.copy()
        changed[1, 2] += sign * 1e-2
        kernel.assign(changed)
        values.append(float(model.decoder_penalty(z)))
    kernel.assign(original)
    assert grad == pytest.approx((values[0] - values[1]) / 2e-2, rel=2e-2, abs=1e-4)


def test_l2_penalty_is_the_sum_of_the_squared_decoder_kernels():
    model = tiny_rae("rae_l2")
    kernels = [w.numpy() for w in model.decoder.weights if w.name == "kernel"]
    assert len(kernels) == 2
    expected = sum(float(np.sum(k.astype(np.float64) ** 2)) for k in kernels)
    assert float(model.decoder_penalty(tf.zeros((2, 3)))) == pytest.approx(expected, rel=1e-5)


def test_objective_adds_the_weighted_code_and_decoder_penalties():
    model = tiny_rae("rae_l2", beta=0.5, lambda_=0.01)
    x = np.random.default_rng(4).uniform(size=(8, 6, 5, 1)).astype("float32")
    terms = {k: float(v) for k, v in model.terms(tf.constant(x)).items()}
    z = np.asarray(model.encode(x), np.float64)
    assert terms["code_penalty"] == pytest.approx(np.mean(0.5 * np.sum(z ** 2, axis=1)), rel=1e-5)
    assert terms["loss"] == pytest.approx(terms["reconstruction_loss"] + 0.5 * terms["code_penalty"]
                                          + 0.01 * terms["decoder_penalty"], rel=1e-6)


def test_variants_fix_their_regularizer_and_have_no_prior():
    assert tiny_rae("rae_gp").registry_name == "rae_gp"
    assert not models.get("rae_l2").generative
    with pytest.raises(ValueError, match="regularizer"):
        tiny_rae("rae_l2", regularizer="gp")
    with pytest.raises(ValueError, match="lambda_"):
        tiny_rae("rae_gp", lambda_=-1.0)
