"""SparseAutoencoder: the KL and L1 penalties against numpy, and KL training drives the
mean code activations toward the target sparsity."""

import keras
import numpy as np
import pytest

import ae_zoo.models as models
from ae_zoo.models.sparse import kl_sparsity
from tests.models.helpers import expected_losses, make_model, manual_pass, np_kl_sparsity


@pytest.mark.parametrize("rho", [0.05, 0.2, 0.5, 0.9])
@pytest.mark.parametrize("shape", [(16, 5), (3, 1), (64, 12)])
def test_kl_sparsity_equals_numpy_reference(rho, shape):
    code = np.random.default_rng(0).uniform(0.01, 0.99, size=shape).astype("float32")
    got = float(kl_sparsity(code, rho))
    assert got == pytest.approx(np_kl_sparsity(code, rho), rel=1e-5, abs=1e-6)
    assert got > 0


def test_kl_sparsity_is_zero_at_the_target_and_grows_away_from_it():
    rho = 0.1
    code = np.tile(np.array([[0.0], [0.2], [0.1], [0.1]], "float32"), (1, 6))  # means = 0.1
    assert float(kl_sparsity(code, rho)) == pytest.approx(0.0, abs=1e-6)
    far = np.full((4, 6), 0.5, "float32")
    near = np.full((4, 6), 0.15, "float32")
    assert float(kl_sparsity(far, rho)) > float(kl_sparsity(near, rho)) > 0


def test_l1_penalty_is_the_weighted_mean_absolute_code(x_val):
    model = make_model("sparse_ae", sparsity="l1", sparsity_weight=0.7)
    code, _ = manual_pass(model, x_val)
    np.testing.assert_allclose(np.asarray(model.encode(x_val)), code, atol=1e-6)
    assert code.min() < 0  # l1 codes are linear, not squashed
    assert float(model.sparsity_penalty(code)) == pytest.approx(np.mean(np.abs(code)), rel=1e-6)
    losses = model.objective(x_val)
    expected = expected_losses(model, x_val)
    assert float(losses["sparsity_loss"]) == pytest.approx(0.7 * np.mean(np.abs(code)), rel=1e-5)
    for key in ("loss", "reconstruction_loss", "sparsity_loss"):
        assert float(losses[key]) == pytest.approx(expected[key], rel=1e-5)


def test_kl_model_codes_are_sigmoids_and_loss_adds_the_weighted_kl(x_val):
    model = make_model("sparse_ae", sparsity="kl", sparsity_weight=2.0, target_sparsity=0.1)
    code = np.asarray(model.encode(x_val))
    assert code.min() > 0 and code.max() < 1
    losses = model.objective(x_val)
    assert float(losses["sparsity_loss"]) == pytest.approx(2.0 * np_kl_sparsity(code, 0.1), rel=1e-5)
    assert float(losses["loss"]) == pytest.approx(
        float(losses["reconstruction_loss"]) + float(losses["sparsity_loss"]), rel=1e-6)


def test_zero_weight_means_no_penalty(x_val):
    model = make_model("sparse_ae", sparsity_weight=0.0)
    losses = model.objective(x_val)
    assert float(losses["sparsity_loss"]) == 0.0
    assert float(losses["loss"]) == float(losses["reconstruction_loss"])


def test_kl_training_drives_mean_activations_toward_rho(digits):
    rho = 0.05
    x = digits[:512]
    model = models.create("sparse_ae", latent_dim=16, hidden_units=(32,), input_shape=(8, 8, 1),
                          sparsity="kl", sparsity_weight=1.0, target_sparsity=rho, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=False)
    initial = np.asarray(model.encode(x)).mean(axis=0)
    assert abs(initial.mean() - 0.5) < 0.15  # sigmoid codes start near 0.5
    history = model.fit(x, epochs=20, batch_size=64, verbose=0).history
    final = np.asarray(model.encode(x)).mean(axis=0)
    assert np.abs(final - rho).max() < 0.1 * np.abs(initial - rho).mean()
    assert abs(final.mean() - rho) < 0.01
    assert history["sparsity_loss"][-1] < 0.2 * history["sparsity_loss"][0]
    assert history["reconstruction_loss"][-1] < history["reconstruction_loss"][0]


@pytest.mark.parametrize("kwargs,match", [
    ({"target_sparsity": 0}, "target_sparsity"),
    ({"target_sparsity": 1}, "target_sparsity"),
    ({"target_sparsity": -0.1}, "target_sparsity"),
    ({"target_sparsity": 1.5}, "target_sparsity"),
    ({"sparsity": "l2"}, "l1, kl"),
    ({"sparsity_weight": -1.0}, "sparsity_weight"),
])
def test_invalid_sparse_hyperparameters_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        models.create("sparse_ae", latent_dim=2, **kwargs)
