"""Several steps in one XLA program (the training engine's): the same training as Keras'
own step-by-step loop, which a model runs on the plain KerasEngine."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from ae_zoo import models
from ae_zoo.training import fused as _fused
from ae_zoo.training.pipeline import ArrayPipeline

SHAPE = (6, 6, 1)


def data(n=37, seed=0):
    return np.random.default_rng(seed).uniform(size=(n, *SHAPE)).astype("float32")


def train(cls, x, steps_per_execution, jit_compile=True, epochs=2, drop_remainder=False,
          keras_loop=False, **kwargs):
    keras.utils.set_random_seed(0)
    model = cls(input_shape=SHAPE, latent_dim=2, hidden_units=(8,), seed=3, **kwargs)
    if keras_loop:
        model.engine = models.KerasEngine()  # this model alone trains through Keras' loop
    model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=jit_compile,
                  steps_per_execution=steps_per_execution)
    # e.g. 37 examples in batches of 4: 9 full batches and one of 1 -> executions of 4, 4, 2;
    # with drop_remainder, batches of one static shape -> executions of 4, 4, 1
    pipeline = ArrayPipeline(x, batch_size=4, seed=1, drop_remainder=drop_remainder)
    whole_batches = drop_remainder or len(x) % 4 == 0
    assert _fused._static(pipeline.dataset().element_spec) == whole_batches
    history = model.fit(pipeline.dataset(), epochs=epochs, verbose=0, callbacks=[pipeline.callback()])
    return model, history.history


def fused(model):
    return "fused_train_function" in model.train_function.__qualname__


@pytest.mark.parametrize("cls, n, epochs, steps, drop_remainder", [
    # an epoch with a partial batch: executions of 4 and 3 batches, the second's leading
    # two batches as one program, then its batch of 1 as another
    (models.VAE, 25, 2, 2 * 7, False),
    # one graph call per execution: executions of 4, 4 and 1 (three zero batches skipped)
    (models.VAE, 37, 2, 2 * 9, True),
    # two optimizers, one graph call per execution (executions of 4 and 3) ...
    (models.FactorVAE, 30, 1, 7, True),
    # ... and a partial batch (executions of 4, 4 and 1, the last batch of 2)
    pytest.param(models.FactorVAE, 34, 1, 9, False, marks=pytest.mark.slow),
])
def test_fused_steps_train_exactly_as_keras_loop(cls, n, epochs, steps, drop_remainder):
    x = data(n)
    a, history_a = train(cls, x, 4, epochs=epochs, drop_remainder=drop_remainder)
    b, history_b = train(cls, x, 4, epochs=epochs, drop_remainder=drop_remainder,
                         keras_loop=True)
    assert fused(a) and not fused(b)
    assert int(a.optimizer.iterations) == int(b.optimizer.iterations) == steps
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-6)
    assert history_a.keys() == history_b.keys()
    for key in history_a:
        np.testing.assert_allclose(history_a[key], history_b[key], rtol=1e-5, atol=1e-6)


def compiled(steps_per_execution, jit_compile=True):
    model = models.VAE(input_shape=SHAPE, latent_dim=2, hidden_units=(8,), seed=3)
    model.compile(jit_compile=jit_compile, steps_per_execution=steps_per_execution)
    model.make_train_function()
    return model


def test_keras_loop_where_fusing_does_not_apply():
    assert fused(compiled(4))
    assert not fused(compiled(4, jit_compile=False))
    assert not fused(compiled(1))


def test_numpy_input_trains_every_batch():
    model = compiled(4)
    model.fit(data(12), epochs=1, batch_size=4, verbose=0)  # through Keras' data adapter
    assert fused(model) and int(model.optimizer.iterations) == 3


def test_loss_goes_down_with_fused_steps():
    x = (data(64) > 0.5).astype("float32")
    model, history = train(models.VAE, x, 8, epochs=6)
    assert fused(model)
    assert history["loss"][-1] < history["loss"][0]


def test_not_fused_under_a_strategy():
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    with strategy.scope():
        model = models.VAE(input_shape=SHAPE, latent_dim=2, hidden_units=(8,), seed=3)
        model.compile(jit_compile=True, steps_per_execution=4)
    model.fit(data(16), epochs=1, batch_size=4, verbose=0)
    assert not fused(model)


def test_batches_of_unknown_shape_are_pulled_one_by_one_and_train_as_keras_loop():
    x = data(20)

    def batches():
        return tf.data.Dataset.from_generator(
            lambda: (x[i:i + 4] for i in range(0, 20, 4)),
            output_signature=tf.TensorSpec((None, None, None, None), tf.float32))

    spec = batches().element_spec
    assert not _fused._static(spec) and not _fused._fixed_examples(spec)
    trained = []
    for keras_loop in (False, True):
        keras.utils.set_random_seed(0)
        model = models.VAE(input_shape=SHAPE, latent_dim=2, hidden_units=(8,), seed=3)
        if keras_loop:
            model.engine = models.KerasEngine()
        model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=True, steps_per_execution=4)
        model.fit(batches(), epochs=2, verbose=0)
        trained.append(model)
    assert fused(trained[0]) and not fused(trained[1])
    assert int(trained[0].optimizer.iterations) == int(trained[1].optimizer.iterations) == 10
    for wa, wb in zip(trained[0].get_weights(), trained[1].get_weights(), strict=True):
        np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-6)
