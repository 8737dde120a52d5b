"""Mixed precision under mixed_float16: its dynamic loss scaling goes through the
optimizer (both of FactorVAE's). Every model's mixed_bfloat16 training: the shared battery."""

import keras
import numpy as np
import pytest

from ae_zoo import models
from ae_zoo.training.build import dtype_policy

X = np.random.RandomState(0).rand(32, 8, 8, 1).astype("float32")
LABELS = np.arange(32) % 3


def make(name, policy):
    options = {"latent_dim": 2, "input_shape": (8, 8, 1), "architecture": "mlp",
               "hidden_units": (8,), "seed": 0}
    if models.get(name).conditional:
        options["num_classes"] = 3
    with dtype_policy(policy):
        return models.create(name, **options)


@pytest.mark.parametrize("policy, half", [("mixed_bfloat16", "bfloat16"),
                                          ("mixed_float16", "float16")])
@pytest.mark.parametrize("name", ["ae", "cvae", "factor_vae"])
def test_models_train_in_mixed_precision(name, policy, half):
    model = make(name, policy)
    model.compile(jit_compile=False)
    labels = LABELS if model.conditional else None
    assert model.encoder.get_layer("dense_0").compute_dtype == half
    # The loss terms themselves are float32, whatever the layers compute in.
    losses = model.terms(keras.ops.convert_to_tensor(X), labels, training=True)
    assert all(value.dtype == "float32" for value in losses.values()), {
        k: v.dtype for k, v in losses.items()}
    history = model.fit(X, labels, batch_size=16, epochs=10, verbose=0).history
    assert all(np.isfinite(v).all() for v in history.values()), history
    # Loss scaling goes through the optimizer, as Keras does it, only for float16: the
    # dynamic scale starts high, skips the steps whose float16 gradients overflow and
    # halves until they fit; every other step is applied.
    is_scaled = isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert is_scaled == (half == "float16")
    steps = int(model.optimizer.iterations)
    if is_scaled:
        assert 0 < steps <= 20
        # The train step differentiates the loss times the current scale.
        scaled = model.scale_loss(keras.ops.convert_to_tensor(1.0))
        assert float(scaled) == float(model.optimizer.dynamic_scale)
    else:
        assert steps == 20
    recon = model.predict((X, labels) if model.conditional else X, verbose=0)
    assert recon.dtype == np.float32 and np.isfinite(recon).all()


def test_the_global_policy_is_restored():
    before = keras.config.dtype_policy().name
    make("vae", "mixed_bfloat16")
    assert keras.config.dtype_policy().name == before
