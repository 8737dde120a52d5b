"""Figures of latent spaces: samples, interpolations, traversals, the 2-D manifold and
the per-dimension ranges of codes (scatters of the codes: :mod:`ae_zoo.viz.scatter`).

Like :mod:`ae_zoo.viz.figures`, every function returns a
``matplotlib.figure.Figure`` built without pyplot and, given ``path=``, also
saves it as a PNG (atomically). Models are any ae_zoo model, in memory or exported; a
conditional model needs ``labels=`` wherever it encodes or decodes.

Example:
    >>> samples_grid(vae, n=64, seed=0, path="samples.png")
    >>> manifold_figure(vae, dims=(0, 1), grid=15, path="manifold.png")
    >>> latent_range_figure({"ae": latent_stats(ae, test.x), "vae": latent_stats(vae, test.x)})
"""

import numpy as np
import tensorflow as tf
from matplotlib.figure import Figure
from scipy.stats import norm

from ae_zoo.evaluation import latent as _latent
from ae_zoo.models.vae import prior_draws
from ae_zoo.viz.figures import _as_image, image_grid, save_figure

def _name(model):
    return getattr(model, "registry_name", None) or type(model).__name__


def _finish(fig, path):
    if path is not None:
        save_figure(fig, path)
    return fig


def _tick_label(value):
    return f"{value:.2g}" if abs(value) < 100 else f"{value:.0f}"


# ----------------------------------------------------------------------- samples
def sampling_source(model):
    """Where ``model.sample`` draws from, in words: "its gmm sampler" or "its prior"."""
    name = getattr(model, "sampler_name", None)
    return f"its {name} sampler" if name else "its prior"


def samples_grid(model, n=64, seed=0, latent_samples=None, labels=None, ncols=None, title=None,
                 cell_size=0.8, path=None):
    """``n`` decoded draws, ``ncols`` (default ~sqrt(n)) per row.

    A model that can sample (a generative one, or one with a sampler attached) draws from
    its sampler, else its prior: the images are ``model.sample(n, seed=seed)`` (draw i from
    the stateless seed ``seed + i``). A model without either decodes the draws z_i ~ N(0, I)
    a VAE would (:func:`ae_zoo.models.vae.prior_draws`): what the AE-versus-VAE comparison
    shows. ``latent_samples`` (n, latent_dim) decodes
    your own codes instead. A conditional model decodes draw i under ``labels[i]``
    (default: i mod num_classes, one class per column).
    """
    _latent._check_model(model)
    if latent_samples is not None:
        latent_samples = np.asarray(latent_samples, dtype="float32")
        n = len(latent_samples)
    elif isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"`n` must be a positive integer, got {n!r}.")
    n = int(n)
    if seed is None:
        seed = int(np.random.randint(0, 2**31 - 1 - n))
    col_titles = None
    if model.conditional and labels is None:
        labels = np.arange(n) % model.num_classes
        ncols = ncols or model.num_classes
        if int(ncols) == model.num_classes:
            col_titles = [f"y={c}" for c in range(model.num_classes)]
    if latent_samples is not None:
        images, source = _latent.decode_codes(model, latent_samples, labels), "given latent codes"
    elif model.can_sample:
        images = np.asarray(model.sample(n, labels=labels, seed=int(seed)))
        source = f"draws from {sampling_source(model)}, seed {seed}"
    else:
        z = prior_draws(tf.range(n, dtype=tf.int64) + int(seed), model.latent_dim).numpy()
        images, source = _latent.decode_codes(model, z, labels), f"z ~ N(0, I), seed {seed}"
    ncols = int(ncols or int(np.ceil(np.sqrt(n))))
    rows = [images[i:i + ncols] for i in range(0, n, ncols)]
    if title is None:
        title = f"{_name(model)}: decoded {source}"
    return image_grid(rows, col_titles=col_titles, title=title, cell_size=cell_size, path=path)


