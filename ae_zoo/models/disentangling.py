"""VAEs that disentangle: AnnealedVAE, beta-TCVAE, FactorVAE and DIP-VAE.

Each one is the VAE of :mod:`ae_zoo.models.vae` with one extra pressure on
the aggregate posterior q(z) = E_x[q(z|x)]: a KL capacity target, its total
correlation TC = KL(q(z) || prod_d q(z_d)) (estimated on the minibatch or by a
discriminator), or the moments of q(z) matched to N(0, I).
"""

import math

import keras
import tensorflow as tf
import tensorflow_probability as tfp
from keras import ops

from ae_zoo.models import hparams
from ae_zoo.models._adversarial import (
    AdversarialTraining,
    binary_scores,
    build_discriminator,
    check_discriminator,
)
from ae_zoo.models.registry import register
from ae_zoo.models.vae import VAE

tfd = tfp.distributions

DIP_KINDS = ("i", "ii")


def _non_negative(**values):
    for name, value in values.items():
        if not 0 <= float(value) < math.inf:  # NaN fails both comparisons
            raise ValueError(f"`{name}` must be a finite number >= 0, got {value!r}.")


def _positive_int(name, value):
    if int(value) != value or int(value) < 1:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
    return int(value)


# ------------------------------------------------------------------ AnnealedVAE
@register("annealed_vae")
class AnnealedVAE(VAE):
    """VAE with a controlled KL capacity (Burgess et al. 2018, "Understanding
    disentangling in beta-VAE").

    Minimizes -E_q[log p(x|z)] + gamma * |KL(q(z|x) || N(0, I)) - C(t)|,
    C(t) = c_max * min(1, t / anneal_steps), t the optimizer's iteration count
    (``optimizer.iterations``: 0 before training and in an uncompiled model;
    it carries over between ``fit`` calls and through ``.keras`` save/load).
    Tracks ``capacity`` = C(t) besides the VAE's terms. The model has no beta
    (the inherited ``beta`` variable is unused), so :class:`BetaSchedule`
    refuses it: C(t) is its schedule.
    """

    loss_terms = VAE.loss_terms + ("capacity",)
    auxiliary_terms = ("capacity",)
    beta_is_kl_weight = False
    excluded_arguments = VAE.excluded_arguments + ("beta",)  # the KL is weighted by gamma

    @classmethod
    def search_space(cls, options):
        return {"gamma": hparams.log_uniform(100.0, 2000.0, options.get("gamma", 1000.0)),
                "c_max": hparams.grid([5, 10, 25, 50, 75, 100], options.get("c_max", 25.0),
                                      regularization="smaller")}

    def __init__(self, gamma=1000.0, c_max=25.0, anneal_steps=100000, **kwargs):
        if "beta" in kwargs:
            raise TypeError("AnnealedVAE has no `beta`: the KL term is weighted by `gamma`.")
        _non_negative(gamma=gamma, c_max=c_max)
        anneal_steps = _positive_int("anneal_steps", anneal_steps)
        super().__init__(**kwargs)
        self.gamma = float(gamma)
        self.c_max = float(c_max)
        self.anneal_steps = anneal_steps

    def capacity(self):
        """C(t) = c_max * min(1, t / anneal_steps) at the current iteration t."""
        optimizer = getattr(self, "optimizer", None)
        step = optimizer.iterations if optimizer is not None else 0
        fraction = ops.minimum(ops.cast(step, "float32") / float(self.anneal_steps), 1.0)
        return self.c_max * fraction

    def objective(self, x, y=None, *, labels=None, training=False):
        terms = self.elbo_terms(x, y, labels=labels, training=training)
        capacity = self.capacity()
        loss = terms["reconstruction"] + self.gamma * ops.abs(terms["kl"] - capacity)
        return self.report(terms, loss, capacity=capacity)

    def get_config(self):
        config = super().get_config()
        config.pop("beta")
        return {**config, "gamma": self.gamma, "c_max": self.c_max, "anneal_steps": self.anneal_steps}


