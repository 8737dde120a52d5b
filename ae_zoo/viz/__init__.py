"""Figures of inputs, reconstructions, samples and latent spaces (matplotlib, Agg),
animated traversals (GIF), and a Keras callback that logs figures to TensorBoard."""

from ae_zoo.viz.animation import traversal_animation
from ae_zoo.viz.figures import image_grid, image_rows, reconstruction_grid, save_figure
from ae_zoo.viz.latent import (
    interpolation_figure,
    latent_range_figure,
    manifold_figure,
    manifold_values,
    samples_grid,
    sampling_source,
    traversal_figure,
)
from ae_zoo.viz.scatter import latent_scatter, project_codes
from ae_zoo.viz.tensorboard import FigureLogger, render_figure, write_png_summary

__all__ = [
    "FigureLogger",
    "image_grid",
    "image_rows",
    "interpolation_figure",
    "latent_range_figure",
    "latent_scatter",
    "manifold_figure",
    "manifold_values",
    "project_codes",
    "reconstruction_grid",
    "render_figure",
    "samples_grid",
    "sampling_source",
    "save_figure",
    "traversal_animation",
    "traversal_figure",
    "write_png_summary",
]
