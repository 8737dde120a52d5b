"""DenoisingAutoencoder: noise fresh for every batch and only in training; the loss
compares the reconstruction of the corrupted input with the clean input."""

import keras
import numpy as np
import pytest

import ae_zoo.models as models
from ae_zoo.layers import GaussianCorruption, Masking, Occlusion, SaltAndPepper
from tests.models.helpers import expected_losses, make_model, manual_pass, np_bce_from_logits

KINDS = {"gaussian": GaussianCorruption, "salt_and_pepper": SaltAndPepper,
         "masking": Masking, "occlusion": Occlusion}


def seed_counter(model):
    return int(np.asarray(model.corruption.seed_generator.state)[1])


@pytest.mark.parametrize("kind", list(KINDS))
def test_corruption_is_fresh_per_call_and_reconstruct_is_clean(x_val, kind):
    model = make_model("denoising_ae", corruption=kind, noise_level=0.4)
    assert type(model.corruption) is KINDS[kind]
    a, b = np.asarray(model.corrupt(x_val)), np.asarray(model.corrupt(x_val))
    assert a.shape == x_val.shape and not np.array_equal(a, b)
    assert not np.array_equal(a, x_val)
    counter = seed_counter(model)
    rec = np.asarray(model.reconstruct(x_val))
    np.testing.assert_array_equal(rec, np.asarray(model.reconstruct(x_val)))
    model.predict(x_val, verbose=0)
    model.encode(x_val)
    assert seed_counter(model) == counter  # inference draws no noise
    clean = model.objective(x_val, training=False)
    np.testing.assert_allclose(float(clean["loss"]), expected_losses(model, x_val)["loss"], rtol=1e-5)
    noisy1 = float(model.objective(x_val, training=True)["loss"])
    noisy2 = float(model.objective(x_val, training=True)["loss"])
    assert noisy1 != noisy2 and noisy1 != pytest.approx(float(clean["loss"]), rel=1e-6)


@pytest.mark.parametrize("loss", ["bce", "mse"])
def test_evaluate_is_the_clean_reconstruction_error(x_val, loss):
    model = make_model("denoising_ae", corruption="masking", noise_level=0.5,
                       reconstruction_loss=loss)
    model.compile(jit_compile=False)
    counter = seed_counter(model)
    r1 = model.evaluate(x_val, batch_size=8, return_dict=True, verbose=0)
    r2 = model.evaluate(x_val, batch_size=8, return_dict=True, verbose=0)
    assert r1 == r2
    assert seed_counter(model) == counter
    if loss == "mse":  # directly from the public reconstruction
        rec = np.asarray(model.reconstruct(x_val), np.float64)
        expected = float(np.mean((rec - x_val) ** 2))
    else:
        expected = np_bce_from_logits(x_val, manual_pass(model, x_val)[1])
    assert r1["loss"] == pytest.approx(expected, rel=1e-5)
    assert r1["reconstruction_loss"] == r1["loss"]


def test_training_loss_targets_the_clean_input(x_train):
    # Masking at rate 1 turns every input into zeros: the model sees 0, and the loss
    # must be l(x, g(f(0))) with the clean x as target.
    model = make_model("denoising_ae", corruption="masking", noise_level=1.0)
    rng = np.random.default_rng(0)
    for w in model.trainable_weights:  # non-zero biases: g(f(0)) is not the all-zero logit
        w.assign(np.asarray(w) + rng.normal(0, 0.3, w.shape).astype("float32"))
    zeros = np.zeros_like(x_train)
    np.testing.assert_array_equal(np.asarray(model.corrupt(x_train)), zeros)
    _, logits0 = manual_pass(model, zeros)
    expected = np_bce_from_logits(x_train, logits0)
    got = model.objective(x_train, training=True)
    assert float(got["loss"]) == pytest.approx(expected, rel=1e-5)
    assert float(got["loss"]) != pytest.approx(np_bce_from_logits(zeros, logits0), rel=1e-3)
    # The same through fit's train_step: the first (only) batch's loss, before the update.
    model.compile(optimizer=keras.optimizers.SGD(1e-3), jit_compile=False)
    history = model.fit(x_train, epochs=1, batch_size=len(x_train), verbose=0).history
    assert history["loss"][0] == pytest.approx(expected, rel=1e-5)


