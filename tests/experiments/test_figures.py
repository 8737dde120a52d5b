"""The figures of `ae-zoo train` / `evaluate` ask the model and the data: dimensions the codes
do not use are marked, a denoising model's figure shows and names its noise (also from a
SavedModel), and the closing lines name every figure written."""

import keras
import numpy as np
import pytest
from PIL import Image

from ae_zoo import data, models
from ae_zoo.evaluation import latent_stats
from ae_zoo.experiments.common import figure_lines
from ae_zoo.experiments.figures import inactive_dims, make_figures
from ae_zoo.export import export_saved_model, load_pretrained
from ae_zoo.layers import make_corruption


@pytest.fixture(scope="module")
def digits():
    return data.load("digits", "test")


def _tiny(name, **options):
    keras.utils.set_random_seed(0)
    return models.create(name, latent_dim=3, input_shape=(8, 8, 1), hidden_units=(16,), seed=0,
                         **options)


def test_traversals_mark_the_dimension_the_codes_do_not_use(digits, saved, tmp_path):
    ae = _tiny("ae")
    head = [layer for layer in ae.encoder.layers if getattr(layer, "kernel", None) is not None][-1]
    kernel, bias = (np.array(w) for w in head.get_weights())
    kernel[:, 1], bias[1] = 0.0, 0.0  # z_1 = 0 for every input: an unused dimension
    head.set_weights([kernel, bias])
    stats = latent_stats(ae, digits.x)
    codes = np.asarray(ae.encode(digits.x), np.float64)
    assert inactive_dims(stats) == np.flatnonzero(codes.var(axis=0) <= 0.01).tolist() == [1]
    written, _ = make_figures(ae, digits, tmp_path, stats, figures=("traversals",
                                                                    "traversal_animation"))
    rows = saved[0].axes[::9]  # the first cell of each of the 3 rows (9 values each)
    assert [ax.get_ylabel() for ax in rows] == ["z_0", "z_1 (inactive)", "z_2"]
    assert "grey: inactive" in saved[0].get_suptitle()  # the title says why
    assert written["traversal_animation"] == "traversal_animation.gif"
    with Image.open(tmp_path / "traversal_animation.gif") as gif:
        assert gif.n_frames == 16  # 9 values up and 7 back down


def test_a_denoising_figure_shows_and_names_its_noise_from_a_saved_model(digits, saved, tmp_path):
    dae = _tiny("denoising_ae", corruption="masking", noise_level=0.5)
    pretrained = load_pretrained(export_saved_model(dae, tmp_path / "dae", warmup=False),
                                 require_card=False)
    assert pretrained.denoising and pretrained.corruption_description() == "50% of the pixels masked"
    corrupted = pretrained.corrupt(digits.x[:200])
    assert np.mean(corrupted == 0) == pytest.approx(0.5 + 0.5 * np.mean(digits.x[:200] == 0),
                                                    abs=0.03)
    make_figures(pretrained, digits, tmp_path, {}, figures=("reconstructions",))
    fig = saved[0]
    assert [fig.axes[i * 10].get_ylabel() for i in range(3)] == ["clean", "corrupted", "denoised"]
    assert "(50% of the pixels masked)" in fig.get_suptitle()
    # a shipped export older than the record: its card's options give the corruption
    shipped = load_pretrained("denoising_ae_mnist5k")
    assert shipped.corruption_description() == make_corruption("salt_and_pepper", 0.2).describe()


def test_figure_lines_name_every_file_whole():
    names = [f"traversals_model_{i}.png" for i in range(12)]
    lines = figure_lines("runs/x", {f"f{i}": n for i, n in enumerate(names)}, width=60)
    assert lines[0].startswith("Figures (12) in runs/x/: ") and len(lines) > 1
    assert " ".join(line.strip() for line in lines).split(": ", 1)[1].split(", ") == names
    assert figure_lines("runs/x", []) == ["No figures in runs/x/."]
