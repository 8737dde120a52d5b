"""tf.distribute: MirroredStrategy over two CPU devices, and two-process MultiWorkerMirrored.

Each configuration runs in its own process (logical devices and collective ops are
process-wide), through the recipe runner; the tests bound their time and stop the
processes themselves.
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np

WORKER = os.path.join(os.path.dirname(__file__), "distributed_worker.py")
TIMEOUT = 420


def _env(**extra):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **extra)
    env["PYTHONPATH"] = os.pathsep.join([os.getcwd(), env.get("PYTHONPATH", "")])
    return env


def _train(tmp_path, mode, model="ae"):
    out = tmp_path / f"{mode}-{model}.json"
    proc = subprocess.run([sys.executable, WORKER, mode, str(out), model], env=_env(),
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


def test_mirrored_two_devices_follow_the_single_device_trajectory(tmp_path):
    single = _train(tmp_path, "single")
    mirrored = _train(tmp_path, "mirrored")
    assert single["replicas"] == 1 and mirrored["replicas"] == 2
    # Same global batch: the per-replica losses, scaled by 1/replicas and summed by the
    # all-reduce, give the single device's gradient (up to float reassociation).
    np.testing.assert_allclose(mirrored["loss"], single["loss"], rtol=1e-5)
    for a, b in zip(mirrored["weights"], single["weights"]):
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-4, atol=1e-6)


def test_mirrored_vae_trains_and_replicas_draw_different_noise(tmp_path):
    code = r"""
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import numpy as np
import ae_zoo
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    vae = ae_zoo.models.create("vae", latent_dim=2, input_shape=(8, 8, 1), hidden_units=(8,), seed=1)
    dae = ae_zoo.models.create("denoising_ae", latent_dim=2, input_shape=(8, 8, 1), hidden_units=(8,),
                               corruption="gaussian", noise_level=0.5, seed=1)
x = tf.fill((4, 8, 8, 1), 0.5)
seeds = strategy.run(tf.function(lambda: vae.next_seed()))
noisy = strategy.run(tf.function(lambda: dae.corruption(x, training=True)))
a, b = (np.asarray(t) for t in strategy.experimental_local_results(seeds))
na, nb = (np.asarray(t) for t in strategy.experimental_local_results(noisy))
print("SEEDS_DIFFER", not np.array_equal(a, b), "NOISE_DIFFERS", not np.allclose(na, nb))
"""
    proc = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True,
                          text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "SEEDS_DIFFER True NOISE_DIFFERS True" in proc.stdout
    vae = _train(tmp_path, "mirrored", "vae")
    assert vae["replicas"] == 2 and vae["loss"][-1] < vae["loss"][0]


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_workers_end_with_identical_weights(tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    try:
        for index in range(2):
            tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
            out = tmp_path / f"worker{index}" / "result.json"
            out.parent.mkdir()
            procs.append((subprocess.Popen(
                [sys.executable, WORKER, "multiworker", str(out)], env=_env(TF_CONFIG=tf_config),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True), out))
        for proc, _ in procs:
            _, err = proc.communicate(timeout=TIMEOUT)
            assert proc.returncode == 0, err[-3000:]
    finally:
        for proc, _ in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    results = [json.loads(out.read_text()) for _, out in procs]
    assert [r["replicas"] for r in results] == [2, 2]
    assert results[0]["loss"] == results[1]["loss"]
    for a, b in zip(results[0]["weights"], results[1]["weights"]):
        np.testing.assert_array_equal(np.array(a), np.array(b))
    # Only the chief writes the run directory; the other worker's files stay in its own folder.
    chief_run = tmp_path / "worker0" / "run-multiworker"
    assert (chief_run / "model.keras").exists()
