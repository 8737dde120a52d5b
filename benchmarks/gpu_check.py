"""The body of benchmarks/gpu_check.sh: the GPU tests and the throughput benchmark, one
JSON report. Without a GPU: the CPU subset, a report saying so, exit status 0.

    python benchmarks/gpu_check.py [--out gpu_check.json]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
#: Without a GPU: the tests of what the GPU check exercises, on the CPU.
CPU_SUBSET = ["tests/training/test_fit.py", "tests/training/test_mixed_precision.py",
              "tests/test_gpu.py"]


def run(command, timeout):
    """``(exit status, seconds, the output's last 4,000 characters)``."""
    start = time.time()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    return done.returncode, time.time() - start, (done.stdout + done.stderr)[-4000:]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="gpu_check.json")
    parser.add_argument("--started", type=float, default=None, help="the install's start time")
    args = parser.parse_args()
    import tensorflow as tf  # the report names the devices TensorFlow sees

    gpus = [tf.config.experimental.get_device_details(g).get("device_name", g.name)
            for g in tf.config.list_physical_devices("GPU")]
    report = {"gpus": gpus, "tensorflow": tf.__version__, "python": sys.version.split()[0]}
    if not gpus:
        print("No GPU here: running the CPU subset only.")
        status, seconds, tail = run([sys.executable, "-m", "pytest", "-q", "-n", "0", *CPU_SUBSET],
                                    timeout=900)
        report.update(gpu=False, cpu_subset={"exit_status": status, "seconds": seconds,
                                             "output": tail})
    else:
        print(f"GPUs: {', '.join(gpus)}")
        status, seconds, tail = run([sys.executable, "-m", "pytest", "-q", "-n", "0",
                                     "tests/test_gpu.py"], timeout=600)
        report.update(gpu=True, tests={"exit_status": status, "seconds": seconds, "output": tail})
        figures = os.path.join(tempfile.mkdtemp(), "throughput.json")
        status, seconds, tail = run([sys.executable, os.path.join(HERE, "throughput.py"),
                                     "--epochs", "4", "--repeats", "2", "--no-peers",
                                     "--json", figures], timeout=900)
        report["throughput"] = {"exit_status": status, "seconds": seconds, "output": tail}
        if status == 0:
            with open(figures, encoding="utf-8") as f:
                report["throughput"]["figures"] = json.load(f)
    if args.started:
        report["total_seconds"] = time.time() - args.started
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
    print(f"Wrote {args.out}")
    if not gpus:  # exit 0 when the CPU subset passes
        return int(report["cpu_subset"]["exit_status"] != 0)
    return int(report["tests"]["exit_status"] != 0 or report["throughput"]["exit_status"] != 0)


if __name__ == "__main__":
    sys.exit(main())
