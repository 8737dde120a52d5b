"""Inference on arrays: seconds for what the benchmarks and cards compute after training.

    python benchmarks/inference.py [--repeats 3]

On the dense VAE 784-512-256-16 (untrained weights: the cost does not depend on them) and
the 1,000 mnist5k test digits: the importance-weighted -log p(x) with K = 1000 samples
(``log_likelihood(x, num_samples=1000, batch_size=100)``, as ``ae-zoo train`` and the
cards call it), ``evaluate`` and ``encode(x, batch_size=256)``. The same script runs on an
older checkout (``PYTHONPATH=<checkout> python benchmarks/inference.py``) for a
before/after comparison; the first call of each (tracing) is excluded, medians reported.
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import ae_zoo  # noqa: E402


def seconds(call, repeats):
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    x = ae_zoo.data.load("mnist5k", "test").x
    model = ae_zoo.models.create("vae", latent_dim=16, input_shape=x.shape[1:],
                                 hidden_units=(512, 256), seed=0)
    model.compile()
    cases = {
        "log_likelihood, K = 1000, 1,000 digits": lambda: model.log_likelihood(
            x, num_samples=1000, batch_size=100),
        "evaluate, 1,000 digits": lambda: model.evaluate(x, batch_size=128, verbose=0),
        "encode(batch_size=256), 1,000 digits": lambda: model.encode(x, batch_size=256),
    }
    print(f"ae_zoo from {os.path.dirname(ae_zoo.__file__)}")
    for label, call in cases.items():
        median, times = seconds(call, args.repeats)
        print(f"  {label:<42} {median:8.3f} s   (runs: {', '.join(f'{t:.3f}' for t in times)})",
              flush=True)


if __name__ == "__main__":
    main()
