"""The sparse autoencoder: an L1 or a KL sparsity penalty on the code."""

import math

from keras import ops

from ae_zoo.models import hparams
from ae_zoo.models.base import Autoencoder
from ae_zoo.models.registry import register

SPARSITY_PENALTIES = ("l1", "kl")


def kl_sparsity(code, target_sparsity, epsilon=1e-7):
    """sum_j KL(Bernoulli(rho) || Bernoulli(rho_hat_j)), rho_hat_j = batch mean of unit j.

    KL(rho || rho_hat) = rho log(rho / rho_hat) + (1 - rho) log((1 - rho) / (1 - rho_hat)).
    """
    rho = target_sparsity
    rho_hat = ops.clip(ops.mean(ops.cast(code, "float32"), axis=0), epsilon, 1.0 - epsilon)
    kl = rho * ops.log(rho / rho_hat) + (1.0 - rho) * ops.log((1.0 - rho) / (1.0 - rho_hat))
    return ops.sum(kl)


@register("sparse_ae")
class SparseAutoencoder(Autoencoder):
    """Autoencoder with a sparsity penalty on its code h.

    ``sparsity="l1"``: loss = rec + w * mean_{batch, j} |h_j|.
    ``sparsity="kl"``: the code units are sigmoids and
    loss = rec + w * sum_j KL(Bernoulli(rho) || Bernoulli(rho_hat_j)), rho_hat_j
    the batch-mean activation of unit j and rho = ``target_sparsity``
    (Ng, "Sparse autoencoder", CS294A lecture notes, 2011).
    ``w`` is ``sparsity_weight``; the tracked ``sparsity_loss`` is the weighted term.
    """

    loss_terms = ("loss", "reconstruction_loss", "sparsity_loss")
    #: The sparsity weight is searched, so trials compare on the reconstruction alone.
    tuning_objective = "val_reconstruction_loss"

    @classmethod
    def search_space(cls, options):
        space = {"sparsity_weight": hparams.log_uniform(1e-3, 1.0, options.get("sparsity_weight", 0.1))}
        if options.get("sparsity", "kl") == "kl":  # the target only enters the KL penalty
            space["target_sparsity"] = hparams.log_uniform(0.01, 0.2,
                                                           options.get("target_sparsity", 0.05))
        return space

    def __init__(self, sparsity="kl", sparsity_weight=0.1, target_sparsity=0.05, **kwargs):
        if sparsity not in SPARSITY_PENALTIES:
            raise ValueError(
                f"Unknown sparsity {sparsity!r}; expected one of {', '.join(SPARSITY_PENALTIES)}."
            )
        if not 0.0 < float(target_sparsity) < 1.0:
            raise ValueError(f"`target_sparsity` must be in (0, 1), got {target_sparsity}.")
        if not 0 <= float(sparsity_weight) < math.inf:  # NaN fails both comparisons
            raise ValueError(f"`sparsity_weight` must be a finite number >= 0, got {sparsity_weight}.")
        super().__init__(**kwargs)
        self.sparsity = sparsity
        self.sparsity_weight = float(sparsity_weight)
        self.target_sparsity = float(target_sparsity)

    def _encoder_head(self, x, training=False, condition=None):
        code, side = super()._encoder_head(x, training, condition)
        if self.sparsity == "kl":
            code = ops.sigmoid(code)
        return code, side

    def sparsity_penalty(self, code):
        """The unweighted penalty: mean |h| (l1) or the summed Bernoulli KL (kl)."""
        if self.sparsity == "l1":
            return ops.mean(ops.abs(ops.cast(code, "float32")))
        return kl_sparsity(code, self.target_sparsity)

    def objective(self, x, y=None, *, labels=None, training=False):
        code, logits = self.forward(x, training, self.condition(labels))
        rec = self.reconstruction_loss_value(self.reconstruction_target(x, y), logits)
        sparsity = self.sparsity_weight * self.sparsity_penalty(code)
        return {"loss": rec + sparsity, "reconstruction_loss": rec, "sparsity_loss": sparsity}

    def get_config(self):
        return {
            **super().get_config(),
            "sparsity": self.sparsity,
            "sparsity_weight": self.sparsity_weight,
            "target_sparsity": self.target_sparsity,
        }
