"""Bad input and bad hyperparameters: a ValueError/TypeError that says what was wrong,
raised before any training starts (weights untouched, no optimizer step)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import ae_zoo.models as models
from tests.models.helpers import make_model


@pytest.fixture(scope="module")
def model():
    m = make_model("ae")
    m.compile(jit_compile=False)
    return m


def weights_of(m):
    return [np.array(w) for w in m.weights]


def assert_untouched(m, weights):
    assert int(m.optimizer.iterations) == 0
    for before, now in zip(weights, weights_of(m)):
        np.testing.assert_array_equal(before, now)


def good(n=16):
    return np.random.default_rng(0).uniform(size=(n, 8, 8, 1)).astype("float32")


def with_value(value):
    x = good()
    x[3, 2, 1, 0] = value
    return x


def dataset(x, batch=4):
    return tf.data.Dataset.from_tensor_slices(x).batch(batch)


BAD_X = {
    "wrong_channels": (lambda: np.ones((16, 8, 8, 3), "float32"), ValueError,
                       r"\(8, 8, 3\).*expects \(8, 8, 1\)"),
    "wrong_size": (lambda: np.ones((16, 28, 28, 1), "float32"), ValueError, r"\(28, 28, 1\)"),
    "flat": (lambda: np.ones((16, 64), "float32"), ValueError, "example shape"),
    "not_a_batch": (lambda: np.ones((64,), "float32"), ValueError, "rank"),
    "uint8": (lambda: (good() * 255).astype("uint8"), TypeError, r"floating.*uint8.*255"),
    "int32": (lambda: np.ones((16, 8, 8, 1), "int32"), TypeError, "int32"),
    "bool": (lambda: np.ones((16, 8, 8, 1), bool), TypeError, "floating"),
    "nan": (lambda: with_value(np.nan), ValueError, "1 NaN or infinite"),
    "inf": (lambda: with_value(np.inf), ValueError, "NaN or infinite"),
    "empty": (lambda: np.zeros((0, 8, 8, 1), "float32"), ValueError, "empty"),
    "above_one_bce": (lambda: good() * 2, ValueError, r"\[0.0, 1.0\].*mse"),
    "negative_bce": (lambda: good() - 0.5, ValueError, r"\[0.0, 1.0\]"),
    "none": (lambda: None, ValueError, "None"),
    "empty_dataset": (lambda: dataset(np.zeros((0, 8, 8, 1), "float32")), ValueError, "empty"),
    "filtered_empty_dataset": (lambda: dataset(good()).filter(lambda t: False), ValueError, "empty"),
    "int_dataset": (lambda: dataset(np.ones((16, 8, 8, 1), "int32")), TypeError, "floating"),
    "wrong_shape_dataset": (lambda: dataset(np.ones((16, 8, 8, 3), "float32")), ValueError,
                            r"\(8, 8, 3\)"),
    "nan_dataset": (lambda: dataset(with_value(np.nan), batch=16), ValueError, "NaN"),
    "tensor_wrong_shape": (lambda: tf.ones((16, 8, 9, 1)), ValueError, r"\(8, 9, 1\)"),
}


@pytest.mark.parametrize("case", list(BAD_X))
def test_bad_x_raises_before_training(model, case):
    make_x, error, match = BAD_X[case]
    weights = weights_of(model)
    with pytest.raises(error, match=match):
        model.fit(make_x(), epochs=1, verbose=0)
    assert_untouched(model, weights)


@pytest.mark.parametrize("case", ["wrong_channels", "uint8", "nan", "empty"])
def test_evaluate_and_predict_check_their_input_too(model, case):
    make_x, error, match = BAD_X[case]
    with pytest.raises(error, match=match):
        model.evaluate(make_x(), verbose=0)
    with pytest.raises(error, match=match):
        model.predict(make_x(), verbose=0)


@pytest.mark.parametrize("val,error,match", [
    ((with_value(np.nan),), ValueError, "validation_data.*NaN"),
    ((np.ones((8, 8, 8, 2), "float32"),), ValueError, r"validation_data.*\(8, 8, 2\)"),
    ((np.ones((8, 8, 8, 1), "uint8"),), TypeError, "validation_data"),
    (dataset(np.zeros((0, 8, 8, 1), "float32")), ValueError, "validation_data.*empty"),
])
def test_bad_validation_data_raises_before_training(model, val, error, match):
    weights = weights_of(model)
    with pytest.raises(error, match=match):
        model.fit(good(), epochs=1, validation_data=val, verbose=0)
    assert_untouched(model, weights)


def test_sample_weight_is_rejected_before_any_update(model):
    weights = weights_of(model)
    with pytest.raises(ValueError, match="sample_weight"):
        model.fit(good(), good(), sample_weight=np.ones(16, "float32"), epochs=1, verbose=0)
    assert_untouched(model, weights)


def test_sample_weight_without_target_is_rejected_too():
    fresh = make_model("ae")  # not the shared model: this fit may train
    fresh.compile(jit_compile=False)
    with pytest.raises(ValueError, match="sample_weight"):
        fresh.fit(good(), sample_weight=np.ones(16, "float32"), epochs=1, verbose=0)


def test_lazy_model_stays_unbuilt_after_bad_input():
    lazy = models.create("ae", latent_dim=2, hidden_units=(8,))
    with pytest.raises(TypeError, match="uint8"):
        lazy.fit((good() * 255).astype("uint8"), epochs=1, verbose=0)
    assert lazy.encoder is None and lazy.example_shape is None and not lazy.built


def test_mse_model_accepts_data_outside_unit_interval():
    m = make_model("ae", reconstruction_loss="mse")
    m.compile(jit_compile=False)
    x = good() * 4 - 2
    history = m.fit(x, epochs=1, batch_size=16, verbose=0).history
    assert np.isfinite(history["loss"][0]) and int(m.optimizer.iterations) == 1


def test_reconstruct_and_encode_check_their_input_like_predict(model):
    images = (good() * 255).astype("uint8")
    with pytest.raises(TypeError, match="uint8"):
        model.predict(images, verbose=0)  # predict does check
    with pytest.raises(TypeError, match="uint8"):
        model.reconstruct(images)
    with pytest.raises(TypeError, match="uint8"):
        model.encode(images)


def test_validation_data_as_a_bare_array_works_like_keras(x_train, x_val):
    m = make_model("ae")
    m.compile(jit_compile=False)
    history = m.fit(x_train, epochs=1, batch_size=32, validation_data=x_val, verbose=0)
    assert "val_loss" in history.history


def test_nan_target_raises_before_training():
    fresh = make_model("ae")  # not the shared model: this fit may train
    fresh.compile(jit_compile=False)
    weights = weights_of(fresh)
    with pytest.raises(ValueError, match="NaN"):
        fresh.fit(good(), with_value(np.nan), epochs=1, verbose=0)
    assert_untouched(fresh, weights)


@pytest.mark.parametrize("kwargs,error,match", [
    ({"latent_dim": 0}, ValueError, "latent_dim"),
    ({"latent_dim": -3}, ValueError, "latent_dim"),
    ({"latent_dim": 2.5}, ValueError, "latent_dim"),
    ({"architecture": "resnet"}, ValueError, "resnet.*mlp, conv, conv_unpool"),
    ({"architecture": "mlp", "filters": (4,)}, TypeError, "filters"),
    ({"architecture": "conv", "hidden_units": (4,)}, TypeError, "hidden_units"),
    ({"architecture": "conv", "pool_size": 2}, TypeError, "pool_size"),
    ({"reconstruction_loss": "l2"}, ValueError, "mse, bce"),
    ({"encoder": keras.Sequential([keras.layers.Dense(2)])}, ValueError, "both"),
    ({"hidden_units_typo": (4,)}, (TypeError, ValueError), "hidden_units_typo"),
])
def test_invalid_hyperparameters_raise(kwargs, error, match):
    with pytest.raises(error, match=match):
        models.create("ae", **kwargs)


def test_own_networks_with_architecture_or_options_raise():
    enc = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(2)])
    dec = keras.Sequential([keras.Input((2,)), keras.layers.Dense(64), keras.layers.Reshape((8, 8, 1))])
    with pytest.raises(ValueError, match="architecture"):
        models.create("ae", latent_dim=2, encoder=enc, decoder=dec, architecture="mlp")
    with pytest.raises(TypeError, match="hidden_units"):
        models.create("ae", latent_dim=2, encoder=enc, decoder=dec, hidden_units=(4,))


@pytest.mark.parametrize("bad", [None, "eight"])
def test_non_numeric_latent_dim_error_names_the_argument(bad):
    with pytest.raises((TypeError, ValueError), match="latent_dim"):
        models.create("ae", latent_dim=bad)


@pytest.mark.parametrize("kwargs,match", [
    ({"loss": "mse"}, "reconstruction_loss"),
    ({"metrics": ["mae"]}, "metrics"),
])
def test_compile_rejects_loss_and_metrics(kwargs, match):
    m = make_model("ae")
    with pytest.raises(ValueError, match=match):
        m.compile(**kwargs)
