"""FigureLogger writes TensorBoard image summaries during fit; read the events back."""

import glob
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from ae_zoo.viz import FigureLogger
from ae_zoo.viz.tensorboard import FIGURES, figure_png, write_png_summary
from tests.viz.helpers import check_png, tiny


def read_images(log_dir):
    """``{(tag, step): png bytes}`` of the image summaries under ``log_dir/images``."""
    found = {}
    files = glob.glob(os.path.join(log_dir, "images", "events.out.tfevents.*"))
    assert files, f"no event file under {log_dir}/images"
    for path in files:
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                assert value.metadata.plugin_data.plugin_name == "images"
                strings = value.tensor.string_val
                assert len(strings) == 3  # width, height, one PNG
                width, height = check_png(strings[2])
                assert (int(strings[0]), int(strings[1])) == (width, height)
                assert (value.tag, event.step) not in found
                found[value.tag, event.step] = strings[2]
    return found


def fit(model, x, callback, epochs):
    # eager: two tiny batches per epoch cost less than tracing a train function
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=False, run_eagerly=True)
    model.fit(x, epochs=epochs, batch_size=32, verbose=0, callbacks=[callback])


def test_logs_reconstructions_and_samples_every_epoch(digits, tmp_path):
    x = digits.x[:64]
    logger = FigureLogger(tmp_path, x[:8], every_n_epochs=1, figures=("reconstructions", "samples"))
    fit(tiny("vae"), x, logger, epochs=2)
    images = read_images(str(tmp_path))
    assert set(images) == {(tag, step) for tag in ("reconstructions", "samples") for step in (0, 1)}
    # samples are the same prior draws decoded by a changing decoder
    assert images["samples", 0] != images["samples", 1]


def test_every_n_epochs_and_custom_figures(digits, tmp_path):
    from ae_zoo.viz import samples_grid

    x = digits.x[:64]
    logger = FigureLogger(tmp_path, x[:8], every_n_epochs=2,
                          figures=[("prior", lambda model: samples_grid(model, n=4, seed=1))])
    fit(tiny("ae"), x, logger, epochs=5)
    assert sorted(read_images(str(tmp_path))) == [("prior", 1), ("prior", 3)]


def test_every_named_figure_renders(digits, tmp_path):
    x, y = digits.x[:48], digits.y[:48]
    logger = FigureLogger(tmp_path, x, figures=FIGURES, labels=y, num_images=4)
    fit(tiny("ae", latent_dim=2), x, logger, epochs=1)
    assert set(read_images(str(tmp_path))) == {(name, 0) for name in FIGURES}


def test_conditional_vae_uses_the_labels(digits, tmp_path):
    x, y = digits.x[:32], digits.y[:32]
    model = tiny("cvae")
    model.compile(jit_compile=False, run_eagerly=True)
    with pytest.raises(ValueError, match="labels"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[FigureLogger(tmp_path / "a", x[:8])])
    assert not glob.glob(str(tmp_path / "a" / "images" / "*"))
    logger = FigureLogger(tmp_path / "b", x[:8], labels=y[:8],
                          figures=("reconstructions", "samples", "traversals"))
    model.fit(x, y, epochs=1, batch_size=32, verbose=0, callbacks=[logger])
    assert set(read_images(str(tmp_path / "b"))) == {("reconstructions", 0), ("samples", 0), ("traversals", 0)}


def test_bad_arguments_are_refused_before_training(digits, tmp_path):
    x = digits.x[:8]
    with pytest.raises(ValueError, match="Unknown figure"):
        FigureLogger(tmp_path, x, figures=("reconstruction",))
    with pytest.raises(ValueError, match="every_n_epochs"):
        FigureLogger(tmp_path, x, every_n_epochs=0)
    with pytest.raises(ValueError, match="labels"):
        FigureLogger(tmp_path, x, figures=("scatter",))
    with pytest.raises(TypeError, match="figures"):
        FigureLogger(tmp_path, x, figures=(3,))


def test_the_record_matches_tf_summary_image(tmp_path):
    """Where TensorBoard is installed, our record has the layout tf.summary.image writes."""
    pytest.importorskip("tensorboard")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 1))
    fig.subplots().plot([0, 1], [1, 0])
    png = figure_png(fig)
    writer = tf.summary.create_file_writer(str(tmp_path / "images"))
    decoded = tf.image.decode_png(png)[None]
    with writer.as_default():
        write_png_summary("ours", png, step=0)
        tf.summary.image("theirs", decoded, step=0)
    writer.close()
    values = {}
    for path in glob.glob(str(tmp_path / "images" / "*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                values[value.tag] = value
    ours, theirs = values["ours"], values["theirs"]
    assert ours.metadata.plugin_data == theirs.metadata.plugin_data
    assert ours.metadata.data_class == theirs.metadata.data_class
    assert list(ours.tensor.string_val[:2]) == list(theirs.tensor.string_val[:2])
    np.testing.assert_array_equal(tf.image.decode_png(ours.tensor.string_val[2]).numpy(),
                                  tf.image.decode_png(theirs.tensor.string_val[2]).numpy())
