"""Regularized deterministic autoencoders (Ghosh et al. 2020, "From variational to
deterministic autoencoders"): the VAE's noise replaced by explicit smoothness penalties,
and samples drawn by ex-post density estimation on the codes (a Gaussian mixture)."""

import tensorflow as tf
from keras import ops

from ae_zoo.models import hparams
from ae_zoo.models.base import Autoencoder
from ae_zoo.models.registry import register


def jacobian_frobenius(function, z):
    """mean_i ||J_f(z_i)||_F^2 = mean_i sum_j ||df(z_i)/dz_ij||^2 for a batch ``z`` (B, d),
    exactly: the Jacobian-vector products J e_j of the d stacked copies of the batch (copy
    j pushing e_j), each by two reverse-mode passes (J v = d/dw <J^T w, v>, linear in w);
    differentiable by an enclosing GradientTape. (TensorFlow's forward-mode
    ForwardAccumulator gives the same values, but its XLA-compiled train step ran ~70x
    slower on this CPU.)"""
    z = ops.cast(z, "float32")
    batch, dim = ops.shape(z)[0], z.shape[-1]
    stacked = ops.tile(z, (dim, 1))  # row j * B + i is z_i
    tangents = ops.repeat(ops.eye(dim, dtype="float32"), batch, axis=0)  # ... pushing e_j
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            inner.watch(stacked)
            out = ops.cast(function(stacked), "float32")
        w = tf.zeros_like(out)
        outer.watch(w)
        vjp = inner.gradient(out, stacked, output_gradients=w)  # J^T w
    jvp = outer.gradient(vjp, w, output_gradients=tangents)  # J e_j
    return ops.sum(ops.square(jvp)) / ops.cast(batch, "float32")


@register()
class RAE(Autoencoder):
    """Regularized autoencoder (Ghosh et al. 2020): minimizes
    rec + beta * 1/2 ||z||^2 + lambda * R(decoder), z = f(x) the deterministic code, rec
    the zoo's per-pixel reconstruction error. R is the decoder's regularizer:
    ``"l2"`` the squared L2 norm of its kernels (RAE-L2, ``rae_l2``), ``"gp"`` the
    gradient penalty ||J_D(z)||_F^2, the squared Frobenius norm of the decoder's Jacobian
    at the code (RAE-GP, ``rae_gp``). It has no prior: ``ae-zoo train`` fits the ex-post
    Gaussian mixture to its codes (the default sampler), as the paper samples.

    Args:
        beta: the code penalty's weight.
        lambda_: the decoder regularizer's weight (default: 1e-5 for l2, 1e-3 for gp).
        regularizer: ``"l2"`` or ``"gp"`` (fixed by the registered variants).
    """

    loss_terms = ("loss", "reconstruction_loss", "code_penalty", "decoder_penalty")
    #: The default lambda of each regularizer (the centre of its search range, two decades
    #: either side).
    DEFAULT_LAMBDAS = {"l2": 1e-5, "gp": 1e-3}
    #: The regularizer a registered variant fixes (None: any, chosen by the argument).
    REGULARIZER = None

    @classmethod
    def search_space(cls, options):
        lam = cls.DEFAULT_LAMBDAS[options.get("regularizer") or cls.REGULARIZER or "l2"]
        return {"beta": hparams.log_uniform(1e-6, 1e-2, options.get("beta", 1e-4)),
                "lambda_": hparams.log_uniform(lam / 100, lam * 100, options.get("lambda_", lam))}

    def __init__(self, beta=1e-4, lambda_=None, regularizer=None, **kwargs):
        fixed = type(self).REGULARIZER
        regularizer = regularizer or fixed or "l2"
        if regularizer not in self.DEFAULT_LAMBDAS:
            raise ValueError(f"Unknown regularizer {regularizer!r}; expected 'l2' or 'gp'.")
        if fixed and regularizer != fixed:
            raise ValueError(f"rae_{fixed} has regularizer {fixed!r}, got regularizer="
                             f"{regularizer!r}; use RAE(regularizer=...) instead.")
        lambda_ = self.DEFAULT_LAMBDAS[regularizer] if lambda_ is None else lambda_
        for name, value in (("beta", beta), ("lambda_", lambda_)):
            if not float(value) >= 0:
                raise ValueError(f"`{name}` must be >= 0, got {value!r}.")
        super().__init__(**kwargs)
        self.beta, self.lambda_, self.regularizer = float(beta), float(lambda_), regularizer

    @property
    def registry_name(self):
        return f"rae_{self.regularizer}"

    def decoder_penalty(self, z, condition=None, side=None, training=False):
        """R(decoder) at the codes ``z``: the sum of its squared kernels (``"l2"``) or the
        batch mean of ||J_D(z)||_F^2 of its outputs (``"gp"``)."""
        if self.regularizer == "l2":
            kernels = [w for w in self.decoder.trainable_weights if "kernel" in w.name]
            return ops.sum(ops.stack([ops.sum(ops.square(ops.cast(w, "float32"))) for w in kernels]))
        copies = z.shape[-1]

        def decode(stacked):
            tiled_condition = None if condition is None else ops.tile(condition, (copies, 1))
            tiled_side = {k: ops.tile(v, (copies,) + (1,) * (len(v.shape) - 1))
                          for k, v in (side or {}).items()}
            return self._decoder_logits(self.decoder_input(stacked, tiled_condition),
                                        tiled_side, training)

        return jacobian_frobenius(decode, z)

    def objective(self, x, y=None, *, labels=None, training=False):
        condition = self.condition(labels)
        code, side = self._encoder_head(x, training, condition)
        logits = self._decoder_logits(self.decoder_input(code, condition), side, training)
        rec = self.reconstruction_loss_value(self.reconstruction_target(x, y), logits)
        code_penalty = ops.mean(0.5 * ops.sum(ops.square(ops.cast(code, "float32")), axis=-1))
        decoder_penalty = self.decoder_penalty(code, condition, side, training)
        loss = rec + self.beta * code_penalty + self.lambda_ * decoder_penalty
        return {"loss": loss, "reconstruction_loss": rec, "code_penalty": code_penalty,
                "decoder_penalty": decoder_penalty}

    def get_config(self):
        return {**super().get_config(), "beta": self.beta, "lambda_": self.lambda_,
                "regularizer": self.regularizer}


@register("rae_l2")
class RAEL2(RAE):
    """RAE-L2: :class:`RAE` with lambda * ||theta_decoder||^2 (weight decay on the decoder)."""

    REGULARIZER = "l2"


@register("rae_gp")
class RAEGP(RAE):
    """RAE-GP: :class:`RAE` with lambda * ||J_D(z)||_F^2 (a gradient penalty on the decoder)."""

    REGULARIZER = "gp"
