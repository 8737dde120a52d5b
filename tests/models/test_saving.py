"""`.keras` save/load round trips beyond the shared battery's (which saves every model
on its default architecture): every architecture, models built on the user's own
encoder/decoder (functional, sequential, subclassed), and lazily built models."""

import json

import keras
import numpy as np
import pytest

import ae_zoo.models as models
from tests.models.helpers import ARCHITECTURES, LATENT, make_model

CASES = [("ae", arch) for arch in ARCHITECTURES] + [("sparse_ae", "conv_unpool")]


def json_config(model):
    return json.loads(json.dumps(model.get_config()))


def save_and_load(model, tmp_path, name="model.keras"):
    path = tmp_path / name
    model.save(path)
    return keras.models.load_model(path)


def assert_same_outputs(model, loaded, x):
    np.testing.assert_array_equal(np.asarray(loaded.encode(x)), np.asarray(model.encode(x)))
    z = np.asarray(model.encode(x))
    np.testing.assert_array_equal(np.asarray(loaded.decode(z)), np.asarray(model.decode(z)))
    np.testing.assert_array_equal(np.asarray(loaded.reconstruct(x)), np.asarray(model.reconstruct(x)))


def assert_same_optimizer_state(model, loaded):
    assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations) > 0
    assert type(loaded.optimizer) is type(model.optimizer)
    assert float(loaded.optimizer.learning_rate) == pytest.approx(float(model.optimizer.learning_rate))
    assert len(loaded.optimizer.variables) == len(model.optimizer.variables)
    for a, b in zip(model.optimizer.variables, loaded.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("name,arch", CASES)
def test_round_trip_gives_identical_outputs_and_optimizer_state(trained, x_val, tmp_path, name, arch):
    model = trained(name, arch).model
    loaded = save_and_load(model, tmp_path)
    assert type(loaded) is type(model)
    assert json_config(loaded) == json_config(model)
    assert loaded.architecture == arch and loaded.example_shape == (8, 8, 1)
    assert_same_outputs(model, loaded, x_val)
    assert_same_optimizer_state(model, loaded)
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def user_networks(kind):
    """A small encoder (8x8x1 -> LATENT) and decoder (LATENT -> 8x8x1 logits)."""
    if kind == "sequential":
        encoder = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                                    keras.layers.Dense(16, activation="relu"),
                                    keras.layers.Dense(LATENT)], name="my_encoder")
        decoder = keras.Sequential([keras.Input((LATENT,)), keras.layers.Dense(16, activation="relu"),
                                    keras.layers.Dense(64), keras.layers.Reshape((8, 8, 1))],
                                   name="my_decoder")
        return encoder, decoder
    x = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu")(x)
    encoder = keras.Model(x, keras.layers.Dense(LATENT)(keras.layers.Flatten()(h)), name="my_encoder")
    z = keras.Input((LATENT,))
    h = keras.layers.Reshape((4, 4, 2))(keras.layers.Dense(32, activation="relu")(z))
    out = keras.layers.Conv2DTranspose(1, 3, strides=2, padding="same")(h)
    decoder = keras.Model(z, out, name="my_decoder")
    return encoder, decoder


@pytest.mark.parametrize("kind", ["functional", "sequential"])
@pytest.mark.parametrize("name", ["ae", "denoising_ae"])
def test_user_supplied_networks_train_and_round_trip(x_train, x_val, tmp_path, name, kind):
    keras.utils.set_random_seed(0)
    encoder, decoder = user_networks(kind)
    model = models.create(name, latent_dim=LATENT, encoder=encoder, decoder=decoder, seed=0)
    assert model.architecture is None and model.example_shape == (8, 8, 1)
    assert model.encoder is encoder and model.decoder is decoder
    model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=False)
    history = model.fit(x_train, epochs=2, batch_size=16, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    loaded = save_and_load(model, tmp_path)
    assert type(loaded) is type(model) and type(loaded.encoder) is type(encoder)
    assert loaded.encoder.name == "my_encoder" and loaded.decoder.name == "my_decoder"
    assert_same_outputs(model, loaded, x_val)
    assert_same_optimizer_state(model, loaded)


@keras.saving.register_keras_serializable(package="ae_zoo_tests")
class SubclassedEncoder(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.flatten = keras.layers.Flatten()
        self.hidden = keras.layers.Dense(16, activation="relu")
        self.code = keras.layers.Dense(LATENT)

    def call(self, x):
        return self.code(self.hidden(self.flatten(x)))


@keras.saving.register_keras_serializable(package="ae_zoo_tests")
class SubclassedDecoder(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = keras.layers.Dense(16, activation="relu")
        self.out = keras.layers.Dense(64)
        self.reshape = keras.layers.Reshape((8, 8, 1))

    def call(self, z):
        return self.reshape(self.out(self.hidden(z)))


@pytest.mark.parametrize("name", ["ae", "sparse_ae"])
def test_user_supplied_subclassed_networks_train_and_round_trip(x_train, x_val, tmp_path, name):
    keras.utils.set_random_seed(0)
    model = models.create(name, latent_dim=LATENT, encoder=SubclassedEncoder(),
                          decoder=SubclassedDecoder(), input_shape=(8, 8, 1), seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=False)
    history = model.fit(x_train, epochs=2, batch_size=16, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    assert int(model.optimizer.iterations) == 8
    loaded = save_and_load(model, tmp_path)
    assert type(loaded.encoder) is SubclassedEncoder
    assert_same_outputs(model, loaded, x_val)


@pytest.mark.parametrize("name", ["ae", "conv_ae"])
def test_lazily_built_model_round_trips(x_train, x_val, tmp_path, name):
    arch = "conv" if name == "conv_ae" else "mlp"
    model = make_model(name, arch, input_shape=None)
    assert model.example_shape is None and not model.built
    model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=False)
    model.fit(x_train, epochs=1, batch_size=16, verbose=0)
    assert model.example_shape == (8, 8, 1)
    loaded = save_and_load(model, tmp_path)
    assert loaded.example_shape == (8, 8, 1)
    assert_same_outputs(model, loaded, x_val)
    assert_same_optimizer_state(model, loaded)


def test_model_saved_before_training_round_trips(x_val, tmp_path):
    model = make_model("conv_ae", "conv_unpool")
    model(x_val[:2])  # build
    loaded = save_and_load(model, tmp_path)
    assert_same_outputs(model, loaded, x_val)