def test_zero_noise_training_loss_equals_clean_loss(x_val):
    model = make_model("denoising_ae", corruption="gaussian", noise_level=0.0)
    train = float(model.objective(x_val, training=True)["loss"])
    assert train == pytest.approx(expected_losses(model, x_val)["loss"], rel=1e-5)


@pytest.mark.parametrize("jit", [False, True], ids=["graph", "xla"])
def test_noise_is_drawn_once_per_training_batch(x_train, jit):
    model = make_model("denoising_ae", corruption="occlusion", noise_level=0.5)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=jit)
    before = model.evaluate(x_train, batch_size=64, return_dict=True, verbose=0)["loss"]
    start = seed_counter(model)
    history = model.fit(x_train, epochs=3, batch_size=16, verbose=0).history
    assert seed_counter(model) - start == 3 * 4  # one fresh draw per step
    after = model.evaluate(x_train, batch_size=64, return_dict=True, verbose=0)["loss"]
    assert seed_counter(model) - start == 12  # and none while evaluating
    assert after < before and np.all(np.isfinite(history["loss"]))


def test_same_seed_same_noise_different_seed_different_noise(x_val):
    a = make_model("denoising_ae", corruption="salt_and_pepper", seed=5)
    b = make_model("denoising_ae", corruption="salt_and_pepper", seed=5)
    c = make_model("denoising_ae", corruption="salt_and_pepper", seed=6)
    a1, b1, c1 = (np.asarray(m.corrupt(x_val)) for m in (a, b, c))
    np.testing.assert_array_equal(a1, b1)
    assert not np.array_equal(a1, c1)
    np.testing.assert_array_equal(np.asarray(a.corrupt(x_val)), np.asarray(b.corrupt(x_val)))


def test_user_corruption_layer_is_used_and_serialized(x_val, tmp_path):
    layer = SaltAndPepper(0.5, seed=3)
    model = make_model("denoising_ae", corruption=layer)
    assert model.corruption is layer
    out = np.asarray(model.corrupt(np.full((32, 8, 8, 1), 0.5, "float32")))
    assert 0.4 < np.isin(out, (0.0, 1.0)).mean() < 0.6
    model(x_val[:2])
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert type(loaded.corruption) is SaltAndPepper and loaded.corruption.rate == 0.5
    np.testing.assert_array_equal(np.asarray(loaded.reconstruct(x_val)),
                                  np.asarray(model.reconstruct(x_val)))


def test_loaded_model_continues_the_noise_stream(x_val, tmp_path):
    model = make_model("denoising_ae", corruption="masking")
    model(x_val[:2])
    model.corrupt(x_val)
    model.corrupt(x_val)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(np.asarray(loaded.corrupt(x_val)), np.asarray(model.corrupt(x_val)))


def test_gaussian_corruption_does_not_clip_mse_data(x_val):
    model = make_model("denoising_ae", reconstruction_loss="mse", corruption="gaussian",
                       noise_level=0.0)
    x = x_val * 4 - 2  # accepted by the mse model's input checks
    np.testing.assert_allclose(np.asarray(model.corrupt(x)), x, atol=1e-6)


@pytest.mark.parametrize("kwargs,match", [
    ({"noise_level": -0.1}, "noise_level"),
    ({"corruption": "masking", "noise_level": 1.5}, "rate"),
    ({"corruption": "occlusion", "noise_level": 1.5}, "size_range"),
    ({"corruption": "blur"}, "gaussian, salt_and_pepper, masking, occlusion"),
])
def test_invalid_denoising_hyperparameters_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        models.create("denoising_ae", latent_dim=2, **kwargs)
