"""VAEs with a learned prior: the VampPrior (Tomczak and Welling 2018) and a mixture of
Gaussians (as in TensorFlow Probability's VAE example).

Both priors are mixtures, p(z) = sum_k pi_k N(z; mu_k, diag sigma_k^2), so the KL of the
Gaussian posterior to them has no closed form: ``kl`` is the Monte Carlo estimate
log q(z|x) - log p(z) at the training draw, and ``log_likelihood`` scores the draws under
the mixture. ``sample`` draws from the mixture: each seed picks the component and the
Gaussian draw (:func:`mixture_draws`).
"""

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from keras import ops

from ae_zoo.models import _checks, hparams
from ae_zoo.models.registry import register
from ae_zoo.models.vae import VAE

tfd = tfp.distributions


def gaussian_mixture(logits, loc, scale):
    """sum_k softmax(logits)_k N(loc_k, diag scale_k^2) as a ``tfd.MixtureSameFamily``;
    ``loc`` and ``scale`` are (..., K, D), ``logits`` (..., K)."""
    return tfd.MixtureSameFamily(tfd.Categorical(logits=logits),
                                 tfd.MultivariateNormalDiag(loc=loc, scale_diag=scale))


@tf.function(reduce_retracing=True)  # eagerly, map_fn would rebuild the mixture per seed
def mixture_draws(seeds, logits, loc, scale):
    """One draw per int64 seed from :func:`gaussian_mixture`: draw i is a pure function of
    ``seeds[i]``, which picks both its component and its Gaussian draw (TFP's stateless
    sampling; the int64 seed is split into the two int32 halves of TFP's seed). The parameters are shared ((K,), (K, D)) or one set per seed ((n, K), ...)."""
    seeds = tf.cast(tf.reshape(seeds, (-1,)), tf.int64)
    n = tf.shape(seeds)[:1]
    logits = tf.broadcast_to(logits, tf.concat([n, tf.shape(logits)[-1:]], 0))
    loc = tf.broadcast_to(loc, tf.concat([n, tf.shape(loc)[-2:]], 0))
    scale = tf.broadcast_to(scale, tf.concat([n, tf.shape(scale)[-2:]], 0))

    def draw(args):
        seed, row_logits, row_loc, row_scale = args
        mixture = gaussian_mixture(row_logits, row_loc, row_scale)
        return mixture.sample(seed=tf.bitcast(seed, tf.int32))  # TFP seeds: int32 [2]

    return tf.map_fn(draw, (seeds, logits, loc, scale), fn_output_signature=tf.float32)


class MixturePrior(VAE):
    """A VAE whose prior is a Gaussian mixture given by :meth:`mixture_parameters`."""

    prior_type = "learned"
    analytic_kl = False

    def mixture_parameters(self, condition=None):
        """``(logits, loc, scale)`` of the prior's components: (K,), (K, D), (K, D), or one
        set per row of a one-hot ``condition``."""
        raise NotImplementedError

    def prior(self, condition=None):
        """p(z) (given the condition), a ``tfd.MixtureSameFamily`` of diagonal Gaussians."""
        return gaussian_mixture(*self.mixture_parameters(condition))

    def sample_codes(self, seeds, *, labels=None):
        """z_i ~ p(z) (given labels[i]) from the stateless seed ``seeds[i]``: the seed draws
        the component and the Gaussian (:func:`mixture_draws`)."""
        condition = None if labels is None else self.condition(labels)
        return mixture_draws(seeds, *self.mixture_parameters(condition))

    def kl_per_dim(self, x, *, labels=None, batch_size=None):
        raise TypeError(f"{type(self).__name__}'s prior is a mixture: its KL does not split "
                        "over latent dimensions.")


