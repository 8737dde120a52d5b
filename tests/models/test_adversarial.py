"""The adversarial autoencoder and VAE-GAN: the discriminators learn to tell what they
should, and each step updates every player with its own loss."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.datasets import load_digits

from ae_zoo import models

X = (load_digits().images[:32] / 16.0).astype("float32")[..., None]


def tiny(name, **kwargs):
    keras.utils.set_random_seed(0)
    return models.create(name, latent_dim=2, input_shape=(8, 8, 1), hidden_units=(16,), seed=0,
                         **kwargs)


def train_discriminator(model, steps, *inputs):
    step = tf.function(model.discriminator_step)
    return [float(step(*inputs)[1]) for _ in range(steps)][-1]


def test_aae_discriminator_tells_codes_off_the_prior_and_not_prior_draws():
    rng = np.random.default_rng(0)
    off_prior = tf.constant(rng.normal(loc=2.0, size=(128, 2)).astype("float32"))
    on_prior = tf.constant(rng.normal(size=(128, 2)).astype("float32"))
    accuracy_off = train_discriminator(tiny("aae", discriminator_learning_rate=1e-2), 40, off_prior)
    accuracy_on = train_discriminator(tiny("aae", discriminator_learning_rate=1e-2), 40, on_prior)
    assert accuracy_off > 0.9
    assert accuracy_on < 0.7  # prior draws against prior draws: chance, up to overfitting


def test_vae_gan_discriminator_tells_images_from_noise():
    model = tiny("vae_gan", discriminator_learning_rate=1e-3)
    noise = tf.constant(np.random.default_rng(1).uniform(size=X.shape).astype("float32"))
    assert train_discriminator(model, 40, tf.constant(X), noise) > 0.9


def _weights(network):
    return [w.numpy().copy() for w in network.trainable_weights]


@pytest.mark.parametrize("name", ["aae", "vae_gan"])
def test_each_step_updates_both_players_once(name):
    model = tiny(name)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=False)
    before = {n: _weights(getattr(model, n)) for n in ("encoder", "decoder", "discriminator")}
    model.fit(X, epochs=1, batch_size=32, verbose=0)
    for net, old in before.items():
        new = _weights(getattr(model, net))
        assert all(not np.array_equal(a, b) for a, b in zip(old, new)), net
    assert int(model.optimizer.iterations) == int(model.discriminator_optimizer.iterations) == 1
    own = {id(w) for w in model.discriminator.trainable_weights}
    assert not own & {id(w) for w in model.optimized_weights}


def test_vae_gan_encoder_and_decoder_follow_their_own_losses():
    """One step with SGD equals w - lr * grad of the encoder's L_prior + L_llike (encoder),
    of gamma L_llike - L_GAN (decoder), computed with the same noise."""
    model = tiny("vae_gan", gamma=0.5)
    lr = 0.1
    model.compile(optimizer=keras.optimizers.SGD(lr), jit_compile=False)
    model.fit(X[:2], epochs=1, batch_size=2, verbose=0)  # builds everything
    state = model.seed_generator.state.numpy()
    x = tf.constant(X[:16])
    with tf.GradientTape(persistent=True) as tape:
        terms = model.terms(x, training=True)
    expected = {}
    for net, key in (("encoder", "loss"), ("decoder", "decoder_loss")):
        weights = getattr(model, net).trainable_weights
        grads = tape.gradient(terms[key], weights)
        expected[net] = [w.numpy() - lr * g.numpy() for w, g in zip(weights, grads)]
    model.seed_generator.state.assign(state)
    model.train_on_batch(X[:16])
    for net, weights in expected.items():
        for got, want in zip(getattr(model, net).trainable_weights, weights):
            np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-6, err_msg=net)


def test_vae_gan_has_no_pixel_likelihood_and_refuses_vae_arguments():
    model = tiny("vae_gan")
    assert not model.has_likelihood and model.generative
    with pytest.raises(TypeError, match="likelihood"):
        model.log_likelihood(X[:2])
    with pytest.raises(TypeError, match="likelihood"):
        tiny("vae_gan", likelihood="gaussian")
    with pytest.raises(ValueError, match="discriminator_units"):
        tiny("aae", discriminator_units=(0,))
