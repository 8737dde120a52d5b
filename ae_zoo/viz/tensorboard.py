"""A Keras callback that logs ae_zoo figures to TensorBoard as images during training.

The figures are rendered to PNG by matplotlib (Agg) and written as TensorBoard
image summaries: the same record ``tf.summary.image`` writes (plugin
``images``, tensor ``[width, height, png]``), built here from the PNG bytes,
so logging works without the ``tensorboard`` package installed; TensorBoard
shows them under "Images".

Example:
    >>> logger = FigureLogger("logs/vae", x_test[:64], figures=("reconstructions", "samples"))
    >>> vae.fit(x_train, epochs=10, callbacks=[logger])
    $ tensorboard --logdir logs/vae
"""

import io
import os
import struct

import keras
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from ae_zoo.evaluation import latent as _latent
from ae_zoo.viz import latent as _figs
from ae_zoo.viz.figures import reconstruction_grid
from ae_zoo.viz.scatter import latent_scatter

#: The figures FigureLogger can render by name.
FIGURES = ("reconstructions", "samples", "interpolations", "traversals", "manifold", "scatter")


def figure_png(fig, dpi=80):
    """The PNG bytes of a matplotlib figure."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def png_size(png):
    """``(width, height)`` from a PNG's IHDR chunk."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ValueError("Not a PNG image.")
    return struct.unpack(">II", png[16:24])


def write_png_summary(tag, png, step, description=None):
    """Writes PNG bytes as a TensorBoard image summary to the default summary writer.

    The record is the one ``tf.summary.image`` writes: a string tensor
    ``[width, height, png]`` with the ``images`` plugin's metadata.
    Returns whether a writer recorded it.
    """
    width, height = png_size(png)
    metadata = summary_pb2.SummaryMetadata(
        summary_description=description or "",
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="images", content=b""),
    )
    tensor = tf.constant([str(width).encode(), str(height).encode(), png], dtype=tf.string)
    return tf.summary.write(tag=tag, tensor=tensor, step=step, metadata=metadata)


