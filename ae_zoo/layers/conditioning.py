"""Layers that inject a conditioning vector (e.g. a one-hot label) into a network."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="ae_zoo")
class ConcatCondition(keras.layers.Layer):
    """Concatenates a condition vector ``c`` (batch, k) to the last axis of ``x``.

    For a feature vector ``x`` (batch, d) the result is (batch, d + k); for an
    image ``x`` (batch, H, W, C), ``c`` is tiled over the spatial grid and the
    result is (batch, H, W, C + k): every pixel sees the label.
    """

    def call(self, inputs):
        x, c = inputs
        c = ops.cast(c, x.dtype)
        if len(x.shape) == 4:
            h, w = x.shape[1], x.shape[2]
            c = ops.tile(c[:, None, None, :], (1, h, w, 1))
        elif len(x.shape) != 2:
            raise ValueError(f"ConcatCondition expects a rank-2 or rank-4 `x`, got shape {x.shape}.")
        return ops.concatenate([x, c], axis=-1)

    def compute_output_shape(self, input_shape):
        x_shape, c_shape = input_shape
        return (*x_shape[:-1], x_shape[-1] + c_shape[-1])
