"""The latent-space figures draw what the models decode, laid out as documented."""

import matplotlib.colors
import numpy as np
import pytest
from PIL import Image
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from scipy.stats import norm
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from ae_zoo.evaluation import latent_stats, traversal_grid_images
from ae_zoo.models.vae import prior_draws
from ae_zoo.viz import (
    animation,
    interpolation_figure,
    latent_range_figure,
    latent_scatter,
    manifold_figure,
    samples_grid,
    traversal_animation,
    traversal_figure,
)
from tests.viz.helpers import check_png_file, drawn, shown, tiny


@pytest.fixture(scope="module")
def vae():
    return tiny("vae")


@pytest.fixture(scope="module")
def ae():
    return tiny("ae")


def grid_images(fig, n_rows, n_cols):
    """The images of an image_grid figure as an (n_rows, n_cols) list of arrays (None: empty cell)."""
    axes = fig.axes
    assert len(axes) == n_rows * n_cols
    return [[drawn(axes[i * n_cols + j]) for j in range(n_cols)] for i in range(n_rows)]


# ------------------------------------------------------------------------ samples
def test_samples_grid_of_a_vae_draws_model_sample(vae, tmp_path):
    path = tmp_path / "samples.png"
    fig = samples_grid(vae, n=10, seed=3, ncols=4, path=path)
    assert isinstance(fig, Figure)
    cells = grid_images(fig, 3, 4)
    expected = shown(vae.sample(10, seed=3))
    flat = [c for row in cells for c in row]
    assert sum(c is not None for c in flat) == 10 and flat[10] is None and flat[11] is None
    for k in range(10):
        np.testing.assert_allclose(flat[k], expected[k], atol=1e-6)
    check_png_file(path)


def test_samples_grid_of_an_autoencoder_decodes_prior_draws_and_overrides(ae):
    fig = samples_grid(ae, n=9, seed=0)
    z = prior_draws(np.arange(9), 3).numpy()
    expected = shown(ae.decode(z))
    cells = [c for row in grid_images(fig, 3, 3) for c in row]
    for k in range(9):
        np.testing.assert_allclose(cells[k], expected[k], atol=1e-6)
    codes = np.linspace(-20, 20, 12).reshape(4, 3)
    fig = samples_grid(ae, latent_samples=codes, ncols=2)
    cells = [c for row in grid_images(fig, 2, 2) for c in row]
    np.testing.assert_allclose(np.stack(cells), shown(ae.decode(codes)), atol=1e-6)


def test_samples_grid_of_a_conditional_vae_has_one_class_per_column():
    cvae = tiny("cvae", num_classes=3)
    fig = samples_grid(cvae, n=6, seed=1)
    cells = grid_images(fig, 2, 3)
    expected = shown(cvae.generate([0, 1, 2, 0, 1, 2], seed=1))
    np.testing.assert_allclose(np.stack([c for row in cells for c in row]), expected, atol=1e-6)
    assert [fig.axes[j].get_title() for j in range(3)] == ["y=0", "y=1", "y=2"]


# -------------------------------------------------------------- interpolation
def test_interpolation_figure_rows_are_pairs_framed_by_the_inputs(vae, digits, tmp_path):
    xa, xb = digits.x[:2], digits.x[2:4]
    fig = interpolation_figure(vae, xa, xb, steps=5, method="slerp", path=tmp_path / "i.png")
    cells = grid_images(fig, 2, 7)
    from ae_zoo.evaluation import interpolate

    expected = interpolate(vae, xa, xb, steps=5, method="slerp")
    for i in range(2):
        np.testing.assert_allclose(cells[i][0], shown(xa)[i], atol=1e-6)
        np.testing.assert_allclose(cells[i][-1], shown(xb)[i], atol=1e-6)
        np.testing.assert_allclose(np.stack(cells[i][1:-1]), shown(expected[i]), atol=1e-6)
    titles = [fig.axes[j].get_title() for j in range(7)]
    assert titles[0] == "x_a" and titles[-1] == "x_b" and titles[1] == "t=0.00" and titles[5] == "t=1.00"
    check_png_file(tmp_path / "i.png")
    fig = interpolation_figure(vae, digits.x[0], digits.x[1], steps=4, show_inputs=False)
    assert len(fig.axes) == 4


# ------------------------------------------------------------------ traversal
def test_traversal_figure_rows_are_dimensions_and_columns_values(vae, digits, tmp_path):
    values = [-2.0, 0.0, 2.0, 4.0]
    fig = traversal_figure(vae, digits.x[5], dims=[2, 0], values=values, path=tmp_path / "t.png")
    cells = grid_images(fig, 2, 4)
    expected = traversal_grid_images(vae, digits.x[5], [2, 0], values)
    for i in range(2):
        np.testing.assert_allclose(np.stack(cells[i]), shown(expected[i]), atol=1e-6)
    assert [fig.axes[i * 4].get_ylabel() for i in range(2)] == ["z_2", "z_0"]
    assert [fig.axes[j].get_title() for j in range(4)] == ["-2", "0", "2", "4"]
    check_png_file(tmp_path / "t.png")
    assert len(traversal_figure(vae, digits.x[5]).axes) == 3 * 9  # all dims, linspace(-3, 3, 9)


