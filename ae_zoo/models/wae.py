"""Matching the aggregate posterior q(z) to the prior with the MMD: the Wasserstein
autoencoder (WAE-MMD) and InfoVAE."""

from keras import ops

from ae_zoo import _random
from ae_zoo.models import hparams
from ae_zoo.models.base import Autoencoder
from ae_zoo.models.registry import register
from ae_zoo.models.vae import VAE

MMD_KERNELS = ("rbf", "imq")


def kernel_matrix(a, b, kernel="imq", scale=1.0):
    """k(a_i, b_j) for the rows of ``a`` (n, d) and ``b`` (m, d), with C = 2 d ``scale``
    (``scale``: the prior's variance; Tolstikhin et al. 2018):

    * ``"rbf"``: exp(-||a_i - b_j||^2 / C);
    * ``"imq"`` (inverse multiquadratic): C / (C + ||a_i - b_j||^2).
    """
    if kernel not in MMD_KERNELS:
        raise ValueError(f"Unknown kernel {kernel!r}; expected one of {', '.join(MMD_KERNELS)}.")
    a, b = ops.cast(a, "float32"), ops.cast(b, "float32")
    c = 2.0 * float(a.shape[-1]) * float(scale)
    squared = ops.maximum(ops.sum(ops.square(a), axis=1)[:, None]
                          - 2.0 * ops.matmul(a, ops.transpose(b))
                          + ops.sum(ops.square(b), axis=1)[None, :], 0.0)
    return ops.exp(-squared / c) if kernel == "rbf" else c / (c + squared)


def mmd_unbiased(a, b, kernel="imq", scale=1.0):
    """The unbiased estimate (U-statistic) of MMD^2 between the samples ``a`` (n, d) and
    ``b`` (m, d) under :func:`kernel_matrix` (Gretton et al. 2012, eq. 3):

        1/(n(n-1)) sum_{i != j} k(a_i, a_j) + 1/(m(m-1)) sum_{i != j} k(b_i, b_j)
        - 2/(n m) sum_{i, j} k(a_i, b_j).
    """
    n = ops.cast(ops.shape(a)[0], "float32")
    m = ops.cast(ops.shape(b)[0], "float32")

    def within(kernel_values, count):
        off_diagonal = ops.sum(kernel_values) - ops.sum(ops.diagonal(kernel_values))
        return off_diagonal / (count * (count - 1.0))

    return (within(kernel_matrix(a, a, kernel, scale), n)
            + within(kernel_matrix(b, b, kernel, scale), m)
            - 2.0 * ops.mean(kernel_matrix(a, b, kernel, scale)))


def _check_kernel(kernel, kernel_scale):
    if kernel not in MMD_KERNELS:
        raise ValueError(f"Unknown kernel {kernel!r}; expected one of {', '.join(MMD_KERNELS)}.")
    if not float(kernel_scale) > 0:
        raise ValueError(f"`kernel_scale` must be > 0, got {kernel_scale!r}.")


class _PriorMMD:
    """The MMD^2 between a batch of codes and as many N(0, I) draws (a mixin)."""

    def prior_mmd(self, z):
        z = ops.cast(z, "float32")
        prior = _random.normal(ops.shape(z), self.seed_generator)
        return mmd_unbiased(z, prior, self.kernel, self.kernel_scale)

    def kernel_config(self):
        return {"kernel": self.kernel, "kernel_scale": self.kernel_scale}


