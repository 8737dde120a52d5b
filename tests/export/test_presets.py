"""from_preset: a zoo entry as a trainable Keras model of its own class."""

import os
import shutil

import keras
import numpy as np
import pytest

import ae_zoo
from ae_zoo import cli, models
from ae_zoo._io import save_model, write_json
from ae_zoo.export import available, load_pretrained, tfsm_layer, zoo_dir
from ae_zoo.models.preset import KERAS_FILE
from tests.export.helpers import batch

pytestmark = pytest.mark.skipif("vae_mnist5k" not in available(), reason="no shipped zoo")


def test_a_zoo_vae_fine_tunes_from_its_preset():
    train = ae_zoo.data.load("mnist5k", "train")
    vae = models.VAE.from_preset("vae_mnist5k")
    assert type(vae) is models.VAE and vae.compiled
    assert float(vae.optimizer.learning_rate) == pytest.approx(1e-4)  # the recipe's / 10
    x = train.x[:2048]
    before = vae.evaluate(x, batch_size=256, return_dict=True, verbose=0)
    vae.fit(x, epochs=1, batch_size=128, verbose=0)
    after = vae.evaluate(x, batch_size=256, return_dict=True, verbose=0)
    assert np.isfinite(after["loss"]) and after["loss"] < before["loss"]
    assert vae.encode(x[:4]).shape == (4, 16) and vae.sample(4, seed=0).shape == (4, 28, 28, 1)


def test_the_preset_is_the_shipped_saved_model():
    """Both halves of a zoo entry compute the same: the Keras model and its SavedModel."""
    test = ae_zoo.data.load("mnist5k", "test")
    model = models.from_preset("cvae_mnist5k")
    exported = load_pretrained("cvae_mnist5k")
    assert type(model).__name__ == exported.card["class"] == "ConditionalVAE"
    x, y = test.x[:32], test.y[:32]
    np.testing.assert_allclose(model.reconstruct(x, labels=y), exported.reconstruct(x, labels=y),
                               atol=1e-5)
    np.testing.assert_allclose(model.generate([3, 7], seed=0), exported.generate([3, 7], seed=0),
                               atol=1e-5)


@pytest.mark.parametrize("name", available())
def test_every_zoo_entry_has_a_preset_of_its_card_class(name):
    path = os.path.join(zoo_dir(), name)
    versions = [v for v in os.listdir(path) if v.isdigit()]
    assert all(os.path.isfile(os.path.join(path, v, KERAS_FILE)) for v in versions), name
    model = models.from_preset(name, compile=False)
    assert type(model).__name__ == load_pretrained(name).card["class"]


def test_a_preset_of_another_class_and_a_missing_one_say_what_to_do(tmp_path, exported):
    with pytest.raises(TypeError, match="holds a VAE, not a ConvAutoencoder.*VAE.from_preset"):
        models.ConvAutoencoder.from_preset("vae_mnist5k")
    _, version_dir = exported("ae")  # export_saved_model alone writes no model.keras
    with pytest.raises(FileNotFoundError, match="no model.keras.*ae-zoo export.*load_pretrained"):
        models.from_preset(version_dir)


def test_ae_zoo_export_writes_the_preset_compiled_with_the_recipe(tmp_path, exported):
    model, _ = exported("vae")
    run = tmp_path / "run"
    save_model(model, run / "model.keras")
    write_json(run / "run.json", {"recipe": {"training": {
        "optimizer": {"name": "rmsprop", "learning_rate": 0.01}}}})
    assert cli.main(["export", str(run), "--out", str(tmp_path / "zoo" / "mine"),
                     "--no-warmup"]) == 0
    loaded = models.VAE.from_preset(tmp_path / "zoo" / "mine")
    assert type(loaded.optimizer).__name__ == "RMSprop"
    assert float(loaded.optimizer.learning_rate) == pytest.approx(0.001)
    x = batch(4)["x"]
    np.testing.assert_allclose(loaded.reconstruct(x), model.reconstruct(x), atol=1e-6)


def test_tfsm_layer_takes_a_zoo_name_or_folder_and_serves_the_highest_version(tmp_path, exported):
    layer = tfsm_layer("vae_mnist5k", "encode")
    assert not layer.trainable and layer.trainable_weights == []
    inputs = keras.Input((28, 28, 1))
    encoder = keras.Model(inputs, layer(inputs)["code"])
    x = ae_zoo.data.load("mnist5k", "test").x[:8]
    np.testing.assert_allclose(encoder.predict(x, verbose=0),
                               load_pretrained("vae_mnist5k").encode(x), atol=1e-5)

    model, first = exported("ae")
    folder = tmp_path / "mine"
    shutil.copytree(first, folder / "1")
    shutil.copytree(first, folder / "3")
    layer = tfsm_layer(folder, "reconstruct")
    assert layer.filepath == str(folder / "3")
    np.testing.assert_allclose(layer(batch(2)["x"])["reconstruction"],
                               model.reconstruct(batch(2)["x"]), atol=1e-5)
    with pytest.raises(ValueError, match="no endpoint 'sample'; it has decode, encode"):
        tfsm_layer(folder, "sample")
