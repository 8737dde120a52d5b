"""What only a GPU can check (benchmarks/gpu_check.sh runs these where there is one; on a
machine without a GPU they are skipped): XLA-compiled training of the dense and conv VAEs
on the GPU, mixed_float16 and mixed_bfloat16, MirroredStrategy over the GPUs, and a model
trained on the GPU whose exported signatures run on a CPU."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from ae_zoo import models
from ae_zoo.export import export_saved_model
from ae_zoo.training.build import dtype_policy

GPUS = tf.config.list_physical_devices("GPU")
pytestmark = pytest.mark.skipif(not GPUS, reason="needs a GPU (benchmarks/gpu_check.sh)")

X = np.random.default_rng(0).uniform(size=(256, 32, 32, 1)).astype("float32")


def vae(architecture, **kwargs):
    keras.utils.set_random_seed(0)
    options = {"hidden_units": (64,)} if architecture == "mlp" else {"filters": (8, 16)}
    return models.create("vae", latent_dim=4, input_shape=X.shape[1:], architecture=architecture,
                         seed=0, **options, **kwargs)


@pytest.mark.parametrize("architecture", ["mlp", "conv"])
def test_xla_training_on_the_gpu(architecture):
    model = vae(architecture)
    model.compile()
    assert model.jit_compile  # "auto" is XLA on a GPU, for convolutions too
    history = model.fit(X, batch_size=64, epochs=4, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    assert "GPU" in model.weights[0].value.device


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_on_the_gpu(policy):
    with dtype_policy(policy):
        model = vae("conv")
    model.compile()
    history = model.fit(X, batch_size=64, epochs=3, verbose=0).history
    assert all(np.isfinite(v).all() for v in history.values())
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer) == (policy == "mixed_float16")


def test_mirrored_strategy_over_the_gpus():
    strategy = tf.distribute.MirroredStrategy()
    assert strategy.num_replicas_in_sync == len(GPUS)
    with strategy.scope():
        model = vae("mlp")
        model.compile()
    history = model.fit(X, batch_size=64, epochs=3, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]


def test_a_model_trained_on_the_gpu_serves_on_a_cpu(tmp_path):
    model = vae("conv")
    model.compile()
    model.fit(X, batch_size=64, epochs=2, verbose=0)
    path = export_saved_model(model, tmp_path / "vae", warmup=False)
    np.save(tmp_path / "x.npy", X[:8])
    np.save(tmp_path / "expected.npy", np.stack([np.asarray(model.reconstruct(X[:8])),
                                                 np.asarray(model.sample(8, seed=3))]))
    script = (
        "import sys, numpy as np, tensorflow as tf\n"
        "assert not tf.config.list_physical_devices('GPU')\n"
        "m = tf.saved_model.load(sys.argv[1])\n"
        "x = tf.constant(np.load(sys.argv[2]))\n"
        "r = m.signatures['reconstruct'](x=x)['reconstruction'].numpy()\n"
        "s = m.signatures['sample'](seed=tf.range(3, 11, dtype=tf.int64))['image'].numpy()\n"
        "e = np.load(sys.argv[3])\n"
        "print(float(abs(r - e[0]).max()), float(abs(s - e[1]).max()))\n")
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", script, path, str(tmp_path / "x.npy"),
                           str(tmp_path / "expected.npy")], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    recon_error, sample_error = map(float, done.stdout.split()[-2:])
    assert recon_error < 1e-3 and sample_error < 1e-3
