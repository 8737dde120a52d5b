"""The roofline of the throughput benchmark: the matrix-multiply rate this machine reaches
for a model's own layer shapes (every forward and backward product of one training step,
run back to back in a compiled loop, the better of TF's and XLA's kernels)."""

import statistics
import time

import tensorflow as tf
from keras import layers


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
