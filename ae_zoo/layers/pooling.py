"""Max pooling that records its switches, and the unpooling that uses them.

Zeiler and Fergus (2014), "Visualizing and Understanding Convolutional
Networks": max pooling remembers where each maximum came from (the
*switches*); unpooling puts every pooled value back at that location and
zeros everywhere else.

Both layers use non-overlapping windows (``strides == pool_size``) and are
written with reshapes, ``argmax`` and ``one_hot`` only, so they run under XLA
on CPU and GPU. The switches are the flat index ``(y * width + x) * channels + c``
of the maximum in the example's input feature map, the same convention as
``tf.nn.max_pool_with_argmax(..., include_batch_in_index=False)``.
"""

import keras
from keras import ops


def _same_padding(size, pool):
    """(before, after) padding of "same" pooling: TensorFlow puts the extra row after."""
    total = -(-size // pool) * pool - size
    return total // 2, total - total // 2


def _pair(value, name):
    if isinstance(value, int):
        value = (value, value)
    value = tuple(int(v) for v in value)
    if len(value) != 2 or min(value) < 1:
        raise ValueError(f"`{name}` must be a positive int or a pair of them, got {value!r}.")
    return value


@keras.saving.register_keras_serializable(package="ae_zoo")
class MaxPoolingWithArgmax2D(keras.layers.Layer):
    """Max pooling over non-overlapping windows that also returns the switches.

    ``pooled, switches = MaxPoolingWithArgmax2D(2)(x)`` with ``x`` of shape
    ``(batch, H, W, C)``; ``pooled`` has shape ``(batch, ceil(H/ph), ceil(W/pw), C)``
    and ``switches`` (int32, same shape) holds the flat index
    ``(y * W + x) * C + c`` of each maximum in the input. Sizes that are not a
    multiple of the pool size are padded with ``-inf`` the way TensorFlow's
    "same" padding does (half before, the rest after); ties go to the first
    position of the window in row-major order.
    """

    def __init__(self, pool_size=2, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = _pair(pool_size, "pool_size")

    def compute_output_shape(self, input_shape):
        ph, pw = self.pool_size
        b, h, w, c = input_shape
        out_h = None if h is None else -(-h // ph)
        out_w = None if w is None else -(-w // pw)
        return (b, out_h, out_w, c), (b, out_h, out_w, c)

    def compute_output_spec(self, inputs):
        shape = self.compute_output_shape(inputs.shape)[0]
        return (
            keras.KerasTensor(shape, dtype=inputs.dtype),
            keras.KerasTensor(shape, dtype="int32"),
        )

    def call(self, inputs):
        ph, pw = self.pool_size
        _, h, w, c = inputs.shape
        if h is None or w is None or c is None:
            raise ValueError("MaxPoolingWithArgmax2D needs static height, width and channels.")
        out_h, out_w = -(-h // ph), -(-w // pw)
        (top, bottom), (left, right) = _same_padding(h, ph), _same_padding(w, pw)
        x = inputs
        if top or bottom or left or right:
            lowest = ops.convert_to_tensor(float("-inf"), dtype=x.dtype)
            x = ops.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]], constant_values=lowest)
        # (b, out_h, ph, out_w, pw, c) -> (b, out_h, out_w, c, ph * pw)
        windows = ops.reshape(x, (-1, out_h, ph, out_w, pw, c))
        windows = ops.transpose(windows, (0, 1, 3, 5, 2, 4))
        windows = ops.reshape(windows, (-1, out_h, out_w, c, ph * pw))
        pooled = ops.max(windows, axis=-1)
        local = ops.cast(ops.argmax(windows, axis=-1), "int32")
        # Window-local index -> flat index in the (unpadded) input.
        rows = ops.reshape(ops.arange(out_h, dtype="int32") * ph, (1, out_h, 1, 1))
        cols = ops.reshape(ops.arange(out_w, dtype="int32") * pw, (1, 1, out_w, 1))
        chans = ops.reshape(ops.arange(c, dtype="int32"), (1, 1, 1, c))
        y = rows + local // pw - top
        xx = cols + local % pw - left
        switches = (y * w + xx) * c + chans
        return pooled, switches

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size}


@keras.saving.register_keras_serializable(package="ae_zoo")
class MaxUnpooling2D(keras.layers.Layer):
    """Puts each value back where its max came from; zeros elsewhere.

    ``MaxUnpooling2D(2, output_size=(H, W))([values, switches])``, ``(H, W)`` the
    size of the feature map that was pooled, inverts the
    placement of :class:`MaxPoolingWithArgmax2D` exactly: the output has shape
    ``(batch, H, W, C)``, equal to ``values[b, i, j, c]`` at the flat location
    ``switches[b, i, j, c]`` and 0 elsewhere. A negative switch means "no
    recorded location" (e.g. decoding a code sampled from a prior): the value
    goes to the top-left corner of its window, the fixed-switch unpooling of
    Dosovitskiy et al. (2015).
    """

    def __init__(self, pool_size=2, output_size=None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = _pair(pool_size, "pool_size")
        if output_size is None:
            raise ValueError(
                "MaxUnpooling2D needs `output_size=(height, width)`, the size of the feature map "
                "that was pooled: the switches can only be decoded with its width."
            )
        self.output_size = _pair(output_size, "output_size")

    def compute_output_shape(self, input_shape):
        b, _, _, c = input_shape[0]
        return (b, *self.output_size, c)

    def call(self, inputs):
        values, switches = inputs
        ph, pw = self.pool_size
        _, in_h, in_w, c = values.shape
        out_h, out_w = self.output_size
        if -(-out_h // ph) != in_h or -(-out_w // pw) != in_w:
            raise ValueError(
                f"MaxUnpooling2D: pooled size {(in_h, in_w)} does not come from "
                f"output_size {(out_h, out_w)} with pool_size {self.pool_size}."
            )
        switches = ops.cast(switches, "int32")
        (top, _), (left, _) = _same_padding(out_h, ph), _same_padding(out_w, pw)
        # Flat index -> position inside its (padded) window, row-major; 0 when unknown.
        pos = switches // c
        y, x = pos // out_w + top, pos % out_w + left
        local = (y % ph) * pw + (x % pw)
        local = ops.where(switches < 0, ops.zeros_like(local), local)
        placed = ops.one_hot(local, ph * pw, dtype=values.dtype) * ops.expand_dims(values, -1)
        # (b, in_h, in_w, c, ph, pw) -> (b, in_h, ph, in_w, pw, c)
        placed = ops.reshape(placed, (-1, in_h, in_w, c, ph, pw))
        placed = ops.transpose(placed, (0, 1, 4, 2, 5, 3))
        full = ops.reshape(placed, (-1, in_h * ph, in_w * pw, c))
        return full[:, top:top + out_h, left:left + out_w, :]

    def get_config(self):
        return {
            **super().get_config(),
            "pool_size": self.pool_size,
            "output_size": self.output_size,
        }
