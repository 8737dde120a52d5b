"""A training process for the tf.distribute tests (run as a script, not collected by pytest).

    python distributed_worker.py MODE OUT_JSON
MODE: "single" (one CPU device), "mirrored" (MirroredStrategy over two logical CPU
devices), "multiworker" (MultiWorkerMirroredStrategy; the cluster comes from TF_CONFIG).
Trains a tiny model through the recipe runner and writes its loss history and final
weights to OUT_JSON.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

mode, out_json = sys.argv[1], sys.argv[2]
model_name = sys.argv[3] if len(sys.argv) > 3 else "ae"
if mode == "mirrored":
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from ae_zoo.experiments.train import run  # noqa: E402

recipe = {
    "model": {"name": model_name, "latent_dim": 2, "options": {"hidden_units": [16]}},
    "data": {"name": "digits"},
    "training": {"epochs": 3, "batch_size": 64, "steps_per_epoch": 6, "jit_compile": False,
                 "iwae_samples": 0, "steps_per_execution": 1,
                 "strategy": None if mode == "single" else mode},
    "callbacks": {"backup": False},
    "out": os.path.join(os.path.dirname(out_json), f"run-{mode}"),
}
result = run(recipe, verbose=0)
model = result["model"]
payload = {
    "loss": result["history"]["loss"],
    "replicas": model.distribute_strategy.num_replicas_in_sync,
    "weights": [w.numpy().tolist() for w in model.weights if "seed" not in w.path],
}
with open(out_json, "w") as f:
    json.dump(payload, f)