# ------------------------------------------------------------------- beta-TCVAE
def minibatch_weighted_tc(z, z_mean, z_log_var, dataset_size):
    """Minibatch-weighted sampling (MWS) estimate of TC = KL(q(z) || prod_d q(z_d)).

    Chen et al. 2018 ("Isolating sources of disentanglement in VAEs"), eq. (S6):
    with a batch of M codes z_i ~ q(z|x_i) from a dataset of N examples,

        log q(z_i)         ~= logsumexp_j log q(z_i | x_j) - log(N M)
        log prod_d q(z_id) ~= sum_d [logsumexp_j log q(z_id | x_j) - log(N M)]
        TC                 ~= mean_i [log q(z_i) - log prod_d q(z_id)].

    The log(N M) terms do not cancel: with D latent dimensions they leave
    + (D - 1) log(N M), which is kept here so the value is the estimator's own
    (the constant does not change the gradient).

    Args:
        z: codes, shape (M, D); z_mean, z_log_var: the Gaussian q(z|x_j) of
            each example in the batch, shape (M, D).
        dataset_size: N, the number of training examples.

    Returns:
        The scalar estimate (float32).
    """
    dataset_size = _positive_int("dataset_size", dataset_size)
    z = ops.cast(z, "float32")
    q = tfd.Normal(loc=ops.cast(z_mean, "float32")[None, :, :],
                   scale=ops.exp(0.5 * ops.cast(z_log_var, "float32"))[None, :, :])
    log_q = q.log_prob(z[:, None, :])  # [i, j, d] = log q(z_id | x_j)
    batch = ops.cast(ops.shape(z)[0], "float32")
    log_nm = math.log(dataset_size) + ops.log(batch)
    log_qz = ops.logsumexp(ops.sum(log_q, axis=-1), axis=1) - log_nm
    log_prod_qzd = ops.sum(ops.logsumexp(log_q, axis=1) - log_nm, axis=-1)
    return ops.mean(log_qz - log_prod_qzd)


@register("beta_tcvae")
class BetaTCVAE(VAE):
    """beta-TCVAE (Chen et al. 2018): the total correlation weighted by beta.

    Minimizes -E_q[log p(x|z)] + KL(q(z|x) || N(0, I)) + (beta - 1) * TC, TC
    the minibatch-weighted sampling estimate :func:`minibatch_weighted_tc`
    (tracked as ``tc``; it includes the estimator's constant (D - 1) log(N M),
    so it is not 0 for independent codes). Since KL = I(x; z) + TC +
    sum_d KL(q(z_d) || p(z_d)) on average, this weighs the TC by beta and the
    other two parts by 1.

    Args:
        beta: the TC weight, held in the ``beta`` variable (assign to it to
            change it without recompiling). Here beta does not weigh the KL
            term, so :class:`BetaSchedule` refuses this model.
        dataset_size: N of the estimator, the number of training examples
            (default 60000, MNIST's); set it to your training set's size.
    """

    loss_terms = VAE.loss_terms + ("tc",)
    beta_is_kl_weight = False

    @classmethod
    def search_space(cls, options):
        return {"beta": hparams.grid([1, 2, 4, 6, 8, 10], options.get("beta", 6.0),
                                     regularization="larger")}

    def __init__(self, beta=6.0, dataset_size=60000, **kwargs):
        self.dataset_size = _positive_int("dataset_size", dataset_size)
        super().__init__(beta=beta, **kwargs)

    def objective(self, x, y=None, *, labels=None, training=False):
        terms = self.elbo_terms(x, y, labels=labels, training=training)
        tc = minibatch_weighted_tc(terms["z"], terms["z_mean"], terms["z_log_var"], self.dataset_size)
        loss = terms["reconstruction"] + terms["kl"] + (self.beta - 1.0) * tc
        return self.report(terms, loss, tc=tc)

    def get_config(self):
        return {**super().get_config(), "dataset_size": self.dataset_size}


# -------------------------------------------------------------------- FactorVAE
def permute_dims(z, seed):
    """Shuffles each column of ``z`` (M, D) independently across the batch: samples of prod_d q(z_d)."""
    keys = tf.random.stateless_uniform(ops.shape(z), seed=seed, alg="philox")  # fast under XLA
    return ops.take_along_axis(z, ops.argsort(keys, axis=0), axis=0)


