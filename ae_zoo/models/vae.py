"""Variational autoencoders on TensorFlow Probability distributions.

The encoder gives a diagonal Gaussian posterior q(z|x) = N(mu, diag(sigma^2))
(``z_mean`` and ``z_log_var`` = log sigma^2), the prior is p(z) = N(0, I), and
the decoder a likelihood p(x|z): Bernoulli on logits or Gaussian with a fixed
or learned scale. All three are ``tfp.distributions`` objects built on concrete
tensors; z is drawn by the reparameterization trick with stateless seeds.
"""

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from keras import ops

from ae_zoo import _random
from ae_zoo.models import _checks, hparams
from ae_zoo.models.base import Autoencoder
from ae_zoo.models.registry import register

tfd = tfp.distributions

LIKELIHOODS = ("bernoulli", "gaussian")
#: At most this many decoder passes per compiled call of ``log_likelihood`` (K x examples):
#: larger calls spend their time moving K x batch x pixels of logits through memory.
IWAE_DECODES_PER_CALL = 32768
# Bounds on log sigma^2 that keep exp() finite in float32 early in training.
_LOG_VAR_RANGE = (-30.0, 20.0)
_LOG_2PI = float(np.log(2.0 * np.pi))


def log_mean_exp(log_w, axis=0):
    """log (1/S) sum_s exp(log_w_s) along ``axis``: the importance-weighted bound of
    log weights ``log_w`` (Burda et al. 2016), computed stably."""
    count = ops.cast(ops.shape(log_w)[axis], log_w.dtype)
    return ops.logsumexp(log_w, axis=axis) - ops.log(count)


def prior_draws(seeds, latent_dim):
    """z_i ~ N(0, I_d) drawn statelessly from the int seed ``seeds[i]`` (one row per seed)."""
    return _random.normal_per_seed(seeds, latent_dim)


