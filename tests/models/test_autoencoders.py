"""Every deterministic model x every architecture: evaluate/predict and the
encode/decode/reconstruct API against a manual pass and numpy, compile defaults. (Training,
history, callbacks, XLA, saving and export of every model: the shared battery.)"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import ae_zoo.models as models
from ae_zoo.training.engine import xla_helps
from tests.models.helpers import (
    ARCHITECTURES,
    BATCH,
    LATENT,
    MODEL_NAMES,
    expected_losses,
    make_model,
    manual_pass,
    np_bce_from_logits,
    sigmoid,
)

CASES = [(name, arch) for name in MODEL_NAMES for arch in ARCHITECTURES]
ATOL = 1e-6


@pytest.mark.parametrize("name,arch", CASES)
def test_evaluate_returns_every_loss_term_equal_to_an_independent_computation(
        trained, x_val, name, arch):
    model = trained(name, arch).model
    result = model.evaluate(x_val, batch_size=len(x_val), return_dict=True, verbose=0)
    assert set(result) == set(model.loss_terms)
    expected = expected_losses(model, x_val)
    for key in model.loss_terms:
        assert result[key] == pytest.approx(expected[key], rel=1e-5, abs=1e-6), key
    assert isinstance(model.evaluate(x_val, verbose=0), list)


@pytest.mark.parametrize("name,arch", CASES)
def test_validation_loss_is_evaluate_on_the_validation_set(trained, x_val, name, arch):
    t = trained(name, arch)
    result = t.model.evaluate(x_val, batch_size=BATCH, return_dict=True, verbose=0)
    for key in t.model.loss_terms:
        assert t.history.history[f"val_{key}"][-1] == pytest.approx(result[key], rel=1e-5)


@pytest.mark.parametrize("name,arch", CASES)
def test_predict_returns_reconstructions_of_the_input_shape(trained, x_val, name, arch):
    model = trained(name, arch).model
    pred = model.predict(x_val, batch_size=8, verbose=0)
    assert pred.shape == x_val.shape and pred.dtype == np.float32
    assert pred.min() >= 0.0 and pred.max() <= 1.0  # bce -> sigmoid means
    np.testing.assert_allclose(pred, np.asarray(model.reconstruct(x_val)), atol=ATOL)
    np.testing.assert_allclose(pred, sigmoid(manual_pass(model, x_val)[1]), atol=ATOL)


@pytest.mark.parametrize("name,arch", CASES)
def test_encode_decode_reconstruct_shapes_and_batching(trained, x_val, name, arch):
    model = trained(name, arch).model
    z = np.asarray(model.encode(x_val))
    assert z.shape == (len(x_val), LATENT)
    np.testing.assert_allclose(z, manual_pass(model, x_val)[0], atol=ATOL)
    assert tuple(model.decode(z).shape) == x_val.shape
    rec = np.asarray(model.reconstruct(x_val))
    assert rec.shape == x_val.shape
    np.testing.assert_array_equal(rec, np.asarray(model.reconstruct(x_val)))  # deterministic
    np.testing.assert_allclose(np.asarray(model(x_val)), rec, atol=ATOL)
    batched = model.encode(x_val, batch_size=5)
    assert isinstance(batched, np.ndarray)
    np.testing.assert_allclose(batched, z, atol=ATOL)
    np.testing.assert_allclose(model.decode(z, batch_size=7), np.asarray(model.decode(z)), atol=ATOL)
    np.testing.assert_allclose(model.reconstruct(x_val, batch_size=6), rec, atol=ATOL)


@pytest.mark.parametrize("name,arch", [c for c in CASES if c[1] != "conv_unpool"])
def test_decode_of_encode_equals_reconstruct(trained, x_val, name, arch):
    model = trained(name, arch).model
    np.testing.assert_allclose(np.asarray(model.decode(model.encode(x_val))),
                               np.asarray(model.reconstruct(x_val)), atol=ATOL)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_conv_unpool_reconstruct_uses_switches_and_decode_fixed_switches(trained, x_val, name):
    model = trained(name, "conv_unpool").model
    rec = np.asarray(model.reconstruct(x_val))
    via_code = np.asarray(model.decode(model.encode(x_val)))
    assert np.abs(rec - via_code).max() > 1e-3
    np.testing.assert_allclose(rec, sigmoid(manual_pass(model, x_val)[1]), atol=ATOL)
    np.testing.assert_allclose(
        via_code, sigmoid(manual_pass(model, x_val, use_switches=False)[1]), atol=ATOL)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_compile_without_arguments_gives_adam_1e3(name):
    model = make_model(name)
    model.compile()
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-3)
    assert model.jit_compile == xla_helps(model)  # "auto" resolved at compile time
    if model.architecture == "mlp":
        assert model.jit_compile is True


def test_fit_compiles_with_defaults_when_not_compiled(x_train):
    model = make_model("ae")
    model.fit(x_train[:16], epochs=1, batch_size=16, verbose=0)
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert int(model.optimizer.iterations) == 1


def test_early_stopping_callback_stops_training(x_train, x_val):
    model = make_model("ae")
    model.compile(jit_compile=False)
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=10.0, patience=0)
    history = model.fit(x_train, epochs=10, batch_size=32, validation_data=(x_val,),
                        callbacks=[stop], verbose=0)
    assert len(history.history["val_loss"]) == 2
    assert stop.stopped_epoch == 1
    assert int(model.optimizer.iterations) == 4


def test_lazy_model_is_built_by_fit_on_a_tf_data_dataset(x_train, x_val):
    model = models.create("ae", latent_dim=LATENT, hidden_units=(32,), seed=0)
    assert model.example_shape is None and model.encoder is None
    model.compile(optimizer=keras.optimizers.Adam(3e-3), jit_compile=False)
    train = tf.data.Dataset.from_tensor_slices(x_train).batch(16)
    val = tf.data.Dataset.from_tensor_slices(x_val).batch(16)
    history = model.fit(train, epochs=4, validation_data=val, verbose=0)
    assert model.example_shape == (8, 8, 1)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert "val_reconstruction_loss" in history.history
    result = model.evaluate(val, return_dict=True, verbose=0)
    assert result["loss"] == pytest.approx(history.history["val_loss"][-1], rel=1e-5)
    assert tuple(model.encode(x_val).shape) == (len(x_val), LATENT)


def test_explicit_targets_and_label_arrays(trained, x_val):
    model = trained("ae", "mlp").model
    a = model.evaluate(x_val, batch_size=32, return_dict=True, verbose=0)
    b = model.evaluate(x_val, x_val, batch_size=32, return_dict=True, verbose=0)
    assert a["loss"] == pytest.approx(b["loss"], rel=1e-6)
    with pytest.raises(ValueError, match="not conditional"):  # labels are not a target
        model.evaluate(x_val, np.arange(len(x_val)), batch_size=32, verbose=0)
    flipped = 1.0 - x_val  # a target shaped like x is the reconstruction target
    d = model.evaluate(x_val, flipped, batch_size=32, return_dict=True, verbose=0)
    _, logits = manual_pass(model, x_val)
    assert d["loss"] == pytest.approx(np_bce_from_logits(flipped, logits), rel=1e-5)
