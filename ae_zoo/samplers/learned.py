"""Samplers that learn the density of the codes with a network: the two-stage VAE and a
masked autoregressive flow. Both model the codes standardized per dimension (the mean and
standard deviation are non-trainable variables) and fit with Adam on the training codes."""

import keras
import tensorflow as tf
import tensorflow_probability as tfp
from keras import ops

from ae_zoo import _random
from ae_zoo.layers import MaskedDense, made_degrees
from ae_zoo.samplers.base import Sampler, checked_fit, positive_int, standardize, train_network

tfb = tfp.bijectors
tfd = tfp.distributions


class _StandardizedSampler(Sampler):
    """Models the codes standardized per dimension, fitted by a network with Adam."""

    def __init__(self, hidden_units, epochs, batch_size, learning_rate, **kwargs):
        self.epochs, self.batch_size, self.learning_rate = checked_fit(epochs, batch_size,
                                                                       learning_rate)
        self.hidden_units = tuple(positive_int("hidden_units", u) for u in hidden_units)
        super().__init__(**kwargs)

    def create_moments(self, dim):
        self.code_mean = self.add_weight(shape=(dim,), initializer="zeros", trainable=False,
                                         name="code_mean")
        self.code_std = self.add_weight(shape=(dim,), initializer="ones", trainable=False,
                                        name="code_std")

    def fit_state(self, data, seed, verbose):
        mean, std = standardize(data)
        self.code_mean.assign(mean)
        self.code_std.assign(std)
        weights = self.trainable_weights
        self.history = train_network(self.loss, weights, ((data - mean) / std).astype("float32"),
                                     epochs=self.epochs, batch_size=self.batch_size,
                                     learning_rate=self.learning_rate, seed=seed,
                                     verbose=verbose, what=self.sampler_name)

    def unstandardize(self, z):
        return z * ops.convert_to_tensor(self.code_std) + ops.convert_to_tensor(self.code_mean)

    def get_config(self):
        return {**super().get_config(), "hidden_units": self.hidden_units, "epochs": self.epochs,
                "batch_size": self.batch_size, "learning_rate": self.learning_rate}


def _mlp(input_dim, hidden_units, output_dim, name):
    inputs = keras.Input((int(input_dim),))
    h = inputs
    for i, units in enumerate(hidden_units):
        h = keras.layers.Dense(units, activation="relu", name=f"dense_{i}")(h)
    return keras.Model(inputs, keras.layers.Dense(int(output_dim), name="out")(h), name=name)


@keras.saving.register_keras_serializable(package="ae_zoo")
class TwoStageSampler(_StandardizedSampler):
    """The two-stage VAE (Dai and Wipf 2019, "Diagnosing and enhancing VAE models"): a
    second, small VAE fitted to the (standardized) codes z of the first model.

    q(u|z) = N(mu(z), diag sigma^2(z)) and p(z|u) = N(g(u), gamma^2 I) with gamma learned
    (the paper's key: gamma shrinks, sharpening the fit); it minimizes the negative ELBO
    E_q[||z - g(u)||^2 / (2 gamma^2) + d log gamma] + KL(q(u|z) || N(0, I)) (+ const).
    A draw from seed s is g(u), u ~ N(0, I) from the stream (s, 0): the decoder's mean, as
    the paper samples.

    Args:
        latent_dim: the size of u (default: the codes' size).
        hidden_units: the second-stage encoder's and decoder's hidden layers.
        epochs, batch_size, learning_rate: its Adam fit.
    """

    sampler_name = "two_stage"

    def __init__(self, latent_dim=None, hidden_units=(256, 256), epochs=100, batch_size=128,
                 learning_rate=1e-3, **kwargs):
        self.latent_dim = None if latent_dim is None else positive_int("latent_dim", latent_dim)
        super().__init__(hidden_units, epochs, batch_size, learning_rate, **kwargs)

    def _inner_dim(self):
        return self.latent_dim or self.space["shape"][0]

    def create_state(self, space):
        d, k = space["shape"][0], self.latent_dim or space["shape"][0]
        self.create_moments(d)
        self.encoder = _mlp(d, self.hidden_units, 2 * k, "second_stage_encoder")
        self.decoder = _mlp(k, self.hidden_units, d, "second_stage_decoder")
        self.log_gamma = self.add_weight(shape=(), initializer="zeros", name="log_gamma")

    def loss(self, z, noise_seed):
        """The negative ELBO per code (batch mean), up to the constant d/2 log(2 pi)."""
        mean, log_var = ops.split(self.encoder(z), 2, axis=-1)
        log_var = ops.clip(log_var, -20.0, 10.0)
        eps = tf.random.stateless_normal(ops.shape(mean), seed=noise_seed)
        u = mean + ops.exp(0.5 * log_var) * eps
        gamma_sq = ops.exp(2.0 * self.log_gamma)
        dim = float(z.shape[-1])
        rec = ops.sum(ops.square(z - self.decoder(u)), axis=-1) / (2.0 * gamma_sq) + dim * self.log_gamma
        kl = 0.5 * ops.sum(ops.exp(log_var) + ops.square(mean) - 1.0 - log_var, axis=-1)
        return ops.mean(rec + kl)

    def sample_codes(self, seeds):
        return self.unstandardize(self.decoder(_random.normal_per_seed(seeds, self._inner_dim())))

    def get_config(self):
        return {**super().get_config(), "latent_dim": self.latent_dim}


