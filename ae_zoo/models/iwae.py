"""Importance-weighted training: the IWAE (Burda et al. 2016) and the MIWAE, PIWAE and
CIWAE of Rainforth et al. (2018), "Tighter variational bounds are not necessarily better".

Each draws S codes per example from the VAE's q(z|x) and weighs them with
:meth:`~ae_zoo.models.VAE.log_weights`, log w_s = log p(x|z_s) + log p(z_s) - log q(z_s|x):

* IWAE_K = E[log (1/K) sum_k w_k], tighter as K grows (K = 1 is the ELBO);
* MIWAE_{M,K} = (1/M) sum_m IWAE_K(group m): S = M * K draws in M groups of K;
* CIWAE_beta = beta * ELBO + (1 - beta) * IWAE_K on the same K draws.

Every model tracks the VAE's terms (``reconstruction_loss``: -log p(x|z) averaged over the
S draws; ``kl``: the analytic KL(q(z|x) || N(0, I)); ``elbo`` = -(reconstruction_loss + kl))
and ``iwae_bound``, the IWAE bound over all S draws. They take labels as the VAE does: a
subclass with ``conditional = True`` and ``num_classes`` trains q(z|x, y) and p(x|z, y) on
the same bounds, the prior staying N(0, I).
"""

import tensorflow as tf
from keras import ops

from ae_zoo.models import _checks, hparams
from ae_zoo.models.registry import register
from ae_zoo.models.vae import VAE, log_mean_exp

_SAMPLE_COUNTS = (1, 2, 4, 5, 8, 10, 20, 50)


class ImportanceWeighted(VAE):
    """The part the importance-weighted models share: S = ``num_groups * num_samples``
    draws per example, their log weights and the VAE's terms on them."""

    loss_terms = VAE.loss_terms + ("iwae_bound",)
    maximized_terms = ("elbo", "iwae_bound")
    #: Trials of a search compare the IWAE bound at their own K, which favours a larger K
    #: (as log p(x) does, at a cost in time); the ELBO would always favour K = 1.
    tuning_objective = "val_iwae_bound"
    num_groups = 1

    def __init__(self, num_samples=5, **kwargs):
        self.num_samples = _checks.check_count(num_samples, "num_samples")
        super().__init__(**kwargs)

    def importance_terms(self, x, y=None, *, labels=None, training=False):
        """``log_w`` (S, B) of S = num_groups * num_samples draws per example, and the
        VAE's ``reconstruction`` and ``kl`` on them (batch means)."""
        condition = self.condition(labels)
        w = self.log_weights(x, self.num_groups * self.num_samples, condition=condition,
                             target=self.reconstruction_target(x, y), training=training)
        kl = self.kl_term(w["z_mean"], w["z_log_var"], w["z"], w["log_q"], condition)
        return {"log_w": w["log_px"] + w["log_pz"] - w["log_q"],
                "reconstruction": -ops.mean(w["log_px"]), "kl": kl}

    def bounds(self, log_w):
        """``(IWAE bound over all S draws, MIWAE bound over the M groups)``, batch means."""
        groups = ops.reshape(log_w, (self.num_groups, self.num_samples, -1))
        return (ops.mean(log_mean_exp(log_w)),
                ops.mean(log_mean_exp(groups, axis=1)))

    def get_config(self):
        return {**super().get_config(), "num_samples": self.num_samples}


@register("iwae")
class IWAE(ImportanceWeighted):
    """Importance weighted autoencoder (Burda et al. 2016).

    Minimizes -IWAE_K = -E[log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x)], z_1..z_K ~ q(z|x),
    K = ``num_samples`` (default 5); K = 1 is the VAE. ``kl`` is the analytic
    KL(q(z|x) || N(0, I)), a diagnostic: the bound itself weighs no KL term, so the model
    has no ``beta``.

    Example:
        >>> iwae = IWAE(num_samples=5, latent_dim=16, input_shape=(28, 28, 1))
        >>> iwae.compile(); iwae.fit(x_train, epochs=10)
        >>> log_px = iwae.log_likelihood(x_test, num_samples=1000)
    """

    beta_is_kl_weight = False
    excluded_arguments = VAE.excluded_arguments + ("beta",)

    @classmethod
    def search_space(cls, options):
        return {"num_samples": hparams.choice(_SAMPLE_COUNTS, options.get("num_samples", 5))}

    def __init__(self, num_samples=5, **kwargs):
        if "beta" in kwargs:
            raise TypeError(f"{type(self).__name__} has no `beta`: its bound weighs no KL term.")
        super().__init__(num_samples=num_samples, **kwargs)

    def objective(self, x, y=None, *, labels=None, training=False):
        terms = self.importance_terms(x, y, labels=labels, training=training)
        iwae = ops.mean(log_mean_exp(terms["log_w"]))
        return self.report(terms, -iwae, iwae_bound=iwae)

    def get_config(self):
        config = super().get_config()
        config.pop("beta")
        return config