def test_traversal_figure_marks_the_inactive_dimensions(vae, digits):
    fig = traversal_figure(vae, digits.x[5], dims=[2, 0], values=[-1.0, 1.0], inactive=[2, 1])
    rows = [fig.axes[0:2], fig.axes[2:4]]
    assert [row[0].get_ylabel() for row in rows] == ["z_2 (inactive)", "z_0"]
    assert rows[0][0].yaxis.label.get_color() != rows[1][0].yaxis.label.get_color()
    assert [ax.images[0].get_alpha() for ax in rows[0]] == [0.35, 0.35]  # faded
    assert [ax.images[0].get_alpha() for ax in rows[1]] == [None, None]


def test_traversal_animation_sweeps_every_dimension_in_its_own_cell(vae, digits, tmp_path):
    values = [-2.0, 0.0, 2.0]
    frames = traversal_animation(vae, digits.x[5], values=values, inactive=[1],
                                 path=tmp_path / "t.gif")
    expected = traversal_grid_images(vae, digits.x[5], [0, 1, 2], values)  # (dims, values, ...)
    order = [0, 1, 2, 1]  # up the values and back down: a loop
    scale = 10  # 8x8 images enlarged to the 80 px cells
    with Image.open(tmp_path / "t.gif") as gif:
        assert gif.n_frames == len(frames) == len(order)
        assert gif.size == frames[0].size
        for k, value_index in enumerate(order):
            gif.seek(k)
            pixels = np.asarray(gif.convert("RGB"), np.float32)[..., 0] / 255.0
            for j in range(3):  # a 2 x 2 grid of cells, each under its label strip
                top = animation.PAD + (j // 2) * (animation.LABEL_HEIGHT + 80 + animation.PAD)
                top += animation.LABEL_HEIGHT
                left = animation.PAD + (j % 2) * (80 + animation.PAD)
                cell = pixels[top:top + 80:scale, left:left + 80:scale]
                np.testing.assert_allclose(cell, shown(expected[j][value_index]), atol=1 / 255)
    with pytest.raises(ValueError, match="at least 2 values"):
        traversal_animation(vae, digits.x[5], values=[0.0])


def test_traversal_figure_of_an_autoencoder_needs_values(ae, digits):
    with pytest.raises(ValueError, match="values"):
        traversal_figure(ae, digits.x[0])


# ------------------------------------------------------------------- manifold
def tile(mosaic, i, j, size=8):
    return mosaic[i * size:(i + 1) * size, j * size:(j + 1) * size]


def test_manifold_of_a_vae_spans_the_prior_quantiles(vae, tmp_path):
    grid = 6
    fig = manifold_figure(vae, dims=(0, 2), grid=grid, path=tmp_path / "m.png")
    mosaic = drawn(fig.axes[0])
    assert mosaic.shape == (grid * 8, grid * 8)
    lo, hi = norm.ppf(0.05), norm.ppf(0.95)
    corners = {  # (row, col): (z_0, z_2); rows run down from z_2 = hi
        (0, 0): (lo, hi), (0, grid - 1): (hi, hi),
        (grid - 1, 0): (lo, lo), (grid - 1, grid - 1): (hi, lo),
    }
    for (i, j), (z0, z2) in corners.items():
        expected = shown(vae.decode(np.array([[z0, 0.0, z2]], "float32")))[0]
        np.testing.assert_allclose(tile(mosaic, i, j), expected, atol=1e-6)
    middle = norm.ppf(np.linspace(0.05, 0.95, grid))[2]
    expected = shown(vae.decode(np.array([[middle, 0.0, hi]], "float32")))[0]
    np.testing.assert_allclose(tile(mosaic, 0, 2), expected, atol=1e-6)
    spacing = "6 values at N(0, 1) quantiles 0.05...0.95 (equal prior mass apart)"
    assert fig.axes[0].get_xlabel() == f"z_0: {spacing}"
    assert fig.axes[0].get_ylabel() == f"z_2: {spacing}"
    check_png_file(tmp_path / "m.png")


def test_manifold_of_an_autoencoder_uses_the_observed_range_and_base_code(ae, digits):
    with pytest.raises(ValueError, match="value_range"):
        manifold_figure(ae)
    x = digits.x[:100]
    codes = np.asarray(ae.encode(x), np.float64)
    lo, hi = np.percentile(codes[:, :2], [1, 99], axis=0)
    fig = manifold_figure(ae, grid=4, x=x)
    mosaic = drawn(fig.axes[0])
    expected = shown(ae.decode(np.array([[lo[0], lo[1], 0.0]], "float32")))[0]  # bottom left
    np.testing.assert_allclose(tile(mosaic, 3, 0), expected, atol=1e-6)
    assert fig.axes[0].get_xlabel() == "z_0: 4 values evenly spaced over its codes' 1st-99th percentiles"
    assert manifold_figure(ae, grid=12, x=x).axes[0].get_xlabel().endswith("; ticked every 2 values")
    base = np.array([0.0, 0.0, 7.0])
    fig = manifold_figure(ae, grid=3, value_range=(-10, 10), base_code=base)
    expected = shown(ae.decode(np.array([[10.0, 10.0, 7.0]], "float32")))[0]  # top right
    np.testing.assert_allclose(tile(drawn(fig.axes[0]), 0, 2), expected, atol=1e-6)


# -------------------------------------------------------------------- scatter
def scatter_of(fig):
    collections = [c for c in fig.axes[0].collections if isinstance(c, PathCollection)]
    assert len(collections) == 1
    return collections[0]


def test_latent_scatter_projects_more_than_two_dims_with_pca(vae, digits, tmp_path):
    x, y = digits.x[:150], digits.y[:150]
    fig = latent_scatter(vae, x, y, path=tmp_path / "s.png")
    expected = PCA(n_components=2, random_state=0).fit_transform(np.asarray(vae.encode(x), np.float64))
    points = scatter_of(fig)
    np.testing.assert_allclose(points.get_offsets(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(points.get_array(), y)  # digits 0-9: colour index = class
    assert fig.axes[0].get_xlabel().startswith("PC 1")
    legend = fig.axes[0].get_legend()  # a legend naming each class, no colorbar
    assert len(fig.axes) == 1 and legend.get_title().get_text() == "class"
    assert [t.get_text() for t in legend.get_texts()] == [str(c) for c in np.unique(y)]
    check_png_file(tmp_path / "s.png")


def test_latent_scatter_legend_names_the_classes(vae, digits):
    labels = np.arange(30) % 3
    fig = latent_scatter(vae, digits.x[:30], labels, class_names=("square", "ellipse", "heart"),
                         label_name="shape")
    legend = fig.axes[0].get_legend()
    assert legend.get_title().get_text() == "shape"
    assert [t.get_text() for t in legend.get_texts()] == ["square", "ellipse", "heart"]
    colours = [h.get_color() for h in legend.legend_handles]
    points = scatter_of(fig)  # each point in its class's legend colour
    np.testing.assert_allclose(points.to_rgba(points.get_array())[:3, :3],
                               [matplotlib.colors.to_rgb(c) for c in colours], atol=1e-6)


def test_latent_scatter_of_a_2d_space_plots_the_codes(digits):
    vae2 = tiny("vae", latent_dim=2)
    x, y = digits.x[:60], digits.y[:60]
    fig = latent_scatter(vae2, x, y)
    np.testing.assert_allclose(scatter_of(fig).get_offsets(), np.asarray(vae2.encode(x)), atol=1e-6)
    assert (fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()) == ("z_0", "z_1")


def test_latent_scatter_tsne(vae, digits):
    fig = latent_scatter(vae, digits.x[:40], digits.y[:40], method="tsne",
                         tsne_options={"method": "exact", "max_iter": 250})
    offsets = scatter_of(fig).get_offsets()
    codes = np.asarray(vae.encode(digits.x[:40]), np.float64)
    expected = TSNE(2, init="pca", random_state=0, perplexity=13.0, method="exact",
                    max_iter=250).fit_transform(codes)
    np.testing.assert_allclose(offsets, expected, rtol=1e-4, atol=1e-4)
    assert fig.axes[0].get_xlabel() == "t-SNE 1"
    with pytest.raises(ValueError, match="method"):
        latent_scatter(vae, digits.x[:40], digits.y[:40], method="umap")


# ---------------------------------------------------------------- code ranges
def test_latent_range_figure_draws_one_box_per_dimension_per_model(ae, vae, digits, tmp_path):
    x = digits.x[:100]
    stats = {"ae": latent_stats(ae, x), "vae": latent_stats(vae, x)}
    fig = latent_range_figure(stats, path=tmp_path / "r.png")
    assert len(fig.axes) == 2
    for ax, (name, s) in zip(fig.axes, stats.items()):
        assert ax.get_title().startswith(name)
        assert [t.get_text() for t in ax.get_xticklabels()] == ["z_0", "z_1", "z_2"]
        crosses = [line for line in ax.lines if line.get_marker() == "x"]
        assert len(crosses) == 3
        for d, line in enumerate(crosses):  # min and max of dimension d
            np.testing.assert_allclose(sorted(line.get_ydata()), [s["min"][d], s["max"][d]], atol=1e-6)
        lo, hi = ax.get_ylim()
        assert lo <= min(v["value_range"][0] for v in stats.values())
        assert hi >= max(v["value_range"][1] for v in stats.values())  # shared axis
    check_png_file(tmp_path / "r.png")
    codes = np.random.default_rng(0).normal(size=(200, 4))
    assert len(latent_range_figure({"codes": codes}).axes) == 1
