"""FusedAdam: Keras's Adam, applied by TensorFlow's fused ResourceApplyAdam kernel."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import ae_zoo
from ae_zoo.training import FusedAdam

STEPS = 6


def _gradients(seed=0, steps=STEPS):
    rng = np.random.default_rng(seed)
    # Gradients of changing scale and sign, some near zero, as in training.
    return [[rng.normal(size=(5, 3)) * 10.0 ** rng.integers(-4, 1), rng.normal(size=(3,))]
            for _ in range(steps)]


def _apply(optimizer, gradients, jit_compile=False, dtype="float32"):
    rng = np.random.default_rng(1)
    variables = [keras.Variable(rng.normal(size=(5, 3)), dtype=dtype),
                 keras.Variable(rng.normal(size=(3,)), dtype=dtype)]
    optimizer.build(variables)

    @tf.function(jit_compile=jit_compile)
    def step(grads):
        optimizer.apply_gradients(zip(grads, variables))

    for grads in gradients:
        step([tf.constant(g, dtype) for g in grads])
    return [v.numpy() for v in variables], [v.numpy() for v in optimizer.variables]


def _numpy_adam(gradients, lr=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    """Adam as written in Keras's docstring (Kingma and Ba with "epsilon hat"), float64.
    The learning rate is rounded to float32, as Keras keeps it in a float32 variable."""
    lr = float(np.float32(lr))
    rng = np.random.default_rng(1)
    weights = [rng.normal(size=(5, 3)), rng.normal(size=(3,))]
    m = [np.zeros_like(w) for w in weights]
    v = [np.zeros_like(w) for w in weights]
    for t, grads in enumerate(gradients, start=1):
        alpha = lr * np.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)
        for i, g in enumerate(grads):
            m[i] = m[i] + (g - m[i]) * (1 - beta_1)
            v[i] = v[i] + (g * g - v[i]) * (1 - beta_2)
            weights[i] = weights[i] - alpha * m[i] / (np.sqrt(v[i]) + epsilon)
    return weights


def test_matches_a_numpy_adam():
    gradients = _gradients()
    weights, _ = _apply(FusedAdam(1e-3), gradients, dtype="float64")
    for got, want in zip(weights, _numpy_adam(gradients)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    weights, _ = _apply(FusedAdam(0.05, beta_1=0.5, beta_2=0.9, epsilon=1e-3), gradients,
                        dtype="float64")
    for got, want in zip(weights, _numpy_adam(gradients, 0.05, 0.5, 0.9, 1e-3)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


SETTINGS = {
    "defaults": {},
    "betas and epsilon": {"beta_1": 0.5, "beta_2": 0.9, "epsilon": 1e-4},
    "schedule": {"learning_rate": keras.optimizers.schedules.ExponentialDecay(0.01, 2, 0.5)},
    "weight decay": {"weight_decay": 0.1},
    "clipnorm": {"clipnorm": 0.01},
    "gradient accumulation": {"gradient_accumulation_steps": 2},
    "ema": {"use_ema": True, "ema_momentum": 0.5},
    "amsgrad (Keras's update)": {"amsgrad": True},
}


@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
@pytest.mark.parametrize("setting", list(SETTINGS))
def test_matches_keras_adam(setting, jit_compile):
    def make(cls):
        return cls(**SETTINGS[setting])  # a schedule is stateless: sharing it is safe

    gradients = _gradients(seed=2)
    fused_weights, fused_slots = _apply(make(FusedAdam), gradients, jit_compile)
    keras_weights, keras_slots = _apply(make(keras.optimizers.Adam), gradients, jit_compile)
    start, _ = _apply(make(keras.optimizers.Adam), [], jit_compile)
    assert not np.allclose(keras_weights[0], start[0])  # the steps moved the weights
    for got, want in zip(fused_weights + fused_slots, keras_weights + keras_slots):
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-7)


def _traced_ops(optimizer, gradient):
    variable = keras.Variable(np.ones((4, 2)), dtype="float32")
    optimizer.build([variable])
    fn = tf.function(lambda g: optimizer.apply_gradients([(g, variable)]))
    graph_def = fn.get_concrete_function(gradient).graph.as_graph_def()
    ops = {node.op for node in graph_def.node}
    for function in graph_def.library.function:  # the update runs inside nested functions
        ops |= {node.op for node in function.node_def}
    return ops


def test_the_fused_kernel_does_the_update():
    dense = tf.TensorSpec((4, 2), tf.float32)
    assert "ResourceApplyAdam" in _traced_ops(FusedAdam(), dense)
    assert "ResourceApplyAdam" not in _traced_ops(keras.optimizers.Adam(), dense)
    assert "ResourceApplyAdam" not in _traced_ops(FusedAdam(amsgrad=True), dense)


def test_sparse_gradients_take_keras_update():
    def run(cls):
        table = keras.Variable(np.arange(12.0).reshape(6, 2), dtype="float32")
        optimizer = cls(0.1)
        for ids in ([0, 2], [2, 5], [1, 2]):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(tf.gather(table.value, ids) ** 2)
            grad = tape.gradient(loss, table.value)
            assert isinstance(grad, tf.IndexedSlices)
            optimizer.apply_gradients([(grad, table)])
        return table.numpy()

    got, want = run(FusedAdam), run(keras.optimizers.Adam)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    np.testing.assert_array_equal(got[[3, 4]], [[6.0, 7.0], [8.0, 9.0]])  # rows never seen


def _tiny_model(policy=None):
    keras.utils.set_random_seed(3)
    dtype = keras.DTypePolicy(policy) if policy else None
    return keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, "relu", dtype=dtype),
                             keras.layers.Dense(1, dtype=dtype)])


@pytest.mark.parametrize("policy", [None, "mixed_bfloat16", "mixed_float16"])
def test_training_matches_keras_adam(policy):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(64, 6)).astype("float32")
    y = (x @ rng.normal(size=(6, 1))).astype("float32")
    runs = []
    for cls in (FusedAdam, keras.optimizers.Adam):
        model = _tiny_model(policy)
        optimizer = cls(1e-2)
        if policy == "mixed_float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        model.compile(optimizer=optimizer, loss="mse", jit_compile=False)
        history = model.fit(x, y, batch_size=16, epochs=3, verbose=0, shuffle=False)
        runs.append((history.history["loss"], model.get_weights()))
    (fused_loss, fused_weights), (keras_loss, keras_weights) = runs
    assert fused_loss[-1] < fused_loss[0]
    np.testing.assert_allclose(fused_loss, keras_loss, rtol=1e-4)
    for got, want in zip(fused_weights, keras_weights):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_is_the_default_optimizer_and_survives_keras_saving(tmp_path):
    x = np.random.default_rng(5).random((32, 4, 4, 1)).astype("float32")
    model = ae_zoo.models.create("vae", latent_dim=2, input_shape=(4, 4, 1), hidden_units=(8,),
                                 seed=0)
    model.compile(jit_compile=False)
    assert type(model.optimizer) is FusedAdam and model.optimizer.learning_rate == 1e-3
    model.fit(x, batch_size=16, epochs=1, verbose=0)
    path = str(tmp_path / "vae.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.optimizer) is FusedAdam
    assert int(loaded.optimizer.iterations) == 2
    for got, want in zip(loaded.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_recipes_and_tuning_default_to_it():
    import keras_tuner

    from ae_zoo.training.recipes import validate
    from ae_zoo.training.build import make_optimizer
    from ae_zoo.tuning import AutoencoderHyperModel

    recipe = validate({"model": {"name": "ae"}, "data": {"name": "digits"}})
    assert type(make_optimizer(recipe["training"], 10)) is FusedAdam
    hypermodel = AutoencoderHyperModel("vae", (4, 4, 1), compile_options={"jit_compile": False})
    hp = keras_tuner.HyperParameters()
    hypermodel.declare_hyperparameters(hp)
    assert type(hypermodel.build(hp).optimizer) is FusedAdam


MIRRORED = r"""
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras, numpy as np
from ae_zoo.training import FusedAdam
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
rng = np.random.default_rng(0)
x = rng.normal(size=(64, 6)).astype("float32")
y = (x @ rng.normal(size=(6, 1))).astype("float32")
weights, moved = [], []
for cls in (FusedAdam, keras.optimizers.Adam):
    keras.utils.set_random_seed(3)
    with strategy.scope():
        model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, "relu"),
                                  keras.layers.Dense(1)])
        model.compile(optimizer=cls(1e-2), loss="mse", jit_compile=False)
    start = model.get_weights()
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False)
    weights.append(model.get_weights())
    moved.append(min(float(np.max(np.abs(a - b))) for a, b in zip(start, weights[-1])))
diff = max(float(np.max(np.abs(a - b))) for a, b in zip(*weights))
print("MAXDIFF", diff, "MOVED", min(moved))
"""


def test_mirrored_strategy_matches_keras_adam():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env["PYTHONPATH"] = os.pathsep.join([os.getcwd(), env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-c", MIRRORED], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    fields = proc.stdout.split()
    diff, moved = (float(fields[fields.index(key) + 1]) for key in ("MAXDIFF", "MOVED"))
    assert moved > 1e-3 and diff < 1e-5
