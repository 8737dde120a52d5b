"""The study's figures (matplotlib, Agg): a box per model for each score, the correlation
of mean and sampled codes against the regularization strength (Locatello et al.'s Figure
1), and rank-correlation heatmaps."""

import math

import numpy as np
from matplotlib.figure import Figure

from ae_zoo.viz import save_figure

_MARKERS = "osD^vP*X"
_COLORS = ("#d94801", "#238b45", "#6a51a3", "#cb181d", "#2171b5", "#525252")


def box_figure(rows, models, seeds, column, label=None, share=None, ax=None, path=None,
               legend=True):
    """A box per model of ``column`` with each run as a point, marked by seed; the score's
    name (``label``) on the value axis and, with ``share``, its variance shares in the
    title."""
    fig = None
    if ax is None:
        fig = Figure(figsize=(max(4.5, 0.9 * len(models) + 1.5), 3.8), layout="constrained")
        ax = fig.subplots()
    data = [[r[column] for r in rows if r["model"] == m and r.get(column) is not None]
            for m in models]
    ax.boxplot(data, positions=np.arange(1, len(models) + 1), widths=0.55, showfliers=False,
               patch_artist=True, boxprops={"facecolor": "#dbe9f6", "edgecolor": "#4a74a8"},
               medianprops={"color": "#08519c"})
    offsets = np.linspace(-0.16, 0.16, len(seeds)) if len(seeds) > 1 else [0.0]
    for j, seed in enumerate(seeds):
        xs, ys = [], []
        for i, m in enumerate(models):
            for r in rows:
                if r["model"] == m and r["seed"] == seed and r.get(column) is not None:
                    xs.append(i + 1 + offsets[j])
                    ys.append(r[column])
        ax.scatter(xs, ys, marker=_MARKERS[j % len(_MARKERS)], color=_COLORS[j % len(_COLORS)],
                   s=22, zorder=3, label=f"seed {seed}")
    ax.set_xticks(np.arange(1, len(models) + 1), models, rotation=30, ha="right", fontsize=8)
    title = label or column
    if share is not None and share.get("model_share") is not None:
        title += (f"\nmodel {share['model_share']:.0%} / hparams {share['hparam_share']:.0%} / "
                  f"seed {share['seed_share']:.0%}")
    ax.set_title(title, fontsize=9)
    ax.set_ylabel(label or column, fontsize=8)
    ax.grid(axis="y", linewidth=0.4, alpha=0.5)
    if legend:
        ax.legend(fontsize=7, loc="best", framealpha=0.8)
    if fig is not None and path is not None:
        save_figure(fig, path)
    return fig


def _grid(num, width=4.0, height=3.4, ncols=3):
    ncols = min(ncols, max(num, 1))
    nrows = math.ceil(max(num, 1) / ncols)
    fig = Figure(figsize=(ncols * width, nrows * height), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax in axes[num:]:
        ax.set_visible(False)
    return fig, axes


def overview_figure(rows, models, seeds, columns, labels, shares, path=None):
    """:func:`box_figure` of every column, side by side, each panel with its own value axis
    and label."""
    fig, axes = _grid(len(columns), width=max(4.0, 0.7 * len(models) + 1.5), height=3.6)
    for i, (ax, col) in enumerate(zip(axes, columns)):
        box_figure(rows, models, seeds, col, labels.get(col, col), shares.get(col), ax=ax,
                   legend=i == 0)
    if path is not None:
        save_figure(fig, path)
    return fig


def correlation_figure(rows, models, column="gaussian_total_correlation",
                       label="Gaussian total correlation", path=None):
    """Per model, ``column`` of the mean codes and of the sampled codes against the
    regularization strength (each run a point, the means over seeds joined)."""
    shown = [m for m in models if len({r.get("strength") for r in rows if r["model"] == m
                                       and r.get("strength") is not None}) > 1]
    fig, axes = _grid(len(shown))
    for ax, model in zip(axes, shown):
        mine = [r for r in rows if r["model"] == model and r.get("strength") is not None]
        for kind, suffix, color in (("mean", "", "#2171b5"), ("sampled", "_sampled", "#d94801")):
            key = f"unsupervised_scores{suffix}.{column}"
            pts = [(abs(r["strength"]), r[key]) for r in mine if r.get(key) is not None]
            if not pts:
                continue
            xs, ys = np.array(pts).T
            ax.scatter(xs, ys, color=color, s=16, alpha=0.7)
            levels = np.unique(xs)
            ax.plot(levels, [ys[xs == v].mean() for v in levels], color=color,
                    label=f"{kind} codes", marker="o", markersize=3)
        name = next(iter(mine[0]["hparams"]), "strength") if mine else "strength"
        weaker = mine and mine[0]["strength"] < 0
        ax.set_xscale("log")
        ax.set_yscale("symlog", linthresh=0.01)
        ax.set_xlabel(name + (" (larger: weaker regularization)" if weaker else ""), fontsize=8)
        ax.set_ylabel(label, fontsize=8)
        ax.set_title(model, fontsize=9)
        ax.grid(linewidth=0.4, alpha=0.5)
        ax.legend(fontsize=7)
    fig.suptitle(f"{label} of the mean and the sampled codes", fontsize=10)
    if path is not None:
        save_figure(fig, path)
    return fig


def rank_heatmap(matrix, row_labels, col_labels, title, path=None):
    """A heatmap of Spearman correlations (None: blank) with the values written in."""
    values = np.array([[np.nan if v is None else v for v in row] for row in matrix], dtype=float)
    fig = Figure(figsize=(1.1 * len(col_labels) + 2.5, 0.45 * len(row_labels) + 1.6),
                 layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(values, cmap="RdBu", vmin=-1, vmax=1, aspect="auto")
    ax.set_xticks(range(len(col_labels)), col_labels, rotation=35, ha="right", fontsize=8)
    ax.set_yticks(range(len(row_labels)), row_labels, fontsize=8)
    for (i, j), v in np.ndenumerate(values):
        if np.isfinite(v):
            ax.text(j, i, f"{v:+.2f}", ha="center", va="center", fontsize=7,
                    color="white" if abs(v) > 0.6 else "black")
    fig.colorbar(image, ax=ax, shrink=0.8, label="Spearman rank correlation")
    ax.set_title(title, fontsize=9)
    if path is not None:
        save_figure(fig, path)
    return fig