# ----------------------------------------------------------------- interpolation
def interpolation_figure(model, x_a, x_b, steps=8, method="linear", labels=None, show_inputs=True,
                         title=None, cell_size=0.8, path=None):
    """Interpolation strips, one row per pair (x_a[i], x_b[i]).

    Columns: the input x_a (when ``show_inputs``), the ``steps`` images of
    :func:`ae_zoo.evaluation.interpolate` at t = 0 ... 1, then the input x_b.
    """
    xa, _ = _latent._as_images(model, x_a, "x_a")
    xb, _ = _latent._as_images(model, x_b, "x_b")
    images = _latent.interpolate(model, xa, xb, steps=steps, method=method, labels=labels)
    t = np.linspace(0.0, 1.0, images.shape[1])
    col_titles = [f"t={v:.2f}" for v in t]
    rows = []
    for i in range(len(images)):
        row = list(images[i])
        if show_inputs:
            row = [xa[i], *row, xb[i]]
        rows.append(row)
    if show_inputs:
        col_titles = ["x_a", *col_titles, "x_b"]
    if title is None:
        title = f"{_name(model)}: {method} interpolation between codes"
    return image_grid(rows, col_titles=col_titles, title=title, cell_size=cell_size, path=path)


# --------------------------------------------------------------------- traversal
def traversal_figure(model, x, dims=None, values=None, labels=None, inactive=None, title=None,
                     cell_size=0.8, path=None):
    """Traversal grid of one image: row j varies z_j over ``values``, the others held.

    Rows: the latent dimensions ``dims`` (all when None), labelled "z_j";
    columns: ``values`` (default linspace(-3, 3, 9) under the prior N(0, I); other
    models need them given). ``inactive``: dimensions to mark (e.g. those
    :func:`ae_zoo.evaluation.latent_stats` counts inactive, ``~stats["active_mask"]``):
    their rows read "z_j (inactive)" in grey and their images are drawn faded. See
    :func:`ae_zoo.evaluation.traversal_grid_images`.
    """
    dims = list(range(model.latent_dim)) if dims is None else [int(d) for d in np.atleast_1d(dims)]
    values = _latent.default_traversal_values(model) if values is None else _latent._as_values(values)
    images = _latent.traversal_grid_images(model, x, dims, values, labels=labels)
    marked = set() if inactive is None else {int(d) for d in np.atleast_1d(inactive)}
    if title is None:
        title = f"{_name(model)}: latent traversals"
    fig = image_grid(list(images), row_titles=[dim_label(d, d in marked) for d in dims],
                     col_titles=[_tick_label(v) for v in values], title=title,
                     cell_size=cell_size)
    for i, d in enumerate(dims):
        if d in marked:
            row = fig.axes[i * len(values):(i + 1) * len(values)]
            row[0].yaxis.label.set_color(INACTIVE_GREY)
            for ax in row:
                for image in ax.images:
                    image.set_alpha(0.35)
    return _finish(fig, path)


#: The colour of an inactive dimension's label.
INACTIVE_GREY = "#8c8c8c"


def dim_label(dim, inactive=False):
    """ "z_3", or "z_3 (inactive)" for a dimension marked inactive."""
    return f"z_{dim} (inactive)" if inactive else f"z_{dim}"


# ---------------------------------------------------------------------- manifold
def manifold_values(model, dims=(0, 1), grid=15, value_range=None, x=None, quantiles=(0.05, 0.95)):
    """The grid values (2, grid) of :func:`manifold_figure` for z_dims[0] and z_dims[1].

    ``value_range`` (lo, hi), or one (lo, hi) per dimension: linspace over it.
    Otherwise, under the prior N(0, I), the prior's quantiles
    norm.ppf(linspace(0.05, 0.95, grid)); for other models the 1st-99th
    percentile range of the codes of ``x`` in each dimension.
    """
    if int(grid) != grid or int(grid) < 2:
        raise ValueError(f"`grid` must be an integer >= 2, got {grid!r}.")
    grid = int(grid)
    if value_range is not None:
        bounds = np.asarray(value_range, dtype=np.float64)
        if bounds.shape == (2,):
            bounds = np.stack([bounds, bounds])
        if bounds.shape != (2, 2) or not np.all(np.isfinite(bounds)):
            raise ValueError(f"`value_range` must be (lo, hi) or ((lo0, hi0), (lo1, hi1)), got {value_range!r}.")
        return np.stack([np.linspace(lo, hi, grid) for lo, hi in bounds])
    if model.prior_type == "standard_normal":
        q0, q1 = quantiles
        if not 0.0 < q0 < q1 < 1.0:
            raise ValueError(f"`quantiles` must satisfy 0 < q0 < q1 < 1, got {quantiles!r}.")
        values = norm.ppf(np.linspace(q0, q1, grid))
        return np.stack([values, values])
    if x is None:
        raise ValueError(
            f"{_name(model)} has no N(0, I) prior: give `value_range=` (e.g. "
            "latent_stats(model, x)['percentile_range']) or `x=` to use the observed code range."
        )
    codes = _latent.latent_codes(model, x)[:, list(dims)]
    lo, hi = np.percentile(codes, [1.0, 99.0], axis=0)
    return np.stack([np.linspace(lo[i], hi[i], grid) for i in range(2)])


