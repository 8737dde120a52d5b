"""A Conv2DTranspose that computes its forward pass as a sub-pixel convolution.

A transposed convolution with stride ``s`` puts ``kernel[u]`` times input row ``i``
into output row ``s * i + u``. Split the kernel taps by their phase ``r = u mod s``
(``u = s * m + r``): output row ``s * j + r`` then only receives
``sum_m input[j - m] * kernel[s * m + r]``, an ordinary stride-1 convolution of the
input with an ``M x M`` kernel, ``M = ceil(k / s)``, that has one output channel per
(phase, filter). Interleaving the phases into the upsampled image (``depth_to_space``,
the periodic shuffling of Shi et al., 2016, "Is the deconvolution layer the same as
a convolutional layer?", here a reshape and transpose, which TensorFlow's CPU kernels
run 2x faster than ``depth_to_space``) and a crop that removes the transposed
convolution's padding give the same transposed convolution, reordered.

Why: TensorFlow's CPU kernel for a transposed convolution with few output channels
(the last layer of an image decoder: 1 or 3 channels) is slow, ~9 GFLOP/s on the
dSprites decoder's 32 -> 1 layer against ~150 for its other layers. The stride-1
convolution runs the forward pass in less than half the time. The backward pass
stays TensorFlow's own (a strided convolution for the input gradient, the filter
gradient kernel for the kernel's), through a custom gradient. Measured on the 2-core
CPU, forward plus backward at batch 64 from 32 input channels: 1.2-1.9x faster for
up to 8 filters, break-even at 16; the dSprites conv VAE's train step ~8% faster.
"""

import keras
import tensorflow as tf

#: Up to this many filters the sub-pixel form is faster on CPU (measured: 1.2-1.9x for
#: 1-8 filters from 32 input channels, break-even at 16).
MAX_SUBPIXEL_FILTERS = 8


def _cpu_only():
    return not tf.config.list_physical_devices("GPU")


def subpixel_conv2d_transpose(inputs, kernel, strides, padding):
    """``tf.nn.conv2d_transpose`` of NHWC ``inputs`` with ``kernel`` (kh, kw, filters,
    channels) at equal ``strides`` in both dimensions, without dilation, and Keras's
    output size for ``padding`` ("same": ``H * s``; "valid": ``H * s + max(k - s, 0)``),
    computed as a stride-1 convolution and a periodic shuffle (``depth_to_space``). Its
    gradient is the transposed convolution's own."""
    s = int(strides)
    if s < 2:
        raise ValueError(f"subpixel_conv2d_transpose needs a stride of at least 2; got {strides!r} "
                         "(a stride-1 transposed convolution has no phases to interleave)")
    if padding not in ("same", "valid"):
        raise ValueError(f'padding must be "same" or "valid"; got {padding!r}')
    if len(kernel.shape) != 4 or len(inputs.shape) != 4 or inputs.shape[-1] != kernel.shape[-1]:
        raise ValueError(f"expected NHWC inputs and a (kh, kw, filters, channels) kernel with the "
                         f"inputs' channels; got inputs {tuple(inputs.shape)} and kernel "
                         f"{tuple(kernel.shape)}")
    kh, kw, filters, channels = (int(d) for d in kernel.shape)
    mh, mw = -(-kh // s), -(-kw // s)  # taps per phase

    def sizes(x):
        _, h, w = _leading_dims(x)
        if padding == "same":
            return h * s, w * s, max(kh - s, 0) // 2, max(kw - s, 0) // 2
        return h * s + max(kh - s, 0), w * s + max(kw - s, 0), 0, 0

    @tf.custom_gradient
    def transpose_conv(x, kernel):
        # Taps padded to M * s, split into (m, phase), m reversed (a convolution
        # correlates), and each phase made an output channel in depth_to_space order.
        taps = tf.pad(kernel, [[0, mh * s - kh], [0, mw * s - kw], [0, 0], [0, 0]])
        taps = tf.reshape(taps, [mh, s, mw, s, filters, channels])[::-1, :, ::-1]
        taps = tf.reshape(tf.transpose(taps, [0, 2, 5, 1, 3, 4]),
                          [mh, mw, channels, s * s * filters])
        x_full = tf.pad(x, [[0, 0], [mh - 1, mh - 1], [mw - 1, mw - 1], [0, 0]])
        y = _depth_to_space(tf.nn.conv2d(x_full, taps, 1, "VALID"), s, filters)
        out_h, out_w, top, left = sizes(x)
        y = y[:, top:top + out_h, left:left + out_w, :]

        def grad(dy):
            tf_padding = padding.upper()
            dx = tf.nn.conv2d(dy, kernel, s, tf_padding)
            dkernel = tf.raw_ops.Conv2DBackpropFilter(
                input=dy, filter_sizes=tf.shape(kernel), out_backprop=x,
                strides=[1, s, s, 1], padding=tf_padding)
            return dx, dkernel

        return y, grad

    # A tensor, not the variable: the custom gradient then returns the kernel's gradient
    # as an input's, and the read (and any mixed-precision cast) is differentiated as usual.
    return transpose_conv(inputs, tf.convert_to_tensor(kernel))


def _depth_to_space(z, s, filters):
    """``tf.nn.depth_to_space(z, s)`` for ``s * s * filters`` channels, as a reshape and
    a transpose: channel ``(i * s + j) * filters + f`` of pixel ``(h, w)`` goes to pixel
    ``(h * s + i, w * s + j)``."""
    n, h, w = _leading_dims(z)
    z = tf.reshape(z, [n, h, w, s, s, filters])
    z = tf.transpose(z, [0, 1, 3, 2, 4, 5])
    return tf.reshape(z, [n, h * s, w * s, filters])


def _leading_dims(t):
    """Batch, height and width of an NHWC tensor: the static sizes where known (so the
    output keeps a static shape), ``tf.shape`` entries where not."""
    return tuple(tf.shape(t)[i] if t.shape[i] is None else t.shape[i] for i in range(3))


@keras.saving.register_keras_serializable(package="ae_zoo")
class SubPixelConv2DTranspose(keras.layers.Conv2DTranspose):
    """``keras.layers.Conv2DTranspose`` with the same arguments, weights and results,
    whose forward pass is a sub-pixel convolution where that is faster: on a machine
    without a GPU, for at most :data:`MAX_SUBPIXEL_FILTERS` filters, channels-last,
    equal strides, no dilation and no ``output_padding``. Otherwise it is the Keras
    layer's own computation."""

    def _subpixel(self):
        return (self.filters <= MAX_SUBPIXEL_FILTERS and self.data_format == "channels_last"
                and self.strides[0] == self.strides[1] and self.strides[0] > 1
                and tuple(self.dilation_rate) == (1, 1) and self.output_padding is None
                and _cpu_only())

    def call(self, inputs):
        if not self._subpixel():
            return super().call(inputs)
        outputs = subpixel_conv2d_transpose(inputs, self.kernel, self.strides[0], self.padding)
        if self.use_bias:
            # A broadcast add: its gradient is a sum, where BiasAddGrad with one channel
            # is 4x slower on CPU (1.2 against 0.3 ms for 64 x 64 x 64 x 1).
            outputs = outputs + tf.convert_to_tensor(self.bias)
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs
