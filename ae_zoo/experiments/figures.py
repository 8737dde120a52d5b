"""The figures ``ae-zoo train``, ``evaluate`` and ``compare`` draw of one model (and the
traversal animation, a GIF), the bar chart of ``evaluate``'s disentanglement scores, and
the bar charts of ``ae-zoo benchmark``'s leaderboard.

:func:`make_figures` works on any model, in memory or exported: it asks the model what
it can do (``conditional``, ``can_sample``, ``prior_type``, ``denoising``) and skips a
figure with the reason when the model cannot give it.
"""

import dataclasses
import os

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ae_zoo import viz
from ae_zoo.evaluation import scoring

FIGURES = ("reconstructions", "samples", "interpolations", "traversals", "latent_scatter",
           "manifold", "latent_ranges", "traversal_animation")
#: A figure's file extension when it is not a PNG.
EXTENSIONS = {"traversal_animation": ".gif"}
MAX_TRAVERSAL_DIMS = 12
MAX_ANIMATION_DIMS = 32
SCATTER_POINTS = 2000


def most_active_dims(stats, limit):
    """All dimensions up to ``limit``, else the ``limit`` most active (by KL per dimension
    for a Gaussian posterior, else by activity), in order."""
    dim = int(stats["latent_dim"])
    if dim <= limit:
        return list(range(dim))
    score = stats["kl_per_dim"] if stats.get("kl_per_dim") is not None else stats["activity"]
    return sorted(np.argsort(-np.asarray(score))[:limit].tolist())


def inactive_dims(stats):
    """The dimensions :func:`~ae_zoo.evaluation.latent_stats` counts inactive: activity
    A_j = Var_x(E[z_j|x]) <= 0.01 (Burda et al. 2016), the encoder maps every input to
    about the same z_j (a collapsed VAE dimension, whose traversal row barely changes)."""
    mask = stats.get("active_mask")
    return [] if mask is None else np.flatnonzero(~np.asarray(mask, bool)).tolist()


def scatter_labels(dataset, n):
    """``(labels, what, names)`` to colour a scatter: the class labels, else the first
    factor, else Nones; ``names``: what the dataset calls each value (dSprites' shapes),
    or None."""
    value_names = getattr(dataset, "value_names", lambda factor=None: None)
    if dataset.y is not None:
        return dataset.y[:n], "class", value_names()
    if dataset.factors is not None:
        name = dataset.factor_names[0] if dataset.factor_names else "factor 0"
        return dataset.factors[:n, 0], name, value_names(0)
    return None, None, None


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


def _sweep(c):
    """``(values, words)``: what a traversal of the model sweeps, and that in words."""
    return traversal_values(c.stats, c.model), (
        "+-3 prior sd" if c.model.prior_type == "standard_normal"
        else "the codes' 1st-99th percentiles")


def _traversals(c, path):
    values, rng = _sweep(c)
    dims = most_active_dims(c.stats, MAX_TRAVERSAL_DIMS)
    which = "" if len(dims) == c.stats["latent_dim"] else f", the {len(dims)} most active dims"
    inactive = inactive_dims(c.stats)
    grey = "\ngrey: inactive, code variance <= 0.01 over the data" if set(dims) & set(inactive) else ""
    viz.traversal_figure(c.model, c.dataset.x[0], dims=dims, values=values,
                         labels=c.label(slice(0, 1)), inactive=inactive,
                         title=f"{c.name}: traversals over {rng}{which}{grey}", path=path)
    return None


def _traversal_animation(c, path):
    values, _ = _sweep(c)
    viz.traversal_animation(c.model, c.dataset.x[0], values=values,
                            dims=most_active_dims(c.stats, MAX_ANIMATION_DIMS),
                            labels=c.label(slice(0, 1)), inactive=inactive_dims(c.stats),
                            path=path)
    return None


def _latent_scatter(c, path):
    colours, what, names = scatter_labels(c.dataset, SCATTER_POINTS)
    if colours is None:
        return f"dataset {c.dataset.name!r} has neither labels nor factors"
    if c.stats["latent_dim"] < 2:
        return "latent_dim 1: nothing to scatter"
    m = min(SCATTER_POINTS, len(c.dataset.x))
    how = "" if c.stats["latent_dim"] == 2 else f", PCA of {c.stats['latent_dim']} dims"
    viz.latent_scatter(c.model, c.dataset.x[:m], colours, method="auto", class_names=names,
                       label_name=what, title=f"{c.name}: codes of {m} {c.dataset.split} examples{how}, "
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
         "latent_ranges": _latent_ranges, "traversal_animation": _traversal_animation}


def make_figures(model, dataset, out, stats, seed=0, figures=FIGURES, suffix="",
                 autoencoder_samples=False):
    """Writes the figures of one model into ``out``: ``<figure><suffix>.png`` (the
    traversal animation: ``.gif``).

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
        path = os.path.join(out, f"{figure}{suffix}{EXTENSIONS.get(figure, '.png')}")
        why = _DRAW[figure](context, path)
        if why:
            skipped[figure] = why
        else:
            written[figure] = os.path.basename(path)
    return written, skipped


# ------------------------------------------------------------ disentanglement
def disentanglement_figure(disentanglement, title=None, path=None):
    """Bar charts of an evaluation's ``disentanglement`` section: one bar per metric (its
    headline score, with explicitness beside modularity), the value written by the bar.
    The scores in [0, 1] (higher: more disentangled) share one panel; the Gaussian total
    correlations of the unsupervised scores (nats, lower: more factorized) get their own.
    Returns the Figure (None when nothing was scored)."""
    scores = disentanglement["scores"]
    keys = [k for k in scoring.plotted_scores(disentanglement["headline"], scores)
            if scores.get(k) is not None and np.isfinite(scores[k])]
    if not keys:
        return None
    groups = [("score (higher: more disentangled)",
               [k for k in keys if not k.startswith("unsupervised_scores")]),
              ("total correlation, nats (lower: more factorized)",
               [k for k in keys if k.startswith("unsupervised_scores")])]
    groups = [(label, group) for label, group in groups if group]
    fig = Figure(figsize=(7.0, 0.42 * len(keys) + 1.2 * len(groups) + 0.4), layout="constrained")
    axes = fig.subplots(len(groups), 1, squeeze=False,
                        gridspec_kw={"height_ratios": [len(g) + 1 for _, g in groups]})[:, 0]
    names = {**scoring.HEADLINE_LABELS, **scoring.COMPANION_LABELS}
    for ax, (label, group) in zip(axes, groups):
        values = [scores[k] for k in group]
        positions = np.arange(len(group))[::-1]
        ax.barh(positions, values, color="#9ecae1", edgecolor="#525252", linewidth=0.5)
        ax.set_yticks(positions, [names.get(k, k) for k in group], fontsize=8)
        for y, value in zip(positions, values):
            ax.text(value, y, f" {value:.3f}", va="center", fontsize=8)
        ax.set_xlim(min(0.0, min(values)) * 1.15, max(1.0, max(values)) * 1.15)
        ax.set_xlabel(label, fontsize=8)
        ax.grid(axis="x", linewidth=0.4, alpha=0.5)
    preset = disentanglement.get("preset")
    fig.suptitle(title or f"Disentanglement scores{f' ({preset} settings)' if preset else ''}",
                 fontsize=10)
    if path is not None:
        viz.save_figure(fig, path)
    return fig


# ------------------------------------------------------------- leaderboards
#: Bar colours by where a model's samples come from (its prior, or decoded N(0, I) draws).
SOURCE_COLOURS = {"prior": "#9ecae1", "normal": "#fdae6b", None: "#d9d9d9"}
SOURCE_LABELS = {"prior": "samples: prior", "normal": "samples: N(0, I) decoded", None: "no samples"}
OTHER_SOURCE_COLOUR = "#a1d99b"  # any other source (e.g. a fitted sampler), labelled by its name


def _source_style(source):
    return (SOURCE_COLOURS.get(source, OTHER_SOURCE_COLOUR),
            SOURCE_LABELS.get(source, f"samples: {source}"))


def bar_chart(rows, models, seeds, key, label, sources, ax=None, path=None, legend=True):
    """A bar per model (the mean of ``key`` over its runs ``rows``) with each seed's run as
    a point; bars coloured by the model's sample source. Returns the matplotlib Figure (or
    draws on ``ax``)."""
    fig = None
    if ax is None:
        fig = Figure(figsize=(max(4.5, 0.45 * len(models) + 1.5), 3.6), layout="constrained")
        ax = fig.subplots()
    positions = np.arange(len(models))
    values = [[r[key] for r in rows if r["model"] == m and r.get(key) is not None] for m in models]
    means = [np.mean(v) if v else np.nan for v in values]
    ax.bar(positions, means, width=0.7, edgecolor="#525252", linewidth=0.5,
           color=[_source_style(sources.get(m))[0] for m in models])
    markers = "osD^vP*X"
    offsets = np.linspace(-0.2, 0.2, len(seeds)) if len(seeds) > 1 else [0.0]
    for j, seed in enumerate(seeds):
        points = [(i + offsets[j], r[key]) for i, m in enumerate(models) for r in rows
                  if r["model"] == m and r["seed"] == seed and r.get(key) is not None]
        if points:
            ax.scatter(*zip(*points), marker=markers[j % len(markers)], s=14, color="#252525",
                       zorder=3, label=f"seed {seed}")
    ax.set_xticks(positions, models, rotation=45, ha="right", fontsize=7)
    ax.set_title(label, fontsize=9)
    ax.grid(axis="y", linewidth=0.4, alpha=0.5)
    if legend:
        handles = [Patch(facecolor=colour, edgecolor="#525252", label=label) for colour, label
                   in dict.fromkeys(_source_style(sources.get(m)) for m in models)]
        ax.legend(handles=ax.get_legend_handles_labels()[0] + handles, fontsize=6, loc="best",
                  framealpha=0.8)
    if fig is not None and path is not None:
        viz.save_figure(fig, path)
    return fig


def bar_charts(rows, models, seeds, metrics, sources, path=None):
    """:func:`bar_chart` of every ``(key, label)`` of ``metrics`` in one figure."""
    ncols = min(3, len(metrics))
    nrows = int(np.ceil(len(metrics) / ncols))
    fig = Figure(figsize=(ncols * max(4.0, 0.4 * len(models) + 1.5), nrows * 3.4),
                 layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for i, (ax, (key, label)) in enumerate(zip(axes, metrics)):
        bar_chart(rows, models, seeds, key, label, sources, ax=ax, legend=i == 0)
    for ax in axes[len(metrics):]:
        ax.set_visible(False)
    if path is not None:
        viz.save_figure(fig, path)
    return fig
