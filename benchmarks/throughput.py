"""Training throughput of ae_zoo as the README trains, against its peers, and the roofline.

    python benchmarks/throughput.py [--epochs 6] [--repeats 3] [--skip-conv] [--no-peers]

Measures training samples/second for
  (a) the dense VAE 784-512-256-16 (Bernoulli, batch 128) on all 5,000 mnist5k digits,
  (b) the conv VAE of the dSprites recipe (conv 32-32-64-64, 4x4 kernels, stride 2, dense
      256, 10 latents; batch 64) on 4,096 dSprites images,
each trained
  * by ae_zoo the way the README writes it: ``ae_zoo.models.create("vae", ...)``,
    ``compile()`` with no arguments, ``fit(x_numpy, batch_size=..., epochs=...)``;
  * as the keras.io VAE example writes it (benchmarks/keras_baseline.py: Keras' defaults,
    ``fit`` on numpy);
  * as a plain PyTorch training loop of the same model (benchmarks/peers/torch_vae.py);
  * (dense only) by Pythae's ``TrainingPipeline`` (benchmarks/peers/pythae_vae.py).
The peers run in their own virtual environment (benchmarks/.peers-venv, made on first use:
torch CPU and pythae, never ae_zoo's dependencies; ``--no-peers`` skips them). Every
framework trains on every example of an epoch, the partial last batch included. The
first epoch (compilation) is excluded; a run's figure is the median over its remaining
epochs. The runs are interleaved (one of each framework per run), ratios are taken within
a run, and the medians over the runs are printed with every run's figure: the 2-core
machine is noisy (+-25% between identical runs, other tenants' load comes and goes).

The roofline: the matrix-multiply rate for the dense VAE's own layer shapes (benchmarks/
roofline.py), and the fraction of it ae_zoo's training reaches through ``fit`` (each
epoch against the rate measured right after it, outside the epoch's time; the median
over the epochs after the first: this machine's speed drifts by up to 1.6x for seconds
at a time, so a rate measured a minute away can belong to another regime), and for the
train step alone (16 steps in one XLA program on a fixed batch, no fit loop, no tf.data;
against the rate measured just before and after it). The same for the
conv VAE, its convolutions counted as im2col matmuls.
Targets (issue 15): dense >= 2x the keras.io baseline, >= 1.5x Pythae, >= 1.3x PyTorch;
conv >= 1.5x PyTorch; the dense VAE through fit >= 80% of the roofline.
"""

import argparse
import json
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import ae_zoo  # noqa: E402
import peers  # noqa: E402
from keras_baseline import DENSE, LATENT, baseline_conv, baseline_dense, run_baseline  # noqa: E402
from roofline import MatmulRate, bracketed, step_matmuls  # noqa: E402


class EpochTimer(keras.callbacks.Callback):
    """Every epoch's seconds; with ``peak`` (a :class:`MatmulRate`), also the matmul rate
    measured right after each epoch, outside its time."""

    def __init__(self, peak=None):
        super().__init__()
        self.times, self.peaks, self.peak = [], [], peak

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._start)
        if self.peak is not None:
            self.peaks.append(self.peak(repeats=10, rounds=3))


def rate(per_epoch, samples):
    """Samples/s: the median epoch after the first (``per_epoch``: seconds, or rates with
    ``samples=None``)."""
    later = per_epoch[1:]
    return statistics.median(later) if samples is None else samples / statistics.median(later)


def run_ae_zoo(x, model_kwargs, batch_size, epochs, peak):
    """The README's code path: create, compile() with no arguments, fit on numpy.
    Returns samples/s, the matmul rate (median over the epochs after the first), the
    fraction of it the training reached (each epoch against the rate measured right
    after it, then the median: the machine's speed drifts over seconds, so both sides of
    an epoch's ratio see the same machine) and the model."""
    keras.utils.set_random_seed(0)
    model = ae_zoo.models.create("vae", input_shape=x.shape[1:], seed=0, **model_kwargs)
    model.compile()
    timer = EpochTimer(peak)
    model.fit(x, batch_size=batch_size, epochs=epochs, verbose=0, callbacks=[timer])
    fractions = [len(x) / t * peak.flops / batch_size / p
                 for t, p in zip(timer.times, timer.peaks)]
    return rate(timer.times, len(x)), rate(timer.peaks, None), rate(fractions, None), model


def keras_baseline(x, build, batch_size, epochs):
    timer = EpochTimer()
    model = run_baseline(x, build, batch_size, epochs, timer)
    return rate(timer.times, len(x)), model


def step_alone_rate(model, x, batch_size, steps=16, repeats=15):
    """Samples/s of the model's own compiled ``train_step`` run ``steps`` times in one
    function (one XLA program where the model compiles with XLA) on one fixed batch: the
    step without Keras' fit loop and tf.data."""
    batch = tf.constant(x[:batch_size])

    @tf.function(jit_compile=model.jit_compile)
    def run(data):
        logs = None
        for _ in range(steps):
            logs = model.train_step(data)
        return logs["loss"]

    run(batch).numpy()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(batch).numpy()
        times.append((time.perf_counter() - start) / steps)
    return batch_size / statistics.median(times)


def summary(values, fmt):
    """The median of per-run figures and every run's figure (this machine is noisy)."""
    runs = ", ".join(fmt.format(v) for v in values)
    return f"{fmt.format(statistics.median(values)):>10}   (runs: {runs})"


