"""The new models' ``log_likelihood`` against a brute-force numpy log p(x).

On a tiny model with a 2-d latent, log p(x) = log int p(x|z) p(z) dz is computed by
quadrature on a grid of 241 x 241 points (the decoder's logits at each point, the prior's
density in numpy: N(0, I), or the mixture's logsumexp), independent of the posterior and
of its flow. The model's importance-weighted estimate, which uses the model's own q(z|x)
(its flow's log-determinants) and p(z), must agree within its Monte Carlo error; a
one-sample estimate must lie clearly below, so the agreement is not trivial. The same
holds for the VampPrior under labels (a subclass with ``conditional = True``).
"""

import keras
import numpy as np
import pytest

from ae_zoo import models
from tests import battery
from tests.models.test_priors import (
    mog_components,
    np_mixture_log_prob,
    vamp_components,
)
from tests.models.test_vae import SHAPE, grid_quadrature, prototype_images

NUM_CLASSES = 3


def conditional(cls):
    return type(f"Conditional{cls.__name__}", (cls,), {"conditional": True, "num_classes": NUM_CLASSES})


def fitted(name, labelled):
    cls = models.get(name)
    cls = conditional(cls) if labelled else cls
    keras.utils.set_random_seed(1)
    model = cls(latent_dim=2, input_shape=SHAPE, hidden_units=(32,), seed=1)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=False)
    x = prototype_images(96, seed=0)
    labels = np.arange(96) % NUM_CLASSES if labelled else None
    model.fit(x, labels, epochs=6, batch_size=32, verbose=0)
    return model


def log_prior_fn(model, label):
    """log p(z) (given the label) of the model's prior, in numpy."""
    if model.prior_type == "standard_normal":
        return None  # grid_quadrature's default, N(0, I)
    if hasattr(model, "pseudo_input_logits"):
        loc, scale = vamp_components(model, labels=label)
        return lambda z: np_mixture_log_prob(z, -np.log(len(loc)), loc, scale)
    return lambda z: np_mixture_log_prob(z, *mog_components(model))


def brute_force_log_px(model, x, labels):
    out = np.empty(len(x))
    for label in (None,) if labels is None else np.unique(labels):
        rows = slice(None) if label is None else labels == label
        condition = None if label is None else np.eye(NUM_CLASSES, dtype="float32")[[label]]

        def logits(grid, condition=condition):
            c = None if condition is None else np.repeat(condition, len(grid), 0)
            return model.decoder(model.decoder_input(grid, c))

        zeros = np.zeros((len(x[rows]), 2))  # a posterior the quadrature of log p(x) ignores
        out[rows], _ = grid_quadrature(logits, x[rows], zeros, zeros, half_width=8.0, points=241,
                                       log_prior=log_prior_fn(model, label))
    return out


#: The IWAE family trains on different bounds but scores log p(x) on one code path (the
#: VAE's q and N(0, I)): iwae stands for it. Under labels only the VampPrior's p(z|y)
#: changes with the label (the flows see it through q_0's context, the mixture ignores it).
CASES = [(name, False) for name in ("iwae", "vae_iaf", "vae_nf", "vamp", "mog_vae")] + [
    ("vamp", True)]


@pytest.mark.parametrize("name,labelled", CASES,
                         ids=[f"{n}-{'labelled' if c else 'unlabelled'}" for n, c in CASES])
def test_log_likelihood_agrees_with_brute_force(name, labelled):
    model = fitted(name, labelled)
    x = prototype_images(8, seed=5)
    labels = np.arange(8) % NUM_CLASSES if labelled else None
    log_px = brute_force_log_px(model, x, labels)
    runs = np.stack([model.log_likelihood(x, labels=labels, num_samples=2000, batch_size=8, seed=s)
                     for s in range(6)])
    # The standard error of the mean of the runs, pooled over the examples (6 runs alone
    # estimate one example's spread poorly: the weights are heavy-tailed).
    error = np.sqrt(np.mean(runs.var(0, ddof=1)) / len(runs)) + 1e-3
    gap = runs.mean(0) - log_px
    reps = 64  # one-draw estimates (the ELBO) of each example, in one call
    one = model.log_likelihood(np.tile(x, (reps, 1, 1, 1)), num_samples=1, batch_size=reps * 8,
                               labels=None if labels is None else np.tile(labels, reps))
    elbo_gap = one.reshape(reps, 8).mean(0) - log_px
    assert np.all(gap < 5 * error), (gap, error)  # a lower bound, up to its Monte Carlo error
    assert np.mean(elbo_gap) < -0.1, elbo_gap  # one draw is clearly looser, so K matters
    assert np.all(gap > 0.1 * elbo_gap - 5 * error), (gap, elbo_gap)  # and K = 2000 closes it


#: The IWAE trains on K draws per example, the IAF VAE on one draw through a flow of
#: (K, B, D) codes in ``log_likelihood``: the two ways the switches are tiled over draws.
@pytest.mark.parametrize("name", ["iwae", "vae_iaf"])
def test_objective_and_log_likelihood_agree_on_pooling_switches(name):
    """With ``conv_unpool`` networks (the encoder's switches must reach the decoder for
    every draw), the ELBO the objective tracks and the one-draw ``log_likelihood`` are two
    estimates of the same expectation."""
    keras.utils.set_random_seed(0)
    model = models.create(name, latent_dim=2, input_shape=battery.SHAPE,
                          architecture="conv_unpool", filters=(4,), seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=False)
    x = np.tile(battery.digits(16)[0], (40, 1, 1, 1))
    model.fit(x[:64], epochs=2, batch_size=16, verbose=0)
    elbo = model.evaluate(x, batch_size=len(x), return_dict=True, verbose=0)["elbo"]
    one = model.log_likelihood(x, num_samples=1, batch_size=len(x))
    error = one.std() / np.sqrt(len(one))
    assert abs(one.mean() - elbo) < 6 * error, (one.mean(), elbo, error)