@register("vae")
class VAE(Autoencoder):
    """Variational autoencoder (Kingma and Welling 2014).

    Minimizes -E_q[log p(x|z)] + beta * KL(q(z|x) || N(0, I)), the negative
    ELBO when beta = 1. The reconstruction term is -log p(x|z) summed over
    pixels and the KL term is analytic, summed over latent dimensions,
    KL = 0.5 * sum_j (sigma_j^2 + mu_j^2 - log sigma_j^2 - 1); both are
    averaged over the batch. Tracks ``loss``, ``reconstruction_loss``,
    ``kl`` and ``elbo`` (= -(reconstruction_loss + kl)).

    Args:
        beta: weight of the KL term (a non-trainable variable, so schedules
            can change it during training without recompiling).
        likelihood: ``"bernoulli"`` (decoder logits, data in [0, 1]) or
            ``"gaussian"`` (decoder mean).
        scale: the Gaussian likelihood's standard deviation, a float, or
            ``"learned"`` for one learned scale shared by all pixels
            (Rybkin et al. 2021), starting at 0.1.
        Other arguments as for :class:`ae_zoo.models.Autoencoder`. A user
        encoder returns ``2 * latent_dim`` values (mean, then log-variance),
        or a pair / a dict ``{"z_mean", "z_log_var"}``.

    Example:
        >>> vae = VAE(latent_dim=16, input_shape=(28, 28, 1))
        >>> vae.compile()
        >>> vae.fit(x_train, epochs=10)
        >>> images = vae.sample(16, seed=0)
    """

    loss_terms = ("loss", "reconstruction_loss", "kl", "elbo")
    generative = True
    has_likelihood = True
    posterior_type = "gaussian"
    prior_type = "standard_normal"
    maximized_terms = ("elbo",)
    #: The ELBO is not weighed by beta, so trials of a search compare on it.
    tuning_objective = "val_elbo"
    #: Whether KL(q(z|x) || p(z)) is computed in closed form (:meth:`kl_term`); a flow
    #: posterior or a mixture prior has none and reports the Monte Carlo estimate.
    analytic_kl = True
    beta_is_kl_weight = True
    excluded_arguments = ("reconstruction_loss",)  # the likelihood decides it
    reconstruction_definition = ("-log p(x|z) summed over pixels, z ~ q(z|x) (one draw), "
                                 "nats per example")

    @classmethod
    def search_space(cls, options):
        return {"beta": hparams.log_uniform(0.25, 4.0, options.get("beta", 1.0))}

    def __init__(self, beta=1.0, likelihood="bernoulli", scale="learned", **kwargs):
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"Unknown likelihood {likelihood!r}; expected one of {', '.join(LIKELIHOODS)}.")
        if not (isinstance(beta, (int, float)) and np.isfinite(beta) and beta >= 0):
            raise ValueError(f"`beta` must be a finite number >= 0, got {beta!r}.")
        if scale != "learned" and not (isinstance(scale, (int, float)) and np.isfinite(scale)
                                       and scale > 0):
            raise ValueError(f"`scale` must be a finite number > 0 or 'learned', got {scale!r}.")
        kwargs.pop("reconstruction_loss", None)
        super().__init__(reconstruction_loss="bce" if likelihood == "bernoulli" else "mse", **kwargs)
        self.likelihood = likelihood
        self.scale = scale if scale == "learned" else float(scale)
        self.beta_value = float(beta)
        self.beta = self.add_weight(
            shape=(), initializer=keras.initializers.Constant(self.beta_value),
            trainable=False, name="beta",
        )
        self.log_scale = None
        if likelihood == "gaussian" and scale == "learned":
            self.log_scale = self.add_weight(
                shape=(), initializer=keras.initializers.Constant(np.log(0.1)), name="log_scale"
            )

    @property
    def code_dim(self):
        return 2 * self.latent_dim

    # -------------------------------------------------------------- distributions
    def posterior_params(self, x, training=False, condition=None):
        """``(z_mean, z_log_var, side)``: the posterior's parameters for ``x``."""
        head, side = self._encoder_head(x, training, condition)
        if isinstance(head, dict):
            mean, log_var = head["z_mean"], head["z_log_var"]
        elif isinstance(head, (list, tuple)):
            mean, log_var = head
        else:
            if head.shape[-1] is not None and head.shape[-1] != self.code_dim:
                raise ValueError(
                    f"The encoder of {type(self).__name__} must output 2 * latent_dim = "
                    f"{self.code_dim} values (the posterior mean, then its log-variance), or "
                    f"a pair / a dict {{'z_mean', 'z_log_var'}}; it outputs {head.shape[-1]}.")
            mean, log_var = ops.split(head, 2, axis=-1)
        mean = ops.cast(mean, "float32")
        log_var = ops.clip(ops.cast(log_var, "float32"), *_LOG_VAR_RANGE)
        return mean, log_var, side

    def posterior(self, x, training=False, condition=None):
        """q(z|x) as a ``tfd.MultivariateNormalDiag``."""
        mean, log_var, _ = self.posterior_params(x, training, condition)
        return tfd.MultivariateNormalDiag(loc=mean, scale_diag=ops.exp(0.5 * log_var))

    def prior(self, condition=None):
        """p(z) = N(0, I) as a ``tfd.MultivariateNormalDiag`` (the same under every condition;
        a learned prior overrides it)."""
        return tfd.MultivariateNormalDiag(
            loc=tf.zeros(self.latent_dim), scale_diag=tf.ones(self.latent_dim)
        )

    def posterior_draw(self, mean, log_var, eps):
        """``(z, log q(z|x))`` for standard-normal noise ``eps`` (..., B, D): the
        reparameterized draw z = mu + sigma * eps and its log density, summed over
        dimensions (a flow posterior transforms z further and corrects the density)."""
        z = mean + ops.exp(0.5 * log_var) * eps
        log_q = -0.5 * ops.sum(ops.square(eps) + log_var + _LOG_2PI, axis=-1)
        return z, log_q

    def kl_term(self, mean, log_var, z, log_q, condition=None):
        """The mean KL(q(z|x) || p(z)): analytic when :attr:`analytic_kl`, otherwise the
        Monte Carlo estimate, the mean of log q(z|x) - log p(z) at the draws ``z``."""
        if self.analytic_kl:
            q = tfd.MultivariateNormalDiag(loc=mean, scale_diag=ops.exp(0.5 * log_var))
            return ops.mean(tfd.kl_divergence(q, self.prior(condition)))
        return ops.mean(log_q - self.prior(condition).log_prob(z))

    def _event_ndims(self, logits):
        return len(self.example_shape) if self.example_shape else len(logits.shape) - 1

    def likelihood_distribution(self, logits):
        """p(x|z) for decoder outputs ``logits``, independent over pixels."""
        logits = ops.cast(logits, "float32")
        ndims = self._event_ndims(logits)
        if self.likelihood == "bernoulli":
            base = tfd.Bernoulli(logits=logits, dtype=tf.float32)
        else:
            scale = ops.exp(self.log_scale) if self.log_scale is not None else self.scale
            base = tfd.Normal(loc=logits, scale=scale)
        return tfd.Independent(base, reinterpreted_batch_ndims=ndims)

    def decoder_log_prob(self, logits, target):
        """log p(target | z): ``likelihood_distribution(logits).log_prob(target)``, summed
        over each example's elements (``target`` broadcasts against ``logits``).

        For the Bernoulli this is the closed form x * l - softplus(l), written as minus the
        binary cross-entropy on logits (as ``reconstruction_error`` writes it; stable for any
        logit): the same value as TFP's ``Bernoulli.log_prob``, which adds two softplus
        terms, in one softplus; the dense VAE trains ~3% faster on CPU.
        """
        if self.likelihood != "bernoulli":
            return self.likelihood_distribution(logits).log_prob(target)
        logits = ops.cast(logits, "float32")
        target = tf.broadcast_to(ops.cast(target, "float32"), tf.shape(logits))
        per_element = -ops.binary_crossentropy(target, logits, from_logits=True)
        return ops.sum(per_element, axis=tuple(range(-self._event_ndims(logits), 0)))

    # ------------------------------------------------------------------ objective
    def elbo_terms(self, x, y=None, *, labels=None, training=False):
        """The parts of the ELBO for a batch (under ``labels`` for a conditional model).

        Returns a dict: ``q`` (the Gaussian q(z|x), before any flow), ``z`` (one
        reparameterized draw, z = mu + sigma * eps), ``log_q`` (log q(z|x) at it),
        ``reconstruction`` (-log p(x|z), batch mean) and ``kl`` (:meth:`kl_term`).
        """
        condition = self.condition(labels)
        mean, log_var, side = self.posterior_params(x, training, condition)
        q = tfd.MultivariateNormalDiag(loc=mean, scale_diag=ops.exp(0.5 * log_var))
        # The reparameterization trick, z = mu + sigma * eps, eps ~ N(0, I) drawn statelessly
        # (Philox: XLA's CPU lowering of the default generator is ~50x slower).
        eps = _random.normal(ops.shape(mean), self.seed_generator)
        z, log_q = self.posterior_draw(mean, log_var, eps)
        logits = self._decoder_logits(self.decoder_input(z, condition), side, training)
        target = ops.cast(self.reconstruction_target(x, y), "float32")
        rec = -ops.mean(self.decoder_log_prob(logits, target))
        kl = self.kl_term(mean, log_var, z, log_q, condition)
        return {"q": q, "z": z, "log_q": log_q, "z_mean": mean, "z_log_var": log_var,
                "reconstruction": rec, "kl": kl}

    def log_weights(self, x, num_samples, *, target=None, condition=None, seed=None,
                    training=False):
        """The importance weights of ``num_samples`` = S draws z_s ~ q(z|x) per example:
        log w_s = log p(x|z_s) + log p(z_s) - log q(z_s|x).

        Returns a dict of ``log_px``, ``log_pz``, ``log_q`` (each (S, B); their sum with
        the sign above is log w), ``z`` (S, B, D), ``z_mean`` and ``z_log_var`` (B, D).
        The noise comes from the stateless ``seed`` (int32 [2]), or else from the model's
        seed generator; ``target`` (default ``x``) is what p(x|z) scores.
        """
        mean, log_var, side = self.posterior_params(x, training, condition)
        batch = ops.shape(mean)[0]
        shape = (num_samples, batch, self.latent_dim)
        eps = (_random.normal(shape, self.seed_generator) if seed is None
               else tf.random.stateless_normal(shape, seed, alg="philox"))
        z, log_q = self.posterior_draw(mean, log_var, eps)
        flat_z = ops.reshape(z, (-1, self.latent_dim))
        flat_cond = None if condition is None else ops.tile(condition, (num_samples, 1))
        flat_side = {name: ops.tile(v, (num_samples,) + (1,) * (len(v.shape) - 1))
                     for name, v in side.items()}
        logits = self._decoder_logits(self.decoder_input(flat_z, flat_cond), flat_side, training)
        logits = ops.reshape(logits, (num_samples, batch, *logits.shape[1:]))
        target = ops.cast(x if target is None else target, "float32")
        return {"log_px": self.decoder_log_prob(logits, target[None]),
                "log_pz": self.prior(condition).log_prob(z), "log_q": log_q, "z": z,
                "z_mean": mean, "z_log_var": log_var}

    def report(self, terms, loss, **extra):
        """The tracked terms: loss, reconstruction_loss, kl, elbo, plus ``extra``."""
        rec, kl = terms["reconstruction"], terms["kl"]
        return {"loss": loss, "reconstruction_loss": rec, "kl": kl, "elbo": -(rec + kl), **extra}

    def objective(self, x, y=None, *, labels=None, training=False):
        terms = self.elbo_terms(x, y, labels=labels, training=training)
        return self.report(terms, terms["reconstruction"] + self.beta * terms["kl"])

    # ------------------------------------------------------------------ public API
    def forward(self, x, training=False, condition=None):
        """``(posterior mean, decoder outputs at the mean)``: the deterministic pass."""
        mean, _, side = self.posterior_params(x, training, condition)
        return mean, self._decoder_logits(self.decoder_input(mean, condition), side, training)

    def codes(self, x, condition=None, training=False, return_distribution=False):
        """The posterior mean of a batch; with ``return_distribution``, ``(mean, scale)``."""
        mean, log_var, _ = self.posterior_params(x, training, condition)
        return (mean, ops.exp(0.5 * log_var)) if return_distribution else mean

    def serving_encode(self, x, condition=None):
        """``code`` (the posterior mean, ``== z_mean``) and ``z_log_var`` (log sigma^2)."""
        mean, log_var, _ = self.posterior_params(x, False, condition)
        return {"code": mean, "z_mean": mean, "z_log_var": log_var}

    def sample_codes(self, seeds, *, labels=None):
        """z_i ~ N(0, I) from the stateless seed ``seeds[i]`` (:func:`prior_draws`)."""
        return prior_draws(seeds, self.latent_dim)

    def log_likelihood(self, x, *, labels=None, num_samples=50, batch_size=64, seed=0):
        """Importance-weighted estimate of log p(x) per example (Burda et al. 2016).

        log p(x) ~= logsumexp_k [log p(x|z_k) + log p(z_k) - log q(z_k|x)] - log K,
        z_k ~ q(z|x), K = ``num_samples``, with the model's own posterior
        (:meth:`posterior_draw`: a flow's log q includes its log-determinants) and prior
        (:meth:`prior`). K = 1 is a one-sample ELBO; the estimate is a lower bound that
        tightens as K grows. Runs through one compiled function, ``batch_size`` examples a
        call (fewer when K x batch_size would exceed :data:`IWAE_DECODES_PER_CALL`
        decodes); the draws are a function of ``seed`` and the batching. Returns numpy.
        """
        if isinstance(num_samples, bool) or int(num_samples) != num_samples or num_samples < 1:
            raise ValueError(f"`num_samples` must be an integer >= 1, got {num_samples!r}.")
        k = int(num_samples)
        x = np.asarray(x, dtype="float32")
        self._check_concrete(x, self.example_shape, "x", self.input_range())
        _checks.check_labels(self, labels, len(x))
        labels = None if labels is None else np.asarray(labels).reshape(-1)
        step = max(1, min(_checks.check_count(batch_size, "batch_size"), IWAE_DECODES_PER_CALL // k))
        key = ("log_likelihood", k)
        if key not in self._compiled_functions:
            self._compiled_functions[key] = tf.function(
                lambda xb, seed_b, condition: self._iwae_batch(xb, k, seed_b, condition),
                autograph=False, reduce_retracing=True)
        function = self._compiled_functions[key]
        out = []
        for i, start in enumerate(range(0, len(x), step)):
            part = slice(start, start + step)
            condition = None if labels is None else self.condition(labels[part])
            out.append(function(tf.constant(x[part]), tf.constant([int(seed), i], tf.int32),
                                condition).numpy())
        return np.concatenate(out) if out else np.zeros((0,), "float32")

    def _iwae_batch(self, x, k, seed, condition=None):
        w = self.log_weights(x, k, condition=condition, seed=seed)
        return log_mean_exp(w["log_px"] + w["log_pz"] - w["log_q"])

    def kl_per_dim(self, x, *, labels=None, batch_size=None):
        """KL(q(z_j|x) || N(0, 1)) per latent dimension j, averaged over ``x``: shape (latent_dim,)."""
        mean, scale = self.encode(x, labels=labels, batch_size=batch_size, return_distribution=True)
        per_dim = tfd.kl_divergence(tfd.Normal(mean, scale), tfd.Normal(0.0, 1.0))
        return ops.convert_to_numpy(ops.mean(per_dim, axis=0))

    def get_config(self):
        config = super().get_config()
        config.pop("reconstruction_loss")
        return {**config, "beta": self.beta_value, "likelihood": self.likelihood,
                "scale": self.scale}


@register("beta_vae")
class BetaVAE(VAE):
    """beta-VAE (Higgins et al. 2017): the VAE objective with beta > 1 (default 4).

    Minimizes -E_q[log p(x|z)] + beta * KL(q(z|x) || N(0, I)).
    """

    @classmethod
    def search_space(cls, options):
        return {"beta": hparams.grid([1, 2, 4, 6, 8, 16], options.get("beta", 4.0),
                                     regularization="larger")}

    def __init__(self, beta=4.0, **kwargs):
        super().__init__(beta=beta, **kwargs)
