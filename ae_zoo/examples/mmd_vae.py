"""An MMD-VAE in one file: the README's "Add your own model" example."""

import keras
from keras import ops

import ae_zoo
from ae_zoo.models import VAE, hparams


def rbf_mmd(a, b, scale=1.0):
    """Biased MMD^2 between two samples (rows) under k(u, v) = exp(-|u - v|^2 / (2 d scale))."""
    def kernel(u, v):
        squared = ops.sum(ops.square(u[:, None, :] - v[None, :, :]), axis=-1)
        return ops.exp(-squared / (2.0 * u.shape[-1] * scale))
    return (ops.mean(kernel(a, a)) + ops.mean(kernel(b, b)) - 2.0 * ops.mean(kernel(a, b)))


@ae_zoo.register("mmd_vae")
class MMDVAE(VAE):
    """MMD-VAE: minimizes -E_q[log p(x|z)] + KL(q(z|x) || N(0, I)) + lambda * MMD(q(z), N(0, I)),
    the MMD between a batch of codes and as many prior draws (Zhao et al. 2019, InfoVAE)."""

    loss_terms = VAE.loss_terms + ("mmd",)        # every term objective() returns, tracked
    tuning_objective = "val_elbo"                 # what a search compares trials by

    @classmethod
    def search_space(cls, options):               # what `ae-zoo tune` searches
        return {"mmd_weight": hparams.log_uniform(1.0, 1000.0, options.get("mmd_weight", 100.0))}

    def __init__(self, mmd_weight=100.0, **kwargs):
        if not float(mmd_weight) >= 0:
            raise ValueError(f"`mmd_weight` must be >= 0, got {mmd_weight!r}.")
        super().__init__(**kwargs)
        self.mmd_weight = float(mmd_weight)

    def objective(self, x, y=None, *, labels=None, training=False):
        terms = self.elbo_terms(x, y, labels=labels, training=training)
        prior = keras.random.normal(ops.shape(terms["z"]), seed=self.seed_generator)
        mmd = rbf_mmd(terms["z"], prior)
        loss = terms["reconstruction"] + terms["kl"] + self.mmd_weight * mmd
        return self.report(terms, loss, mmd=mmd)

    def get_config(self):
        return {**super().get_config(), "mmd_weight": self.mmd_weight}