def render_figure(name, model, x, labels=None, seed=0, num_images=8):
    """One of :data:`FIGURES` for ``model`` on the images ``x`` (a matplotlib Figure).

    ``reconstructions``: the first ``num_images`` of x and their
    reconstructions; ``samples``: ``num_images * 2`` decoded prior draws;
    ``interpolations``: linear paths between x[i] and x[i + k] (k =
    min(4, N // 2)); ``traversals``: of x[0] (an autoencoder over the 1st-99th
    percentile range of the codes of x); ``manifold``: dims (0, 1), 10 x 10;
    ``scatter``: the codes of x coloured by ``labels``.
    """
    x = np.asarray(x, dtype="float32")
    conditional = model.conditional
    lab = None if labels is None else np.asarray(labels).reshape(-1)
    n = min(int(num_images), len(x))
    if name == "reconstructions":
        recon = model.reconstruct(x[:n], labels=lab[:n] if conditional else None)
        return reconstruction_grid(x[:n], np.asarray(recon), n=n, title=f"{_figs._name(model)}: reconstructions")
    if name == "samples":
        return _figs.samples_grid(model, n=2 * int(num_images), seed=seed,
                                  ncols=None if conditional else int(num_images))
    if name == "interpolations":
        k = min(4, len(x) // 2)
        if k < 1:
            raise ValueError("The interpolations figure needs at least 2 images in `x`.")
        return _figs.interpolation_figure(model, x[:k], x[k:2 * k], steps=8,
                                          labels=None if lab is None or not conditional else lab[:k])
    cond = lab[:1] if conditional else None
    if name == "traversals":
        values = None
        if model.prior_type != "standard_normal":
            lo, hi = _latent.latent_stats(model, x, labels=lab if conditional else None)["percentile_range"]
            values = np.linspace(lo, hi, 9)
        return _figs.traversal_figure(model, x[0], values=values, labels=cond)
    if name == "manifold":
        return _figs.manifold_figure(model, grid=10,
                                     x=None if model.prior_type == "standard_normal" else x,
                                     labels=cond, size=5.0)
    if name == "scatter":
        return latent_scatter(model, x, lab)
    raise ValueError(f"Unknown figure {name!r}; expected one of {', '.join(FIGURES)}.")


class FigureLogger(keras.callbacks.Callback):
    """Logs figures of the model to TensorBoard every ``every_n_epochs`` epochs.

    At the end of epoch e (0-based, when (e + 1) is a multiple of
    ``every_n_epochs``) each figure is rendered on the fixed images ``x`` and
    written under ``log_dir/images`` as an image summary with the figure's
    name as its tag and e as its step (the epoch axis of
    ``keras.callbacks.TensorBoard``).

    Args:
        log_dir: the TensorBoard log directory.
        x: the images the figures are drawn from (a few dozen is plenty).
        every_n_epochs: positive int.
        figures: names from :data:`FIGURES` and/or ``(tag, fn)`` pairs, with
            ``fn(model)`` returning a matplotlib Figure.
        seed: the seed of the prior draws of ``samples`` (the same draws every epoch).
        labels: class ids of ``x``; needed for ``scatter`` and for a ConditionalVAE.
        num_images: images per row of ``reconstructions`` and ``samples``.
        dpi: PNG resolution.
    """

    def __init__(self, log_dir, x, every_n_epochs=1, figures=("reconstructions", "samples"), seed=0,
                 labels=None, num_images=8, dpi=80):
        super().__init__()
        if isinstance(every_n_epochs, bool) or int(every_n_epochs) != every_n_epochs or every_n_epochs < 1:
            raise ValueError(f"`every_n_epochs` must be a positive integer, got {every_n_epochs!r}.")
        x = np.asarray(x, dtype="float32")
        if x.ndim < 3 or len(x) == 0:
            raise ValueError(f"`x` must be a non-empty batch of images, got shape {x.shape}.")
        if isinstance(figures, str):
            figures = (figures,)
        self.figures = []
        for item in figures:
            if isinstance(item, str):
                if item not in FIGURES:
                    raise ValueError(f"Unknown figure {item!r}; expected one of {', '.join(FIGURES)} "
                                     "or a (tag, fn) pair.")
                if item == "scatter" and labels is None:
                    raise ValueError("The 'scatter' figure needs `labels=` (the class ids of x).")
                self.figures.append((item, item))
            elif isinstance(item, (tuple, list)) and len(item) == 2 and callable(item[1]):
                self.figures.append((str(item[0]), item[1]))
            else:
                raise TypeError(f"`figures` items must be figure names or (tag, fn) pairs, got {item!r}.")
        if not self.figures:
            raise ValueError("`figures` is empty.")
        if labels is not None and len(np.asarray(labels).reshape(-1)) != len(x):
            raise ValueError(f"Got {len(np.asarray(labels).reshape(-1))} labels for {len(x)} images.")
        self.log_dir = os.fspath(log_dir)
        self.x, self.labels = x, labels
        self.every_n_epochs = int(every_n_epochs)
        self.seed, self.num_images, self.dpi = seed, int(num_images), dpi
        self._writer = None

    @property
    def image_dir(self):
        """Where the image summaries are written: ``log_dir/images``."""
        return os.path.join(self.log_dir, "images")

    def on_train_begin(self, logs=None):
        shape = getattr(self.model, "example_shape", None)
        if shape and tuple(self.x.shape[1:]) != tuple(shape):
            raise ValueError(f"FigureLogger's `x` has image shape {self.x.shape[1:]}, but the model takes {shape}.")
        if self.model.conditional and self.labels is None:
            raise ValueError("FigureLogger for a ConditionalVAE needs `labels=` (the class ids of x).")
        self._writer = tf.summary.create_file_writer(self.image_dir)

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_n_epochs == 0:
            self.log_figures(epoch)

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def log_figures(self, step):
        """Renders every figure for ``self.model`` and writes it at ``step``."""
        writer = self._writer or tf.summary.create_file_writer(self.image_dir)
        with writer.as_default():
            for tag, what in self.figures:
                if callable(what):
                    fig = what(self.model)
                else:
                    fig = render_figure(what, self.model, self.x, self.labels, self.seed, self.num_images)
                write_png_summary(tag, figure_png(fig, self.dpi), step=int(step))
        writer.flush()
        if writer is not self._writer:
            writer.close()