@register("factor_vae")
class FactorVAE(AdversarialTraining, VAE):
    """FactorVAE (Kim and Mnih 2018, "Disentangling by factorising").

    Minimizes -E_q[log p(x|z)] + beta * KL(q(z|x) || N(0, I)) + gamma * TC,
    TC ~= E_q(z)[log D(z) / (1 - D(z))] (the density-ratio trick, tracked as
    ``tc``): D is a discriminator that outputs one logit, log D / (1 - D),
    trained with its own Adam (lr ``discriminator_learning_rate``, beta_1 0.5,
    beta_2 0.9) to tell codes z ~ q(z) ("real") from codes whose dimensions
    are permuted independently across the batch (samples of prod_d q(z_d)).
    beta is 1 as in the paper; it is the VAE's ``beta`` variable, so
    :class:`BetaSchedule` can warm the KL term up.

    ``train_step`` updates both networks on each batch from one forward pass:
    the VAE (encoder, decoder) with the model's optimizer on the loss above,
    D with its own optimizer on the same batch's codes (gradient stopped, so
    it never updates the encoder) against a fresh permutation of those codes.
    The paper permutes the codes of a second batch; permuting the same batch
    saves an encoder pass and samples the same product of batch marginals.
    The VAE step reads D but never updates it. Tracks ``discriminator_loss`` (the binary
    cross-entropy) and ``discriminator_accuracy``. Both optimizers' states are
    saved in ``.keras`` files.

    Args:
        gamma: the TC weight (the paper's dSprites sweep: 10 to 100).
        discriminator_units: D's hidden layers. The default (256, 256) is
            sized for the CPU; the paper's D is ``(1000,) * 6``
            (:attr:`PAPER_DISCRIMINATOR_UNITS`).
        discriminator_learning_rate: D's Adam learning rate (paper: 1e-4).
    """

    loss_terms = VAE.loss_terms + ("tc", "discriminator_loss", "discriminator_accuracy")
    auxiliary_terms = ("discriminator_loss", "discriminator_accuracy")
    #: Kim and Mnih's discriminator: 6 hidden layers of 1000 leaky-ReLU units.
    PAPER_DISCRIMINATOR_UNITS = (1000,) * 6

    @classmethod
    def search_space(cls, options):
        return {"gamma": hparams.grid([10, 20, 30, 40, 50, 100], options.get("gamma", 35.0),
                                      regularization="larger")}

    def __init__(self, gamma=35.0, discriminator_units=(256, 256), discriminator_learning_rate=1e-4,
                 **kwargs):
        _non_negative(gamma=gamma)
        units, learning_rate = check_discriminator(discriminator_units, discriminator_learning_rate)
        super().__init__(**kwargs)
        self.gamma = float(gamma)
        self.discriminator_units, self.discriminator_learning_rate = units, learning_rate
        self.discriminator = build_discriminator(self.latent_dim, self.discriminator_units)
        self.make_discriminator_optimizer(keras.optimizers.Adam(
            self.discriminator_learning_rate, beta_1=0.5, beta_2=0.9, name="discriminator_adam"))

    def discriminator_loss(self, z, training=False):
        """``(loss, accuracy)`` of D on codes ``z`` (real) and their dimension-wise permutation.

        loss = -(mean log D(z) + mean log(1 - D(z_perm))) / 2, accuracy the
        fraction of the 2M codes D classifies right. ``z`` is held fixed.
        """
        z = ops.stop_gradient(ops.cast(z, "float32"))
        real = self.discriminator(z, training=training)[:, 0]
        fake = self.discriminator(permute_dims(z, self.next_seed()), training=training)[:, 0]
        return binary_scores(real, [fake])

    def objective(self, x, y=None, *, labels=None, training=False):
        terms = self.elbo_terms(x, y, labels=labels, training=training)
        tc = ops.mean(self.discriminator(terms["z"], training=training)[:, 0])
        loss = terms["reconstruction"] + self.beta * terms["kl"] + self.gamma * tc
        d_loss, d_accuracy = self.discriminator_loss(terms["z"], training)
        return self.report(terms, loss, tc=tc, discriminator_loss=d_loss,
                           discriminator_accuracy=d_accuracy)

    def get_config(self):
        return {**super().get_config(), "gamma": self.gamma,
                "discriminator_units": self.discriminator_units,
                "discriminator_learning_rate": self.discriminator_learning_rate}


# ---------------------------------------------------------------------- DIP-VAE
def dip_covariance_penalty(z_mean, z_log_var, kind, lambda_od, lambda_d):
    """DIP-VAE's moment-matching penalty (Kumar et al. 2018, eqs. 6-7).

    lambda_od * sum_{i != j} Cov_ij^2 + lambda_d * sum_i (Cov_ii - 1)^2, with
    Cov = Cov_batch[mu(x)] (``kind="i"``) or Cov_batch[mu(x)] +
    E_batch[diag(sigma^2(x))] (``kind="ii"``, the covariance of q(z)). The
    batch covariance is the population one, E[mu mu^T] - E[mu] E[mu]^T
    (divided by M, numpy's ``np.cov(..., ddof=0)``).
    """
    if kind not in DIP_KINDS:
        raise ValueError(f"Unknown DIP-VAE kind {kind!r}; expected 'i' or 'ii'.")
    mean = ops.cast(z_mean, "float32")
    centered = mean - ops.mean(mean, axis=0, keepdims=True)
    cov = ops.matmul(ops.transpose(centered), centered) / ops.cast(ops.shape(mean)[0], "float32")
    if kind == "ii":
        cov = cov + ops.diag(ops.mean(ops.exp(ops.cast(z_log_var, "float32")), axis=0))
    diagonal = ops.diagonal(cov)
    off_diagonal = cov - ops.diag(diagonal)
    return lambda_od * ops.sum(ops.square(off_diagonal)) + lambda_d * ops.sum(ops.square(diagonal - 1.0))


