"""Training throughput of ae_zoo's defaults against a plain Keras baseline, and the roofline.

    python benchmarks/throughput.py [--epochs 6] [--repeats 3] [--skip-conv]

Measures training samples/second, in one process, for
  (a) the dense VAE 784-512-256-16 (Bernoulli, batch 128) on mnist5k, trained the way
      `ae-zoo train vae` trains it (ae_zoo defaults: XLA-compiled step, several steps per
      execution, the in-memory epoch pipeline), and
  (b) the same model written the way the keras.io VAE example writes it: a `Sampling`
      layer, a `keras.Model` subclass with a custom `train_step`, `compile(Adam())` with
      Keras' defaults (no XLA on CPU, one step per execution), `fit` on numpy arrays;
and the same pair for the conv VAE of the dSprites recipe (conv 32-32-64-64, 4x4
kernels, stride 2, dense 256, 10 latents; batch 64). The first epoch (compilation) is
excluded; a run's figure is the median over its remaining epochs. Each run measures
ae_zoo between two measurements of the matmul rate, then the baseline; ratios are taken
within a run and the medians over the runs are printed with every run's figure (the
2-core machine these targets were set on is noisy: +-25% between identical runs, and
other tenants' load comes and goes within seconds).

It also measures the matrix-multiply rate this machine reaches for the dense VAE's own
layer shapes (every forward and backward product of one training step, run back to back
in a compiled loop, the better of TF's and XLA's kernels; a median over repeats, the same
statistic as the training figures; the mean of the measurements just before and just after
ae_zoo's training, so a change of load moves both alike), and reports the fraction of it the
dense VAE's training reaches: achieved FLOP/s / matmul FLOP/s (the roofline), both for
training through `fit` and for the model's compiled train step alone (16 steps in one
XLA program on a fixed batch), which separates the step from the fit loop and tf.data.
The same is printed for the conv VAE, its convolutions counted as im2col matmuls, so the
figure says how much room the kernels leave for any speed-up over the baseline.
For both pairs it also times each model's train step alone (its own compile settings, 16
steps in one compiled function on one fixed batch): the speed-up of the step itself, and
what the baseline's `fit` adds per step. That part includes the start of every epoch, when
Keras replaces the numpy data's iterator; profiled on the 2-core machine, this stalled for
0.15-0.25 s (dense) and 1.3-1.6 s (conv) in about half the epochs. ae_zoo's pipeline keeps
one iterator for the whole run.
Targets (issue 5): dense >= 2x baseline, conv >= 1.3x baseline, roofline >= 75%.
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers, ops  # noqa: E402

import ae_zoo  # noqa: E402
from ae_zoo.training.pipeline import ArrayPipeline  # noqa: E402
from ae_zoo.training.engine import fit_inputs, resolve_steps_per_execution  # noqa: E402

DENSE = (512, 256)
LATENT = 16


# ---------------------------------------------------------------- the keras.io-style baseline
class Sampling(layers.Layer):
    """z = mean + exp(log_var / 2) * eps."""

    def call(self, inputs):
        mean, log_var = inputs
        eps = keras.random.normal(ops.shape(mean))
        return mean + ops.exp(0.5 * log_var) * eps


class BaselineVAE(keras.Model):
    """A VAE as the keras.io example writes one: custom train_step, three trackers."""

    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.decoder = encoder, decoder
        self.total_tracker = keras.metrics.Mean(name="loss")
        self.rec_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_tracker = keras.metrics.Mean(name="kl")

    @property
    def metrics(self):
        return [self.total_tracker, self.rec_tracker, self.kl_tracker]

    def train_step(self, data):
        with tf.GradientTape() as tape:
            mean, log_var, z = self.encoder(data)
            recon = self.decoder(z)
            rec = ops.mean(ops.sum(keras.losses.binary_crossentropy(data, recon), axis=(1, 2)))
            kl = -0.5 * (1 + log_var - ops.square(mean) - ops.exp(log_var))
            kl = ops.mean(ops.sum(kl, axis=1))
            total = rec + kl
        grads = tape.gradient(total, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        self.total_tracker.update_state(total)
        self.rec_tracker.update_state(rec)
        self.kl_tracker.update_state(kl)
        return {m.name: m.result() for m in self.metrics}


def baseline_dense(shape):
    inputs = keras.Input(shape)
    h = layers.Flatten()(inputs)
    for units in DENSE:
        h = layers.Dense(units, activation="relu")(h)
    mean, log_var = layers.Dense(LATENT)(h), layers.Dense(LATENT)(h)
    encoder = keras.Model(inputs, [mean, log_var, Sampling()([mean, log_var])])
    z = keras.Input((LATENT,))
    h = z
    for units in reversed(DENSE):
        h = layers.Dense(units, activation="relu")(h)
    h = layers.Dense(int(np.prod(shape)), activation="sigmoid")(h)
    decoder = keras.Model(z, layers.Reshape(shape)(h))
    return BaselineVAE(encoder, decoder)


def baseline_conv(shape, filters=(32, 32, 64, 64), dense=256, latent=10):
    inputs = keras.Input(shape)
    h = inputs
    for f in filters:
        h = layers.Conv2D(f, 4, strides=2, padding="same", activation="relu")(h)
    feature_shape = h.shape[1:]
    h = layers.Dense(dense, activation="relu")(layers.Flatten()(h))
    mean, log_var = layers.Dense(latent)(h), layers.Dense(latent)(h)
    encoder = keras.Model(inputs, [mean, log_var, Sampling()([mean, log_var])])
    z = keras.Input((latent,))
    h = layers.Dense(dense, activation="relu")(z)
    h = layers.Dense(int(np.prod(feature_shape)), activation="relu")(h)
    h = layers.Reshape(feature_shape)(h)
    for f in list(reversed(filters[:-1])):
        h = layers.Conv2DTranspose(f, 4, strides=2, padding="same", activation="relu")(h)
    h = layers.Conv2DTranspose(shape[-1], 4, strides=2, padding="same", activation="sigmoid")(h)
    return BaselineVAE(encoder, keras.Model(z, h))


# ----------------------------------------------------------------------------- timing
class EpochTimer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._start)


def rate(timer, samples_per_epoch):
    return samples_per_epoch / statistics.median(timer.times[1:])


def run_ae_zoo(x, model_kwargs, batch_size, epochs):
    keras.utils.set_random_seed(0)
    model = ae_zoo.models.create("vae", input_shape=x.shape[1:], seed=0, **model_kwargs)
    pipeline = ArrayPipeline(x, batch_size=batch_size, seed=0)
    spe = resolve_steps_per_execution("auto", pipeline.steps_per_epoch)
    model.compile(steps_per_execution=spe)  # the defaults: Adam(1e-3), XLA where supported
    timer = EpochTimer()
    dataset, steps_per_epoch = fit_inputs(pipeline, spe)
    model.fit(dataset, steps_per_epoch=steps_per_epoch, epochs=epochs, verbose=0,
              shuffle=False, callbacks=[pipeline.callback(), timer])  # as the runner calls it
    return rate(timer, pipeline.steps_per_epoch * batch_size), model


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


def run_baseline(x, build, batch_size, epochs):
    keras.utils.set_random_seed(0)
    model = build(x.shape[1:])
    model.compile(optimizer=keras.optimizers.Adam())
    timer = EpochTimer()
    steps = len(x) // batch_size
    model.fit(x[:steps * batch_size], epochs=epochs, batch_size=batch_size, verbose=0,
              callbacks=[timer])
    return rate(timer, steps * batch_size), model


# ---------------------------------------------------------------------------- roofline
def layer_matmul(layer, batch):
    """(m, k, n) of the forward product of a Dense / Conv2D / Conv2DTranspose layer as a
    matrix multiply (a convolution as im2col: every output position times the kernel; a
    transposed convolution as every input position times the kernel, then col2im), or None."""
    if not isinstance(layer, (layers.Dense, layers.Conv2D, layers.Conv2DTranspose)):
        return None
    in_shape, out_shape = layer.input.shape, layer.output.shape
    if isinstance(layer, layers.Dense):
        return batch, in_shape[-1], out_shape[-1]
    if isinstance(layer, layers.Conv2DTranspose):
        kh, kw = layer.kernel_size
        return batch * in_shape[1] * in_shape[2], in_shape[-1], kh * kw * out_shape[-1]
    kh, kw = layer.kernel_size
    return batch * out_shape[1] * out_shape[2], kh * kw * in_shape[-1], out_shape[-1]


def step_matmuls(model, batch):
    """(m, k, n) of every matmul in one training step of a baseline VAE: per layer the
    forward product, the weight gradient and the input gradient (except for the
    encoder's first layer: the data needs no gradient; the decoder's input z does)."""
    shapes = []
    for network in (model.encoder, model.decoder):
        products = [mkn for mkn in (layer_matmul(layer, batch) for layer in network.layers) if mkn]
        for i, (m, k, n) in enumerate(products):
            shapes += [(m, k, n), (k, m, n)]          # forward; weight gradient
            if i or network is model.decoder:
                shapes.append((m, n, k))              # input gradient
    return shapes


class MatmulRate:
    """The matmul rate for these shapes: the matmuls run back to back in one compiled
    function, the better of TF's and XLA's kernels (both compiled once, here)."""

    def __init__(self, shapes):
        operands = [(tf.random.normal((m, k)), tf.random.normal((k, n))) for m, k, n in shapes]

        def step():
            total = tf.constant(0.0)
            for a, b in operands:
                total += tf.reduce_sum(tf.matmul(a, b)[:1, :1])
            return total

        self.flops = sum(2 * m * k * n for m, k, n in shapes)
        self.functions = [tf.function(step, jit_compile=jit) for jit in (False, True)]
        for function in self.functions:
            function().numpy()

    def __call__(self, repeats=20, rounds=5):
        """FLOP/s: per kernel, the median over ``rounds`` of ``repeats`` calls (the same
        statistic as the training figures, a median over epochs); the better kernel."""
        rates = []
        for function in self.functions:
            times = []
            for _ in range(rounds):
                start = time.perf_counter()
                for _ in range(repeats):
                    function()
                function().numpy()
                times.append((time.perf_counter() - start) / (repeats + 1))
            rates.append(self.flops / statistics.median(times))
        return max(rates)


def bracketed(peak, measure):
    """``measure()``'s result and the matmul rate measured just before and just after it
    (their mean): the machine's load moves both sides of the roofline alike."""
    before = peak()
    result = measure()
    return result, (before + peak()) / 2