def print_ratios(ours, others, targets):
    """ae_zoo against each peer, with the issue's targets."""
    for name, values in others.items():
        if values:
            target = f"   target >= {targets[name]}x" if name in targets else ""
            print(f"  speed-up over {name:<12}{summary([o / v for o, v in zip(ours, values)], '{:.2f}x')}"
                  f"{target}")


def measure(label, x, model_kwargs, build, batch_size, epochs, repeats, peer_kinds, targets):
    """Interleaved runs of every framework on ``x``; prints the section and returns the
    per-run ``(ae_zoo, ae_zoo step alone, peak rate, FLOP per sample)``."""
    peak_rate = MatmulRate(step_matmuls(build(x.shape[1:]), batch_size))
    flops = peak_rate.flops / batch_size
    path = None
    if peer_kinds:
        path = os.path.join(tempfile.mkdtemp(prefix="ae_zoo_bench_"), "x.npy")
        np.save(path, x)
    runs = {name: [] for name in ("ae_zoo", "fraction", "peak", "alone", "alone_fraction",
                                  "keras.io", *peer_kinds)}
    for _ in range(repeats):
        speed, peak, fraction, model = run_ae_zoo(x, model_kwargs, batch_size, epochs, peak_rate)
        runs["ae_zoo"].append(speed)
        runs["peak"].append(peak)
        runs["fraction"].append(fraction)
        alone, peak = bracketed(peak_rate, lambda: step_alone_rate(
            model, x, batch_size, repeats=15 if x.shape[1] < 64 else 6))
        runs["alone"].append(alone)
        runs["alone_fraction"].append(alone * flops / peak)
        runs["keras.io"].append(keras_baseline(x, build, batch_size, epochs)[0])
        for name, (script, *arguments) in peer_kinds.items():
            runs[name].append(rate(peers.peer_rates(script, *arguments, path, batch_size, epochs),
                                   None))
    print(f"\n{label} ({repeats} runs, {epochs} epochs each, first epoch excluded), samples/s")
    for name in ("ae_zoo", "keras.io", *peer_kinds):
        print(f"  {name:<26}{summary(runs[name], '{:.0f}')}")
    print_ratios(runs["ae_zoo"], {k: runs[k] for k in ("keras.io", *peer_kinds)}, targets)
    return runs, flops


def print_roofline(runs, flops, batch_size, target=None):
    ours, alone, peak = runs["ae_zoo"], runs["alone"], runs["peak"]
    print(f"  matmul rate, same shapes  {summary([p / 1e9 for p in peak], '{:.1f}')} GFLOP/s"
          "   (measured after each epoch)")
    print(f"  training FLOP per sample  {flops / 1e6:10.2f} MFLOP")
    print(f"  ae_zoo training           {summary([o * flops / 1e9 for o in ours], '{:.1f}')} GFLOP/s")
    print(f"  = fraction of matmul rate {summary(runs['fraction'], '{:.0%}')}"
          + (f"   target >= {target:.0%}" if target else "")
          + "   (each epoch against the rate right after it)")
    print(f"  its train step alone      {summary(runs['alone_fraction'], '{:.0%}')}"
          "   (16 steps in one compiled function, one fixed batch: no fit loop, no tf.data)")
    print(f"  fit loop + tf.data cost   "
          f"{summary([1e3 * batch_size * (1 / o - 1 / a) for o, a in zip(ours, alone)], '{:.2f}')}"
          " ms per step")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-conv", action="store_true")
    parser.add_argument("--no-peers", action="store_true", help="skip PyTorch and Pythae")
    parser.add_argument("--json", default=None, help="also write every run's figures here")
    args = parser.parse_args()
    if args.epochs < 2 or args.repeats < 1:
        parser.error("--epochs must be >= 2 (the first one is excluded) and --repeats >= 1")
    if not args.no_peers:
        peers.ensure_venv()

    mnist = ae_zoo.data.load("mnist5k", "train"), ae_zoo.data.load("mnist5k", "test")
    x = np.concatenate([part.x for part in mnist])
    dense_kwargs = dict(latent_dim=LATENT, hidden_units=DENSE, likelihood="bernoulli")
    dense_peers = {} if args.no_peers else {
        "PyTorch": ("torch_vae.py", "dense"), "Pythae": ("pythae_vae.py",)}
    runs, flops = measure(
        "Dense VAE 784-512-256-16, Bernoulli, batch 128, all 5,000 mnist5k digits", x,
        dense_kwargs, baseline_dense, 128, args.epochs, args.repeats, dense_peers,
        {"keras.io": 2.0, "Pythae": 1.5, "PyTorch": 1.3})
    print_roofline(runs, flops, 128, target=0.8)
    gpus = tf.config.list_physical_devices("GPU")
    report = {"device": f"{len(gpus)} GPU(s)" if gpus else "CPU",
              "dense": {**runs, "flop_per_sample": flops}}

    if not args.skip_conv:
        dsprites = ae_zoo.data.load("dsprites", "train", num_samples=4096).x
        conv_kwargs = dict(latent_dim=10, architecture="conv", filters=(32, 32, 64, 64),
                           kernel_size=4, dense_units=(256,), likelihood="bernoulli")
        conv_peers = {} if args.no_peers else {"PyTorch": ("torch_vae.py", "conv")}
        runs, flops = measure(
            "Conv VAE of the dSprites recipe (32-32-64-64, 4x4/2, dense 256, 10 latents), "
            "batch 64, 4,096 64x64x1 images", dsprites, conv_kwargs, baseline_conv, 64,
            max(3, args.epochs // 2), args.repeats, conv_peers, {"PyTorch": 1.5})
        print_roofline(runs, flops, 64)
        report["conv"] = {**runs, "flop_per_sample": flops}
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
