"""Figures of inputs, reconstructions, samples and latent spaces (matplotlib, Agg)."""

from ae_zoo.viz.figures import image_grid, reconstruction_grid, save_figure

__all__ = ["image_grid", "reconstruction_grid", "save_figure"]