@register()
class DIPVAE(VAE):
    """DIP-VAE (Kumar et al. 2018, "Variational inference of disentangled latent
    concepts from unlabeled observations").

    Minimizes -E_q[log p(x|z)] + beta * KL(q(z|x) || N(0, I)) +
    lambda_od * sum_{i != j} Cov_ij^2 + lambda_d * sum_i (Cov_ii - 1)^2, the
    penalty :func:`dip_covariance_penalty` (tracked as ``dip_penalty``); Cov is
    the batch covariance of the posterior means (``kind="i"``) or that plus the
    mean posterior variance (``kind="ii"``). beta is 1 as in the paper (the
    VAE's ``beta`` variable, so :class:`BetaSchedule` applies). Registered as
    ``dip_vae_i`` (:class:`DIPVAEI`) and ``dip_vae_ii`` (:class:`DIPVAEII`).

    Args:
        kind: ``"i"`` or ``"ii"``.
        lambda_od: the off-diagonal weight.
        lambda_d: the diagonal weight; default ``10 * lambda_od`` for type i,
            ``lambda_od`` for type ii (the paper's settings).
    """

    loss_terms = VAE.loss_terms + ("dip_penalty",)

    @classmethod
    def search_space(cls, options):
        return {"lambda_od": hparams.grid([1, 2, 5, 10, 20, 50], options.get("lambda_od", 10.0),
                                          regularization="larger")}

    def __init__(self, kind="i", lambda_od=10.0, lambda_d=None, **kwargs):
        if kind not in DIP_KINDS:
            raise ValueError(f"Unknown DIP-VAE kind {kind!r}; expected 'i' or 'ii'.")
        if lambda_d is None:
            lambda_d = 10.0 * float(lambda_od) if kind == "i" else float(lambda_od)
        _non_negative(lambda_od=lambda_od, lambda_d=lambda_d)
        super().__init__(**kwargs)
        self.kind = kind
        self.lambda_od = float(lambda_od)
        self.lambda_d = float(lambda_d)

    @property
    def registry_name(self):
        return f"dip_vae_{self.kind}"

    def objective(self, x, y=None, *, labels=None, training=False):
        terms = self.elbo_terms(x, y, labels=labels, training=training)
        penalty = dip_covariance_penalty(terms["z_mean"], terms["z_log_var"], self.kind,
                                         self.lambda_od, self.lambda_d)
        loss = terms["reconstruction"] + self.beta * terms["kl"] + penalty
        return self.report(terms, loss, dip_penalty=penalty)

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "lambda_od": self.lambda_od,
                "lambda_d": self.lambda_d}


def _fixed_kind(cls_kind, kwargs):
    kind = kwargs.pop("kind", cls_kind)
    if kind != cls_kind:
        raise ValueError(f"DIP-VAE type {cls_kind} got kind={kind!r}; use DIPVAE(kind=...) instead.")
    return kind


@register("dip_vae_i")
class DIPVAEI(DIPVAE):
    """DIP-VAE-I: :class:`DIPVAE` with Cov = Cov_batch[mu(x)], lambda_d = 10 * lambda_od by default."""

    def __init__(self, lambda_od=10.0, lambda_d=None, **kwargs):
        super().__init__(kind=_fixed_kind("i", kwargs), lambda_od=lambda_od, lambda_d=lambda_d, **kwargs)


@register("dip_vae_ii")
class DIPVAEII(DIPVAE):
    """DIP-VAE-II: :class:`DIPVAE` with Cov = Cov_batch[mu(x)] + E_batch[diag(sigma^2(x))],
    lambda_d = lambda_od by default."""

    def __init__(self, lambda_od=10.0, lambda_d=None, **kwargs):
        super().__init__(kind=_fixed_kind("ii", kwargs), lambda_od=lambda_od, lambda_d=lambda_d, **kwargs)