@register("wae_mmd")
class WAE(_PriorMMD, Autoencoder):
    """Wasserstein autoencoder with the MMD penalty (Tolstikhin et al. 2018, WAE-MMD).

    Minimizes E[c(x, G(Q(x)))] + lambda * MMD^2(q(z), N(0, I)): Q the deterministic
    encoder, c the zoo's per-pixel reconstruction error (mean BCE on logits, or MSE),
    MMD^2 the unbiased estimate (:func:`mmd_unbiased`) between the batch's codes and as
    many prior draws under the ``kernel`` (``"imq"``, the paper's, or ``"rbf"``) with
    C = 2 d ``kernel_scale``. The decoder's prior is N(0, I): the model is generative.
    The paper's lambda = 10 weighs a summed squared error; per pixel that is about
    10 / (number of pixels), ~0.01 on MNIST.

    Args:
        mmd_weight: lambda.
        kernel, kernel_scale: the MMD's kernel and its scale (the prior's variance, 1).
    """

    loss_terms = ("loss", "reconstruction_loss", "mmd")
    generative = True
    prior_type = "standard_normal"

    @classmethod
    def search_space(cls, options):
        return {"mmd_weight": hparams.log_uniform(0.001, 1.0, options.get("mmd_weight", 0.01))}

    def __init__(self, mmd_weight=0.01, kernel="imq", kernel_scale=1.0, **kwargs):
        if not float(mmd_weight) >= 0:
            raise ValueError(f"`mmd_weight` must be >= 0, got {mmd_weight!r}.")
        _check_kernel(kernel, kernel_scale)
        super().__init__(**kwargs)
        self.mmd_weight = float(mmd_weight)
        self.kernel, self.kernel_scale = kernel, float(kernel_scale)

    def objective(self, x, y=None, *, labels=None, training=False):
        code, logits = self.forward(x, training, self.condition(labels))
        rec = self.reconstruction_loss_value(self.reconstruction_target(x, y), logits)
        mmd = self.prior_mmd(code)
        return {"loss": rec + self.mmd_weight * mmd, "reconstruction_loss": rec, "mmd": mmd}

    def sample_codes(self, seeds, *, labels=None):
        """z_i ~ N(0, I) from the stateless seed ``seeds[i]``."""
        return _random.normal_per_seed(seeds, self.latent_dim)

    def get_config(self):
        return {**super().get_config(), "mmd_weight": self.mmd_weight, **self.kernel_config()}


@register("info_vae")
class InfoVAE(_PriorMMD, VAE):
    """InfoVAE (Zhao et al. 2019, "InfoVAE: balancing learning and inference in
    variational autoencoders").

    Minimizes -E_q[log p(x|z)] + (1 - alpha) KL(q(z|x) || N(0, I))
    + (alpha + lambda - 1) MMD^2(q(z), N(0, I)), the MMD between the batch's posterior
    draws z ~ q(z|x) and as many prior draws (:func:`mmd_unbiased`, ``kernel`` rbf by
    default). alpha = 0, lambda = 1 is the VAE; alpha = 1 drops the KL (the MMD-VAE).
    Tracks the VAE's terms (the ELBO unweighted) and ``mmd``.

    Args:
        alpha: <= 1 (the mutual-information preference).
        lambda_: > 0, with alpha + lambda_ >= 1 (the divergence weight).
        kernel, kernel_scale: the MMD's kernel (C = 2 d kernel_scale).
    """

    loss_terms = VAE.loss_terms + ("mmd",)
    beta_is_kl_weight = False
    excluded_arguments = VAE.excluded_arguments + ("beta",)  # the KL weight is 1 - alpha

    @classmethod
    def search_space(cls, options):
        return {"lambda_": hparams.log_uniform(10.0, 10000.0, options.get("lambda_", 1000.0))}

    def __init__(self, alpha=0.0, lambda_=1000.0, kernel="rbf", kernel_scale=1.0, **kwargs):
        if "beta" in kwargs:
            raise TypeError("InfoVAE has no `beta`: the KL term is weighted by 1 - alpha.")
        if not float(alpha) <= 1.0:
            raise ValueError(f"`alpha` must be <= 1, got {alpha!r}.")
        if not (float(lambda_) > 0 and float(alpha) + float(lambda_) >= 1.0):
            raise ValueError(f"`lambda_` must be > 0 with alpha + lambda_ >= 1, got "
                             f"alpha={alpha!r}, lambda_={lambda_!r}.")
        _check_kernel(kernel, kernel_scale)
        super().__init__(**kwargs)
        self.alpha, self.lambda_ = float(alpha), float(lambda_)
        self.kernel, self.kernel_scale = kernel, float(kernel_scale)

    def objective(self, x, y=None, *, labels=None, training=False):
        terms = self.elbo_terms(x, y, labels=labels, training=training)
        mmd = self.prior_mmd(terms["z"])
        loss = (terms["reconstruction"] + (1.0 - self.alpha) * terms["kl"]
                + (self.alpha + self.lambda_ - 1.0) * mmd)
        return self.report(terms, loss, mmd=mmd)

    def get_config(self):
        config = super().get_config()
        config.pop("beta")
        return {**config, "alpha": self.alpha, "lambda_": self.lambda_, **self.kernel_config()}
