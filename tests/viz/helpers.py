"""Helpers for the figure tests: tiny models, reading images back from axes, PNG checks."""

import struct

import keras
import numpy as np

import ae_zoo.models as models

SHAPE = (8, 8, 1)


def tiny(name, latent_dim=3, **kwargs):
    """A small untrained MLP model (hidden_units=(16,)) on 8x8x1 images."""
    keras.utils.set_random_seed(0)
    return models.create(name, latent_dim=latent_dim, input_shape=SHAPE, hidden_units=(16,),
                         seed=0, **kwargs)


def drawn(ax):
    """The image an axes shows, as a plain float array (None when it shows none)."""
    if not ax.images:
        return None
    return np.asarray(ax.images[0].get_array(), dtype="float32")


def shown(images):
    """What the figures draw for images (N, H, W, 1): clipped to [0, 1], channel dropped."""
    return np.clip(np.asarray(images, "float32"), 0, 1)[..., 0]


def check_png(data, min_side=40, max_side=6000):
    """Asserts ``data`` is a PNG of a sane size; returns (width, height)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert min_side <= width <= max_side and min_side <= height <= max_side, (width, height)
    assert len(data) > 1000
    return width, height


def check_png_file(path, **kwargs):
    with open(path, "rb") as f:
        return check_png(f.read(), **kwargs)