def summary(values, fmt):
    """The median of per-run figures and every run's figure (this machine is noisy)."""
    runs = ", ".join(fmt.format(v) for v in values)
    return f"{fmt.format(statistics.median(values)):>10}   (runs: {runs})"


def print_steps_alone(alone, base_alone, base, batch_size):
    """The two train steps alone (16 steps in one compiled function on one fixed batch,
    each with its model's own compile settings) and what fit adds per step: the step's
    own speed-up, apart from the fit loop, tf.data and the start of every epoch."""
    print(f"  train steps alone: ae_zoo {summary(alone, '{:.0f}')} samples/s")
    print(f"                   baseline {summary(base_alone, '{:.0f}')} samples/s")
    print(f"  steps-alone speed-up      "
          f"{summary([a / b for a, b in zip(alone, base_alone)], '{:.2f}x')}")
    added = [1e3 * batch_size * (1 / b - 1 / a) for b, a in zip(base, base_alone)]
    print(f"  baseline fit adds         {summary(added, '{:.2f}')} ms per step (its fit loop, "
          "numpy batches, each epoch's new iterator)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-conv", action="store_true")
    args = parser.parse_args()

    # Each run measures ae_zoo (between two measurements of the matmul rate) and the
    # baseline back to back, and the ratios are taken within a run: a change of the
    # machine's load between runs then moves both sides of a ratio alike. The figures are
    # medians over the runs.
    x = ae_zoo.data.load("mnist5k", "train").x
    dense_kwargs = dict(latent_dim=LATENT, hidden_units=DENSE, likelihood="bernoulli")
    peak_rate = MatmulRate(step_matmuls(baseline_dense(x.shape[1:]), 128))
    flops = peak_rate.flops / 128  # per sample

    def measure_ae_zoo():
        speed, model = run_ae_zoo(x, dense_kwargs, 128, args.epochs)
        return speed, step_alone_rate(model, x, 128)

    runs = []  # (ae_zoo, its step alone, baseline, its step alone, peak)
    for _ in range(args.repeats):
        (speed, alone), peak = bracketed(peak_rate, measure_ae_zoo)
        base_speed, base_model = run_baseline(x, baseline_dense, 128, args.epochs)
        runs.append((speed, alone, base_speed, step_alone_rate(base_model, x, 128), peak))
    ours, alone, base, base_alone, peak = (list(column) for column in zip(*runs))

    print(f"\nDense VAE 784-512-256-16, Bernoulli, batch 128, mnist5k ({args.repeats} runs, "
          f"{args.epochs} epochs each, first epoch excluded)")
    print(f"  ae_zoo default training   {summary(ours, '{:.0f}')} samples/s")
    print(f"  keras.io-style baseline   {summary(base, '{:.0f}')} samples/s")
    print(f"  speed-up                  {summary([o / b for o, b in zip(ours, base)], '{:.2f}x')}"
          "   target >= 2x")
    print(f"  matmul rate, same shapes  {summary([p / 1e9 for p in peak], '{:.1f}')} GFLOP/s")
    print(f"  training FLOP per sample  {flops / 1e6:10.2f} MFLOP")
    print(f"  dense VAE training        {summary([o * flops / 1e9 for o in ours], '{:.1f}')} GFLOP/s")
    print(f"  = fraction of matmul rate {summary([o * flops / p for o, p in zip(ours, peak)], '{:.0%}')}"
          "   target >= 75%")
    print(f"  its train step alone      {summary([a * flops / p for a, p in zip(alone, peak)], '{:.0%}')}"
          "   (16 steps in one XLA program, one fixed batch: no fit loop, no tf.data)")
    print(f"  fit loop + tf.data cost   "
          f"{summary([1e3 * 128 * (1 / o - 1 / a) for o, a in zip(ours, alone)], '{:.2f}')} "
          "ms per step")
    print_steps_alone(alone, base_alone, base, 128)

    if not args.skip_conv:
        dsprites = ae_zoo.data.load("dsprites", "train", num_samples=4096).x
        conv_kwargs = dict(latent_dim=10, architecture="conv", filters=(32, 32, 64, 64),
                           kernel_size=4, dense_units=(256,), likelihood="bernoulli")
        peak_rate = MatmulRate(step_matmuls(baseline_conv(dsprites.shape[1:]), 64))
        flops = peak_rate.flops / 64  # per sample
        epochs = max(3, args.epochs // 2)
        runs = []  # (ae_zoo, its step alone, baseline, its step alone, peak)
        for _ in range(args.repeats):
            (speed, model), peak = bracketed(
                peak_rate, lambda: run_ae_zoo(dsprites, conv_kwargs, 64, epochs))
            base_speed, base_model = run_baseline(dsprites, baseline_conv, 64, epochs)
            runs.append((speed, step_alone_rate(model, dsprites, 64, repeats=6), base_speed,
                         step_alone_rate(base_model, dsprites, 64, repeats=6), peak))
        ours, alone, base, base_alone, peak = (list(column) for column in zip(*runs))
        print("\nConv VAE of the dSprites recipe (32-32-64-64, 4x4/2, dense 256, 10 latents), "
              "batch 64, 64x64x1")
        print(f"  ae_zoo default training   {summary(ours, '{:.0f}')} samples/s")
        print(f"  keras.io-style baseline   {summary(base, '{:.0f}')} samples/s")
        print(f"  speed-up                  "
              f"{summary([o / b for o, b in zip(ours, base)], '{:.2f}x')}   target >= 1.3x")
        print(f"  training FLOP per sample  {flops / 1e6:10.2f} MFLOP (convolutions as im2col "
              "matmuls)")
        print(f"  matmul rate, same shapes  {summary([p / 1e9 for p in peak], '{:.1f}')} GFLOP/s")
        print(f"  ae_zoo reaches            "
              f"{summary([o * flops / p for o, p in zip(ours, peak)], '{:.0%}')} of it")
        print(f"  the baseline reaches      "
              f"{summary([b * flops / p for b, p in zip(base, peak)], '{:.0%}')}; 1.3x the "
              "baseline needs 1.3 times that")
        print_steps_alone(alone, base_alone, base, 64)


if __name__ == "__main__":
    main()
