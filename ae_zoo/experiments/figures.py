"""The figures ``ae-zoo evaluate`` and ``ae-zoo compare`` draw of one model.

:func:`make_figures` works on any model, in memory or exported: it asks the model what
it can do (``conditional``, ``can_sample``, ``prior_type``, ``denoising``) and skips a
figure with the reason when the model cannot give it.
"""

import dataclasses
import os

import numpy as np

from ae_zoo import viz

FIGURES = ("reconstructions", "samples", "interpolations", "traversals", "latent_scatter",
           "manifold", "latent_ranges")
MAX_TRAVERSAL_DIMS = 12
SCATTER_POINTS = 2000


def most_active_dims(stats, limit):
    """All dimensions up to ``limit``, else the ``limit`` most active (by KL per dimension
    for a Gaussian posterior, else by activity), in order."""
    dim = int(stats["latent_dim"])
    if dim <= limit:
        return list(range(dim))
    score = stats["kl_per_dim"] if stats.get("kl_per_dim") is not None else stats["activity"]
    return sorted(np.argsort(-np.asarray(score))[:limit].tolist())


def scatter_labels(dataset, n):
    """``(labels, what)`` to colour a scatter: class labels, else the first factor, else None."""
    if dataset.y is not None:
        return dataset.y[:n], "class"
    if dataset.factors is not None:
        name = dataset.factor_names[0] if dataset.factor_names else "factor 0"
        return dataset.factors[:n, 0], name
    return None, None


def traversal_values(stats, model, num=9):
    """linspace(-3, 3) (+-3 prior sd) under the prior N(0, I), else the codes' 1st-99th
    percentiles."""
    if model.prior_type == "standard_normal":
        return np.linspace(-3.0, 3.0, num)
    lo, hi = stats["percentile_range"]
    if not hi > lo:
        lo, hi = lo - 1.0, hi + 1.0
    return np.linspace(lo, hi, num)


@dataclasses.dataclass
class _Context:
    model: object
    dataset: object
    stats: dict
    seed: int
    name: str
    autoencoder_samples: bool

    @property
    def labels(self):
        """The dataset's labels when the model is conditional (it encodes under them)."""
        return self.dataset.y if self.model.conditional else None

    def label(self, index):
        return None if self.labels is None else self.labels[index]


def _reconstructions(c, path):
    x, n = c.dataset.x, min(10, len(c.dataset.x))
    corrupted, inputs = None, x[:n]
    if c.model.denoising:  # what it sees in training: a fresh corruption of x
        corrupted = inputs = np.asarray(c.model.corrupt(x[:n]))
    recon = c.model.reconstruct(inputs, labels=c.label(slice(0, n)), batch_size=256)
    noise = f" ({c.model.corruption_description()})" if c.model.denoising else ""
    viz.reconstruction_grid(x[:n], np.asarray(recon), corrupted=corrupted, n=n,
                            title=f"{c.name} on {c.dataset.name}{noise}", path=path)


def _samples(c, path):
    if not c.model.can_sample and not c.autoencoder_samples:
        return ("the model cannot sample: it has no prior of its own and no sampler "
                "(fit one: ae_zoo.samplers)")
    what = (f"draws from {viz.sampling_source(c.model)}" if c.model.can_sample
            else "N(0, I) draws (no prior, no sampler)")
    viz.samples_grid(c.model, n=64, seed=c.seed, title=f"{c.name}: decoded {what}, seed {c.seed}",
                     path=path)
    return None


def _interpolations(c, path):
    x = c.dataset.x
    pairs = min(6, len(x) // 2)
    if pairs < 1:
        return "fewer than 2 examples"
    a, b = np.arange(pairs), len(x) // 2 + np.arange(pairs)
    viz.interpolation_figure(c.model, x[a], x[b], steps=8, labels=c.label(a),
                             title=f"{c.name}: linear interpolation between codes", path=path)
    return None


def _traversals(c, path):
    values = traversal_values(c.stats, c.model)
    dims = most_active_dims(c.stats, MAX_TRAVERSAL_DIMS)
    which = "" if len(dims) == c.stats["latent_dim"] else f", the {len(dims)} most active dims"
    rng = ("+-3 prior sd" if c.model.prior_type == "standard_normal"
           else "the codes' 1st-99th percentiles")
    viz.traversal_figure(c.model, c.dataset.x[0], dims=dims, values=values,
                         labels=c.label(slice(0, 1)),
                         title=f"{c.name}: traversals over {rng}{which}", path=path)
    return None


def _latent_scatter(c, path):
    colours, what = scatter_labels(c.dataset, SCATTER_POINTS)
    if colours is None:
        return f"dataset {c.dataset.name!r} has neither labels nor factors"
    if c.stats["latent_dim"] < 2:
        return "latent_dim 1: nothing to scatter"
    m = min(SCATTER_POINTS, len(c.dataset.x))
    how = "" if c.stats["latent_dim"] == 2 else f", PCA of {c.stats['latent_dim']} dims"
    viz.latent_scatter(c.model, c.dataset.x[:m], colours, method="auto",
                       title=f"{c.name}: codes of {m} {c.dataset.split} examples{how}, "
                             f"coloured by {what}", path=path)
    return None


def _manifold(c, path):
    if c.stats["latent_dim"] < 2:
        return "latent_dim 1"
    dims = tuple(most_active_dims(c.stats, 2))
    kwargs = {} if c.model.prior_type == "standard_normal" else {"x": c.dataset.x[:SCATTER_POINTS]}
    which = "" if c.stats["latent_dim"] == 2 else " (the two most active dims)"
    viz.manifold_figure(c.model, dims=dims, grid=15, labels=c.label(slice(0, 1)), path=path,
                        title=f"{c.name}: decoded grid over z_{dims[0]}, z_{dims[1]}"
                              f"{which}; others at 0", **kwargs)
    return None


def _latent_ranges(c, path):
    viz.latent_range_figure({c.name: c.stats}, title=f"{c.name}: per-dimension code values",
                            path=path)


_DRAW = {"reconstructions": _reconstructions, "samples": _samples,
         "interpolations": _interpolations, "traversals": _traversals,
         "latent_scatter": _latent_scatter, "manifold": _manifold,
         "latent_ranges": _latent_ranges}


def make_figures(model, dataset, out, stats, seed=0, figures=FIGURES, suffix="",
                 autoencoder_samples=False):
    """Writes the figures of one model into ``out``: ``<figure><suffix>.png``.

    ``model``: a Keras model or an exported one (``load_pretrained``); ``stats``: its
    :func:`~ae_zoo.evaluation.latent_stats` on ``dataset``. ``autoencoder_samples``: also
    decode N(0, I) draws for a model that cannot sample (no prior, no sampler: the
    comparison shows what comes out). Returns ``({figure: file name}, {figure: why it was not drawn})``.
    """
    context = _Context(model, dataset, stats, int(seed),
                       getattr(model, "registry_name", None) or type(model).__name__,
                       autoencoder_samples)
    written, skipped = {}, {}
    for figure in figures:
        path = os.path.join(out, f"{figure}{suffix}.png")
        why = _DRAW[figure](context, path)
        if why:
            skipped[figure] = why
        else:
            written[figure] = os.path.basename(path)
    return written, skipped