def _grid_spacing(model, value_range, quantiles):
    """``(source, spacing)``: where the manifold's grid values come from, for its title and
    its axis labels."""
    if value_range is not None:
        return "given range", "evenly spaced over the given range"
    if model.prior_type == "standard_normal":
        return (f"prior quantiles {quantiles[0]:g}-{quantiles[1]:g}",
                f"at N(0, 1) quantiles {quantiles[0]:g}...{quantiles[1]:g} (equal prior mass apart)")
    return "observed 1st-99th percentiles", "evenly spaced over its codes' 1st-99th percentiles"


def manifold_figure(model, dims=(0, 1), grid=15, base_code=None, value_range=None, x=None,
                    labels=None, quantiles=(0.05, 0.95), title=None, size=7.0, path=None):
    """The decoded 2-D manifold over latent dimensions ``dims`` (others held at ``base_code``).

    Decodes z = base_code (default 0) with z_dims[0] = u_j (columns, left to
    right) and z_dims[1] = v_i (rows, top to bottom, decreasing like a y axis)
    into one mosaic. The grid values come from :func:`manifold_values`: the
    prior's quantiles under the prior N(0, I), the observed range otherwise
    (``value_range=`` or ``x=``, whose codes give the 1st-99th percentiles: a plain
    autoencoder's grid lies where its codes are). The axis labels say how the values are
    spaced. A conditional model: ``labels`` is the one class id to decode under.
    """
    _latent._check_model(model)
    if model.latent_dim < 2:
        raise ValueError("manifold_figure needs a latent space of at least 2 dimensions.")
    if len(dims) != 2:
        raise ValueError(f"`dims` must be two latent dimensions, got {dims!r}.")
    d0, d1 = (_latent._check_dim(model, d) for d in dims)
    if d0 == d1:
        raise ValueError(f"`dims` must be two different dimensions, got {dims!r}.")
    decode_label = None
    if model.conditional:
        if labels is None:
            raise ValueError(f"{_name(model)} is conditional: pass `labels=` (the class id to decode under).")
        decode_label = np.asarray(labels).reshape(-1)[:1]
    values = manifold_values(model, (d0, d1), grid, value_range, x, quantiles)
    grid = values.shape[1]
    base = np.zeros(model.latent_dim) if base_code is None else np.asarray(base_code, np.float64).reshape(-1)
    if base.shape != (model.latent_dim,):
        raise ValueError(f"`base_code` must have shape ({model.latent_dim},), got {base.shape}.")
    u, v = values[0], values[1][::-1]  # columns: z_d0 ascending; rows: z_d1 descending
    codes = np.repeat(base[None], grid * grid, axis=0)
    codes[:, d0] = np.tile(u, grid)
    codes[:, d1] = np.repeat(v, grid)
    images = _latent.decode_codes(model, codes, decode_label)
    h, w = images.shape[1:3]
    tiles = np.stack([_as_image(img) for img in images])  # (grid*grid, h, w[, c])
    tiles = tiles.reshape(grid, grid, h, w, *tiles.shape[3:])
    mosaic = np.concatenate(np.concatenate(tiles, axis=1), axis=1)  # (grid*h, grid*w[, c])

    fig = Figure(figsize=(size, size * (grid * h) / (grid * w) + 0.5), layout="constrained")
    ax = fig.subplots()
    ax.imshow(mosaic, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    every = max(1, int(np.ceil(grid / 8)))
    cols = np.arange(0, grid, every)
    ax.set_xticks(cols * w + (w - 1) / 2, [_tick_label(u[j]) for j in cols], fontsize=8)
    ax.set_yticks(cols * h + (h - 1) / 2, [_tick_label(v[i]) for i in cols], fontsize=8)
    source, spacing = _grid_spacing(model, value_range, quantiles)
    ticks = "" if every == 1 else f"; ticked every {every} values"
    ax.set_xlabel(f"z_{d0}: {grid} values {spacing}{ticks}", fontsize=8)
    ax.set_ylabel(f"z_{d1}: {grid} values {spacing}{ticks}", fontsize=8)
    if title is None:
        held = "others at 0" if base_code is None else "others at the base code"
        if decode_label is not None:
            held += f"; y={int(decode_label[0])}"
        title = f"{_name(model)}: decoded grid over z_{d0}, z_{d1}\n({source}; {held})"
    ax.set_title(title, fontsize=10)
    return _finish(fig, path)


# ------------------------------------------------------------------ code ranges
def _box_stats(stats, d):
    levels = list(np.asarray(stats["quantile_levels"], dtype=float))
    q = np.asarray(stats["quantiles"], dtype=float)
    try:
        i25, i50, i75 = levels.index(25.0), levels.index(50.0), levels.index(75.0)
    except ValueError:
        raise ValueError("latent_range_figure needs stats with the 25th, 50th and 75th "
                         f"percentiles in `quantile_levels`, got {levels}.") from None
    return {"whislo": q[0, d], "q1": q[i25, d], "med": q[i50, d], "q3": q[i75, d],
            "whishi": q[-1, d], "mean": stats["mean"][d],
            "fliers": np.array([stats["min"][d], stats["max"][d]]), "label": f"z_{d}"}


def latent_range_figure(stats_by_model, title=None, sharey=True, prior_band=True, path=None):
    """Box plots of the per-dimension code values, one panel per model.

    ``stats_by_model`` maps a model name to its :func:`ae_zoo.evaluation.latent_stats`
    dict (or to a code matrix (N, D)). Each box spans the 25th-75th
    percentile of one dimension with the median, the whiskers reach the
    first and last ``quantile_levels`` (1st and 99th by default), the
    crosses mark the min and max, and a triangle the mean. With
    ``sharey`` (default) the panels share one value axis, so an
    autoencoder's spread of tens of units stands beside a VAE's codes within
    a few units of zero; ``prior_band`` shades the prior's +-2 interval.
    """
    if not stats_by_model:
        raise ValueError("`stats_by_model` is empty: give {model name: latent_stats(...)}.")
    items = []
    for name, stats in stats_by_model.items():
        if not isinstance(stats, dict):
            stats = _latent.code_summary(stats)
        items.append((str(name), stats))
    widths = [min(10.0, max(2.6, 0.35 * s["latent_dim"] + 1.2)) for _, s in items]
    fig = Figure(figsize=(sum(widths), 4.2), layout="constrained")
    axes = fig.subplots(1, len(items), sharey=sharey, squeeze=False,
                        gridspec_kw={"width_ratios": widths})[0]
    for k, (ax, (name, stats)) in enumerate(zip(axes, items)):
        dim = stats["latent_dim"]
        boxes = [_box_stats(stats, d) for d in range(dim)]
        ax.bxp(boxes, showmeans=True, showfliers=True, patch_artist=True,
               boxprops={"facecolor": "#c6dbef", "edgecolor": "#08519c"},
               medianprops={"color": "#08519c"},
               meanprops={"marker": "^", "markerfacecolor": "#d94801", "markeredgecolor": "none",
                          "markersize": 5},
               flierprops={"marker": "x", "markersize": 4, "markeredgecolor": "#555555"})
        if prior_band:
            ax.axhspan(-2.0, 2.0, color="#fdd0a2", alpha=0.5, zorder=0,
                       label="N(0, 1) +-2 sd" if k == 0 else None)
        ax.axhline(0.0, color="#999999", linewidth=0.6, zorder=0)
        every = max(1, int(np.ceil(dim / 16)))
        ticks = np.arange(1, dim + 1)
        ax.set_xticks(ticks[::every], [f"z_{d}" for d in range(0, dim, every)], fontsize=8,
                      rotation=90 if dim > 8 else 0)
        lo, hi = stats["value_range"]
        ax.set_title(f"{name}\nrange [{lo:.3g}, {hi:.3g}], {stats['active_units']}/{dim} active",
                     fontsize=9)
        if k == 0 or not sharey:
            ax.set_ylabel("code value")
        ax.grid(axis="y", linewidth=0.4, alpha=0.5)
    if prior_band:
        axes[0].legend(loc="upper left", fontsize=7, framealpha=0.8)
    fig.suptitle(title or "Per-dimension code values", fontsize=11)
    levels = np.asarray(items[0][1]["quantile_levels"], dtype=float)
    fig.supxlabel(f"box: 25-75th percentile, whiskers: {levels[0]:g}-{levels[-1]:g}th percentile, "
                  "x: min/max, triangle: mean", fontsize=8)
    return _finish(fig, path)