def build_made(dim, hidden_units, name):
    """A MADE network z (dim) -> (shift, log_scale), each (dim,): output i sees only
    z_1..z_{i-1} (Germain et al. 2015), with hidden ReLU layers of ``hidden_units``."""
    degrees = made_degrees(dim, hidden_units)
    inputs = keras.Input((int(dim),))
    h = inputs
    for i, units in enumerate(hidden_units):
        h = MaskedDense(units, degrees[i], degrees[i + 1], activation="relu", name=f"masked_{i}")(h)
    out = MaskedDense(2 * dim, degrees[-1], degrees[0] * 2, strict=True, name="shift_log_scale")(h)
    return keras.Model(inputs, out, name=name)


@keras.saving.register_keras_serializable(package="ae_zoo")
class MAFSampler(_StandardizedSampler):
    """A masked autoregressive flow (Papamakarios et al. 2017) fitted to the (standardized)
    codes by maximum likelihood, with ``tfp.bijectors``: z = f(u), u ~ N(0, I), f a chain
    of ``num_flows`` ``tfb.MaskedAutoregressiveFlow`` bijectors whose shift and log-scale
    come from MADE networks (:func:`build_made`), the order reversed between flows.
    Minimizes -mean log p(z), log p(z) = log N(f^-1(z); 0, I) + log |det J_f^-1(z)|. A draw
    from seed s is f(u), u ~ N(0, I) from the stream (s, 0).

    Args:
        num_flows: the number of MAF bijectors.
        hidden_units: each MADE's hidden layers.
        epochs, batch_size, learning_rate: the Adam fit.
    """

    sampler_name = "maf"

    def __init__(self, num_flows=4, hidden_units=(64, 64), epochs=100, batch_size=128,
                 learning_rate=1e-3, **kwargs):
        self.num_flows = positive_int("num_flows", num_flows)
        super().__init__(hidden_units, epochs, batch_size, learning_rate, **kwargs)

    def create_state(self, space):
        d = space["shape"][0]
        self.create_moments(d)
        self.mades = [build_made(d, self.hidden_units, f"made_{i}") for i in range(self.num_flows)]

    def flow(self):
        """The bijector f (built anew on each call: TFP caches results per bijector)."""
        d = self.space["shape"][0]
        bijectors = []
        for i, made in enumerate(self.mades):
            if i:
                bijectors.append(tfb.Permute(list(reversed(range(d)))))

            def shift_and_log_scale(z, made=made):
                shift, log_scale = ops.split(made(z), 2, axis=-1)
                return shift, 3.0 * ops.tanh(log_scale / 3.0)  # scales within e^-3..e^3

            bijectors.append(tfb.MaskedAutoregressiveFlow(shift_and_log_scale_fn=shift_and_log_scale))
        return tfb.Chain(bijectors[::-1])  # the first MAF acts on u first

    def loss(self, z, noise_seed):
        d = self.space["shape"][0]
        base = tfd.MultivariateNormalDiag(loc=tf.zeros(d), scale_diag=tf.ones(d))
        return -ops.mean(tfd.TransformedDistribution(base, self.flow()).log_prob(z))

    def sample_codes(self, seeds):
        return self.unstandardize(self.flow().forward(
            _random.normal_per_seed(seeds, self.space["shape"][0])))

    def get_config(self):
        return {**super().get_config(), "num_flows": self.num_flows}

