"""Animated latent traversals (GIF), as disentanglement_lib ships them per model: every
latent dimension side by side, one cell each, the frames sweeping the traversed value.

Frame k decodes, in the cell of dimension j, the code of one image with z_j set to
``values[k]`` (the other dimensions held), so every cell moves at once and a dimension
that changes nothing stands still. The frames run up the values and back down (a loop of
2 len(values) - 2 frames). Built with PIL (Pillow comes with matplotlib); written
atomically.

Example:
    >>> traversal_animation(vae, test.x[0], path="traversals.gif")
"""

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ae_zoo._io import atomic_path
from ae_zoo.evaluation import latent as _latent
from ae_zoo.viz.figures import _as_image
from ae_zoo.viz.latent import INACTIVE_GREY, dim_label

#: Pixels between cells and around the grid; the height of a cell's label strip and of
#: the frame's caption strip.
PAD, LABEL_HEIGHT, CAPTION_HEIGHT = 4, 14, 16


def _tiles(images, scale):
    """(D, V, H, W[, C]) images in [0, 1] -> (D, V, H*scale, W*scale, 3) uint8 RGB."""
    tiles = np.stack([[_as_image(img) for img in row] for row in images])
    if tiles.ndim == 4:  # grey: one channel, dropped by _as_image
        tiles = np.repeat(tiles[..., None], 3, axis=-1)
    tiles = np.repeat(np.repeat(tiles, scale, axis=2), scale, axis=3)
    return np.round(tiles * 255.0).astype(np.uint8)


def _frame(cells, labels, greyed, caption, columns, font):
    """One frame: ``cells`` (D, h, w, 3) in a grid of ``columns``, each under its label."""
    count, h, w = cells.shape[:3]
    rows = -(-count // columns)
    width = PAD + columns * (w + PAD)
    height = PAD + rows * (LABEL_HEIGHT + h + PAD) + CAPTION_HEIGHT
    canvas = np.full((height, width, 3), 255, np.uint8)
    for j in range(count):
        top = PAD + (j // columns) * (LABEL_HEIGHT + h + PAD) + LABEL_HEIGHT
        left = PAD + (j % columns) * (w + PAD)
        canvas[top:top + h, left:left + w] = cells[j]
    frame = Image.fromarray(canvas, "RGB")
    draw = ImageDraw.Draw(frame)
    for j, label in enumerate(labels):
        top = PAD + (j // columns) * (LABEL_HEIGHT + h + PAD)
        draw.text((PAD + (j % columns) * (w + PAD), top), label, font=font,
                  fill=INACTIVE_GREY if greyed[j] else "black")
    draw.text((PAD, height - CAPTION_HEIGHT + 2), caption, font=font, fill="black")
    return frame


def traversal_animation(model, x, values=None, dims=None, labels=None, inactive=None,
                        columns=None, min_cell=80, frame_ms=150, path=None):
    """The frames (PIL images) of the animated traversal of one image ``x``.

    ``values``: the swept values (default linspace(-3, 3, 9) under the prior N(0, I);
    other models need them given, e.g. the codes' percentiles); ``dims``: the dimensions
    shown (all by default), in a grid of ``columns`` (default ~sqrt of their number);
    ``inactive``: dimensions whose cell is labelled "z_j (inactive)" in grey (see
    :func:`ae_zoo.viz.traversal_figure`). Each image is enlarged k times (nearest
    neighbour, k = ceil(min_cell / its longer side)) into a cell under a
    ``LABEL_HEIGHT`` px label, ``PAD`` px apart; a caption below gives the frame's value.
    A conditional model decodes under ``labels`` (x's class). Given ``path``, also writes
    a looping GIF of ``frame_ms`` per frame.
    """
    dims = list(range(model.latent_dim)) if dims is None else [int(d) for d in np.atleast_1d(dims)]
    values = _latent.default_traversal_values(model) if values is None else _latent._as_values(values)
    if len(values) < 2:
        raise ValueError(f"An animation needs at least 2 values, got {len(values)}.")
    images = np.asarray(_latent.traversal_grid_images(model, x, dims, values, labels=labels))
    scale = max(1, int(np.ceil(min_cell / max(images.shape[2:4]))))
    tiles = _tiles(images, scale)
    marked = set() if inactive is None else {int(d) for d in np.atleast_1d(inactive)}
    texts = [dim_label(d, d in marked) for d in dims]
    greyed = [d in marked for d in dims]
    columns = int(columns or np.ceil(np.sqrt(len(dims))))
    font = ImageFont.load_default()
    order = list(range(len(values))) + list(range(len(values) - 2, 0, -1))
    frames = [_frame(tiles[:, k], texts, greyed, f"z_j = {values[k]:+.2f}", columns, font)
              for k in order]
    if path is not None:
        with atomic_path(path, ".gif") as tmp:
            frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:],
                           duration=int(frame_ms), loop=0)
    return frames