@register("vamp")
class VampPriorVAE(MixturePrior):
    """VAE with the VampPrior (Tomczak and Welling 2018).

    Minimizes -E_q[log p(x|z)] + beta * E_q[log q(z|x) - log p(z)] (the KL as a Monte Carlo
    estimate) with p(z) = (1/K) sum_k q(z|u_k): the encoder's posteriors at K learned
    pseudo-inputs u_k (``num_pseudo_inputs``, default 50), images in [0, 1] (the sigmoid of
    a free parameter). With labels (a subclass with ``conditional = True`` and
    ``num_classes``) the prior is conditional too, p(z|y) = (1/K) sum_k q(z|u_k, y).
    """

    @classmethod
    def search_space(cls, options):
        return {"num_pseudo_inputs": hparams.choice(
            (10, 25, 50, 100, 250, 500), options.get("num_pseudo_inputs", 50))}

    def __init__(self, num_pseudo_inputs=50, **kwargs):
        self.num_pseudo_inputs = _checks.check_count(num_pseudo_inputs, "num_pseudo_inputs")
        super().__init__(**kwargs)
        self.pseudo_input_logits = None
        if self.example_shape is not None:
            self._add_pseudo_inputs()

    def build(self, input_shape):
        super().build(input_shape)
        if self.pseudo_input_logits is None:
            self._add_pseudo_inputs()

    def _add_pseudo_inputs(self):
        self.pseudo_input_logits = self.add_weight(
            shape=(self.num_pseudo_inputs, *self.example_shape), name="pseudo_input_logits",
            initializer=keras.initializers.RandomNormal(stddev=1.0, seed=self.seed))

    @property
    def pseudo_inputs(self):
        """The K learned pseudo-inputs u_k, shaped like the data."""
        return ops.sigmoid(self.pseudo_input_logits)

    def mixture_parameters(self, condition=None):
        u, k = self.pseudo_inputs, self.num_pseudo_inputs
        if condition is None:
            mean, log_var, _ = self.posterior_params(u)
        else:  # q(z|u_k, y) for every class y at once, then the rows' own classes
            classes = self.num_classes
            tiled = ops.tile(u, (classes,) + (1,) * len(self.example_shape))
            one_hot = ops.repeat(ops.eye(classes, dtype="float32"), k, axis=0)
            mean, log_var, _ = self.posterior_params(tiled, condition=one_hot)
            per_class = (classes, k, self.latent_dim)
            weights = ops.cast(condition, mean.dtype)
            mean, log_var = (ops.einsum("bc,ckd->bkd", weights, ops.reshape(t, per_class))
                             for t in (mean, log_var))
        logits = ops.zeros(ops.shape(mean)[:-1], dtype=mean.dtype)
        return logits, mean, ops.exp(0.5 * log_var)

    def get_config(self):
        return {**super().get_config(), "num_pseudo_inputs": self.num_pseudo_inputs}


@register("mog_vae")
class MixtureOfGaussiansVAE(MixturePrior):
    """VAE with a learned mixture-of-Gaussians prior (as in TFP's VAE example).

    Minimizes -E_q[log p(x|z)] + beta * E_q[log q(z|x) - log p(z)] (the KL as a Monte Carlo
    estimate) with p(z) = sum_k softmax(a)_k N(m_k, diag softplus(s_k)^2): K =
    ``num_components`` (default 10) learned weights, means (initialized N(0, I)) and
    scales (initialized 1). With labels the prior stays the same mixture for every class
    (the decoder sees the label, as in the conditional VAE).
    """

    @classmethod
    def search_space(cls, options):
        return {"num_components": hparams.choice(
            (1, 2, 5, 10, 20, 50, 100), options.get("num_components", 10))}

    def __init__(self, num_components=10, **kwargs):
        self.num_components = _checks.check_count(num_components, "num_components")
        super().__init__(**kwargs)
        shape = (self.num_components, self.latent_dim)
        self.mixture_logits = self.add_weight(shape=(self.num_components,), name="mixture_logits",
                                              initializer="zeros")
        self.component_means = self.add_weight(
            shape=shape, name="component_means",
            initializer=keras.initializers.RandomNormal(stddev=1.0, seed=self.seed))
        self.component_raw_scales = self.add_weight(
            shape=shape, name="component_raw_scales",
            initializer=keras.initializers.Constant(float(np.log(np.expm1(1.0)))))

    def mixture_parameters(self, condition=None):
        scale = ops.softplus(ops.cast(self.component_raw_scales, "float32")) + 1e-5
        return (ops.cast(self.mixture_logits, "float32"),
                ops.cast(self.component_means, "float32"), scale)

    def get_config(self):
        return {**super().get_config(), "num_components": self.num_components}
