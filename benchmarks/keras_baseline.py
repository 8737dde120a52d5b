"""The keras.io-style VAE the throughput benchmark compares with: a ``Sampling`` layer, a
``keras.Model`` subclass with its own ``train_step`` and three trackers, ``compile(Adam())``
with Keras' defaults (no XLA on CPU, one step per execution) and ``fit`` on numpy arrays."""

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

DENSE = (512, 256)
LATENT = 16


class Sampling(layers.Layer):
    """z = mean + exp(log_var / 2) * eps."""

    def call(self, inputs):
        mean, log_var = inputs
        eps = keras.random.normal(ops.shape(mean))
        return mean + ops.exp(0.5 * log_var) * eps


class BaselineVAE(keras.Model):
    """A VAE as the keras.io example writes one: custom train_step, three trackers."""

    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.decoder = encoder, decoder
        self.total_tracker = keras.metrics.Mean(name="loss")
        self.rec_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_tracker = keras.metrics.Mean(name="kl")

    @property
    def metrics(self):
        return [self.total_tracker, self.rec_tracker, self.kl_tracker]

    def train_step(self, data):
        with tf.GradientTape() as tape:
            mean, log_var, z = self.encoder(data)
            recon = self.decoder(z)
            rec = ops.mean(ops.sum(keras.losses.binary_crossentropy(data, recon), axis=(1, 2)))
            kl = -0.5 * (1 + log_var - ops.square(mean) - ops.exp(log_var))
            kl = ops.mean(ops.sum(kl, axis=1))
            total = rec + kl
        grads = tape.gradient(total, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        self.total_tracker.update_state(total)
        self.rec_tracker.update_state(rec)
        self.kl_tracker.update_state(kl)
        return {m.name: m.result() for m in self.metrics}


def baseline_dense(shape):
    inputs = keras.Input(shape)
    h = layers.Flatten()(inputs)
    for units in DENSE:
        h = layers.Dense(units, activation="relu")(h)
    mean, log_var = layers.Dense(LATENT)(h), layers.Dense(LATENT)(h)
    encoder = keras.Model(inputs, [mean, log_var, Sampling()([mean, log_var])])
    z = keras.Input((LATENT,))
    h = z
    for units in reversed(DENSE):
        h = layers.Dense(units, activation="relu")(h)
    h = layers.Dense(int(np.prod(shape)), activation="sigmoid")(h)
    decoder = keras.Model(z, layers.Reshape(shape)(h))
    return BaselineVAE(encoder, decoder)


def baseline_conv(shape, filters=(32, 32, 64, 64), dense=256, latent=10):
    inputs = keras.Input(shape)
    h = inputs
    for f in filters:
        h = layers.Conv2D(f, 4, strides=2, padding="same", activation="relu")(h)
    feature_shape = h.shape[1:]
    h = layers.Dense(dense, activation="relu")(layers.Flatten()(h))
    mean, log_var = layers.Dense(latent)(h), layers.Dense(latent)(h)
    encoder = keras.Model(inputs, [mean, log_var, Sampling()([mean, log_var])])
    z = keras.Input((latent,))
    h = layers.Dense(dense, activation="relu")(z)
    h = layers.Dense(int(np.prod(feature_shape)), activation="relu")(h)
    h = layers.Reshape(feature_shape)(h)
    for f in list(reversed(filters[:-1])):
        h = layers.Conv2DTranspose(f, 4, strides=2, padding="same", activation="relu")(h)
    h = layers.Conv2DTranspose(shape[-1], 4, strides=2, padding="same", activation="sigmoid")(h)
    return BaselineVAE(encoder, keras.Model(z, h))


def run_baseline(x, build, batch_size, epochs, timer):
    """Trains the baseline as keras.io does; returns the model (``timer`` times the epochs)."""
    keras.utils.set_random_seed(0)
    model = build(x.shape[1:])
    model.compile(optimizer=keras.optimizers.Adam())
    model.fit(x, epochs=epochs, batch_size=batch_size, verbose=0, callbacks=[timer])
    return model