@register("miwae")
class MIWAE(IWAE):
    """Multiply importance weighted autoencoder (Rainforth et al. 2018).

    Minimizes -MIWAE_{M,K} = -(1/M) sum_m E[log (1/K) sum_k w_{m,k}], M = ``num_groups``
    groups of K = ``num_samples`` draws (default 4 x 4): a looser bound than the IWAE on
    all M * K draws, whose encoder gradient has a higher signal-to-noise ratio. M = 1 is
    the IWAE. Tracks ``miwae_bound`` and ``iwae_bound`` (the IWAE bound of all M * K draws).
    """

    loss_terms = IWAE.loss_terms + ("miwae_bound",)
    maximized_terms = IWAE.maximized_terms + ("miwae_bound",)

    @classmethod
    def search_space(cls, options):
        return {"num_groups": hparams.choice((1, 2, 4, 8), options.get("num_groups", 4)),
                "num_samples": hparams.choice((1, 2, 4, 8), options.get("num_samples", 4))}

    def __init__(self, num_groups=4, num_samples=4, **kwargs):
        self.num_groups = _checks.check_count(num_groups, "num_groups")
        super().__init__(num_samples=num_samples, **kwargs)

    def miwae_terms(self, x, y=None, *, labels=None, training=False):
        terms = self.importance_terms(x, y, labels=labels, training=training)
        iwae, miwae = self.bounds(terms["log_w"])
        return terms, iwae, miwae

    def objective(self, x, y=None, *, labels=None, training=False):
        terms, iwae, miwae = self.miwae_terms(x, y, labels=labels, training=training)
        return self.report(terms, -miwae, iwae_bound=iwae, miwae_bound=miwae)

    def get_config(self):
        return {**super().get_config(), "num_groups": self.num_groups}


@register("piwae")
class PIWAE(MIWAE):
    """Partially importance weighted autoencoder (Rainforth et al. 2018).

    The encoder minimizes -MIWAE_{M,K} and the decoder -IWAE_{M*K}, on the same M * K
    draws per example: the tight bound for the generative model, the high-SNR one for the
    inference network. ``loss`` is the decoder's, -iwae_bound (plus any layer
    regularizers); ``train_step`` takes the two gradients from one forward pass and
    applies them in one step of the model's optimizer (the two weight sets are disjoint,
    so this is two optimizers with the same settings and one step count).
    """

    def objective(self, x, y=None, *, labels=None, training=False):
        terms, iwae, miwae = self.miwae_terms(x, y, labels=labels, training=training)
        return self.report(terms, -iwae, iwae_bound=iwae, miwae_bound=miwae)

    def train_step(self, data):
        x, y = self._unpack(data)
        with tf.GradientTape(persistent=True) as tape:
            losses = self.terms(x, y, training=True)
            decoder_loss = self.scale_loss(losses["loss"])
            # The same loss with the MIWAE bound in place of the IWAE bound.
            encoder_loss = self.scale_loss(
                losses["loss"] + losses["iwae_bound"] - losses["miwae_bound"])
        encoder = self.encoder.trainable_weights
        own = {id(w) for w in encoder}
        rest = [w for w in self.optimized_weights if id(w) not in own]
        grads = tape.gradient(encoder_loss, encoder) + tape.gradient(decoder_loss, rest)
        del tape
        self.optimizer.apply_gradients(zip(grads, encoder + rest))
        return self.track(losses, x)


@register("ciwae")
class CIWAE(ImportanceWeighted):
    """Combination importance weighted autoencoder (Rainforth et al. 2018).

    Minimizes -(beta * ELBO + (1 - beta) * IWAE_K) on the same K = ``num_samples`` draws
    (default 5), the ELBO being E_q[log p(x|z)] - KL(q(z|x) || N(0, I)) (the KL analytic)
    averaged over the K draws: beta = 1 is the VAE's loss, beta = 0 the IWAE's. ``beta``
    (default 0.5, in [0, 1]) is held in the VAE's ``beta`` variable; it weighs bounds, not
    the KL term, so :class:`~ae_zoo.training.BetaSchedule` refuses the model.
    """

    beta_is_kl_weight = False

    @classmethod
    def search_space(cls, options):
        return {"beta": hparams.uniform(0.0, 1.0, options.get("beta", 0.5)),
                "num_samples": hparams.choice(_SAMPLE_COUNTS, options.get("num_samples", 5))}

    def __init__(self, beta=0.5, num_samples=5, **kwargs):
        if not (isinstance(beta, (int, float)) and 0.0 <= beta <= 1.0):
            raise ValueError(f"`beta` must be a number in [0, 1], got {beta!r}.")
        super().__init__(beta=beta, num_samples=num_samples, **kwargs)

    def objective(self, x, y=None, *, labels=None, training=False):
        terms = self.importance_terms(x, y, labels=labels, training=training)
        iwae = ops.mean(log_mean_exp(terms["log_w"]))
        elbo = -(terms["reconstruction"] + terms["kl"])
        loss = -(self.beta * elbo + (1.0 - self.beta) * iwae)
        return self.report(terms, loss, iwae_bound=iwae)
