"""Matplotlib figures: image grids of inputs, reconstructions and samples.

Every function returns a ``matplotlib.figure.Figure`` built without pyplot (no
global state, no display needed; PNGs are rendered by Agg); pass ``path=`` to
also save it as a PNG, written atomically.
"""

import numpy as np
from matplotlib.figure import Figure

from ae_zoo._io import atomic_path


def save_figure(fig, path, dpi=100):
    """Saves ``fig`` as a PNG at ``path``, atomically."""
    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    return path


def _as_image(img):
    img = np.clip(np.asarray(img, dtype="float32"), 0.0, 1.0)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    return img


def image_grid(rows, row_titles=None, col_titles=None, title=None, cell_size=1.0, path=None):
    """A grid of images: ``rows`` is a list of image batches, one row each.

    Images are (H, W, C) arrays in [0, 1]; single-channel images are drawn in
    grey. Rows may have different lengths.
    """
    rows = [np.asarray(r) for r in rows]
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    fig = Figure(figsize=(cell_size * n_cols + (1.2 if row_titles else 0),
                          cell_size * n_rows + (0.4 if title else 0)))
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for i, row in enumerate(rows):
        for j in range(n_cols):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if j < len(row):
                ax.imshow(_as_image(row[j]), cmap="gray", vmin=0.0, vmax=1.0,
                          interpolation="nearest")
            if j == 0 and row_titles:
                ax.set_ylabel(row_titles[i], rotation=0, ha="right", va="center", fontsize=9)
            if i == 0 and col_titles:
                ax.set_title(col_titles[j], fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig


def reconstruction_grid(originals, reconstructions, corrupted=None, n=10, title=None, path=None):
    """Originals above their reconstructions (clean, corrupted, denoised when ``corrupted``)."""
    rows = [np.asarray(originals)[:n]]
    labels = ["input"]
    if corrupted is not None:
        rows.append(np.asarray(corrupted)[:n])
        labels = ["clean", "corrupted"]
    rows.append(np.asarray(reconstructions)[:n])
    labels.append("denoised" if corrupted is not None else "reconstruction")
    return image_grid(rows, row_titles=labels, title=title, path=path)


def image_rows(rows, row_titles=None, title=None, cell_size=0.6, pad=2, path=None):
    """Rows of images tiled into one picture (one ``imshow``: fast for many rows, unlike
    :func:`image_grid`'s axes per image), each row labelled on the left. Images are
    (H, W, C) in [0, 1], all of one shape; a short row is padded with white."""
    rows = [np.asarray(r) for r in rows]
    height, width = _as_image(rows[0][0]).shape[:2]
    n_cols = max(len(r) for r in rows)
    canvas = np.ones((len(rows) * (height + pad) + pad, n_cols * (width + pad) + pad)
                     + _as_image(rows[0][0]).shape[2:], dtype="float32")
    for i, row in enumerate(rows):
        for j, image in enumerate(row):
            top, left = pad + i * (height + pad), pad + j * (width + pad)
            canvas[top:top + height, left:left + width] = _as_image(image)
    fig = Figure(figsize=(cell_size * n_cols + (1.4 if row_titles else 0.2),
                          cell_size * len(rows) + (0.5 if title else 0.2)), layout="constrained")
    ax = fig.subplots()
    ax.imshow(canvas, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks(pad + (height + pad) * np.arange(len(rows)) + height / 2,
                  row_titles or [""] * len(rows), fontsize=8)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title, fontsize=10)
    if path is not None:
        save_figure(fig, path)
    return fig
