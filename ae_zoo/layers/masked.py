"""Layers whose connections are masked to respect an order: the autoregressive pieces of
MADE (Germain et al. 2015, for masked autoregressive flows) and the gated PixelCNN
(van den Oord et al. 2016)."""

import keras
import numpy as np
from keras import ops

#: PixelCNN kernel masks, by name: which taps of a k x k kernel (centre (c, c)) are kept.
#: ``vertical_a``: rows above the centre; ``vertical_b``: rows up to and including the
#: centre's; ``horizontal_a``: the centre row left of the centre; ``horizontal_b``: the
#: centre row up to and including the centre ("a": the first layer, which must not see
#: the position it predicts; "b": later layers, whose inputs already exclude it).
PIXELCNN_MASKS = ("vertical_a", "vertical_b", "horizontal_a", "horizontal_b")


def pixelcnn_mask(kernel_size, mask_type):
    """The 0/1 mask (k, k) of a PixelCNN kernel (:data:`PIXELCNN_MASKS`)."""
    if mask_type not in PIXELCNN_MASKS:
        raise ValueError(f"Unknown mask_type {mask_type!r}; expected one of "
                         f"{', '.join(PIXELCNN_MASKS)}.")
    k = int(kernel_size)
    if k < 1 or k % 2 == 0:
        raise ValueError(f"`kernel_size` must be an odd positive integer, got {kernel_size!r}.")
    c = k // 2
    mask = np.zeros((k, k), "float32")
    if mask_type == "vertical_a":
        mask[:c, :] = 1.0
    elif mask_type == "vertical_b":
        mask[:c + 1, :] = 1.0
    elif mask_type == "horizontal_a":
        mask[c, :c] = 1.0
    else:
        mask[c, :c + 1] = 1.0
    return mask


@keras.saving.register_keras_serializable(package="ae_zoo")
class MaskedConv2D(keras.layers.Conv2D):
    """A ``Conv2D`` (square, odd kernel, ``padding="same"``, stride 1) whose kernel is
    multiplied by a fixed PixelCNN mask (:func:`pixelcnn_mask`), so that the output at a
    position depends only on the inputs the mask allows."""

    def __init__(self, filters, kernel_size, mask_type, **kwargs):
        kwargs.setdefault("padding", "same")
        if kwargs["padding"] != "same" or kwargs.get("strides", 1) not in (1, (1, 1)):
            raise ValueError("MaskedConv2D keeps the grid: padding='same', strides 1.")
        if isinstance(kernel_size, (tuple, list)):  # as get_config gives it back
            if len(set(kernel_size)) != 1:
                raise ValueError(f"MaskedConv2D's kernel is square, got {kernel_size!r}.")
            kernel_size = kernel_size[0]
        self.mask_type = mask_type
        self._mask = pixelcnn_mask(kernel_size, mask_type)
        super().__init__(filters, kernel_size, **kwargs)

    def convolution_op(self, inputs, kernel):
        mask = ops.cast(self._mask[:, :, None, None], kernel.dtype)
        return super().convolution_op(inputs, kernel * mask)

    def get_config(self):
        return {**super().get_config(), "mask_type": self.mask_type}


def made_degrees(input_dim, hidden_units):
    """MADE's degrees (Germain et al. 2015): inputs 1..d in order, each hidden unit
    cycling through 1..max(d - 1, 1). Returns ``[input degrees, hidden degrees per layer]``."""
    d = int(input_dim)
    degrees = [list(range(1, d + 1))]
    for units in hidden_units:
        degrees.append([i % max(d - 1, 1) + 1 for i in range(int(units))])
    return degrees


@keras.saving.register_keras_serializable(package="ae_zoo")
class MaskedDense(keras.layers.Dense):
    """A ``Dense`` layer connecting input i to output j only where the degrees allow:
    ``output_degrees[j] >= input_degrees[i]`` (a hidden layer), or ``>`` with ``strict``
    (an output layer, so output j never sees inputs j, j+1, ...): MADE's masks."""

    def __init__(self, units, input_degrees, output_degrees, strict=False, **kwargs):
        self.input_degrees = [int(v) for v in input_degrees]
        self.output_degrees = [int(v) for v in output_degrees]
        if len(self.output_degrees) != int(units):
            raise ValueError(f"MaskedDense needs one output degree per unit ({units}), "
                             f"got {len(self.output_degrees)}.")
        self.strict = bool(strict)
        out, inp = np.array(self.output_degrees)[None, :], np.array(self.input_degrees)[:, None]
        self._mask = ((out > inp) if self.strict else (out >= inp)).astype("float32")
        super().__init__(units, **kwargs)

    def build(self, input_shape):
        if int(input_shape[-1]) != len(self.input_degrees):
            raise ValueError(f"MaskedDense has {len(self.input_degrees)} input degrees but its "
                             f"input has {input_shape[-1]} features.")
        super().build(input_shape)

    def call(self, inputs, training=None):
        kernel = self.kernel * ops.cast(self._mask, self.kernel.dtype)
        x = ops.matmul(inputs, kernel)
        if self.bias is not None:
            x = ops.add(x, self.bias)
        return self.activation(x) if self.activation is not None else x

    def get_config(self):
        return {**super().get_config(), "input_degrees": self.input_degrees,
                "output_degrees": self.output_degrees, "strict": self.strict}


@keras.saving.register_keras_serializable(package="ae_zoo")
class GatedActivation(keras.layers.Layer):
    """tanh(a) * sigmoid(b) of the two halves [a, b] of the last axis: the gated PixelCNN's
    activation (van den Oord et al. 2016)."""

    def call(self, inputs):
        a, b = ops.split(inputs, 2, axis=-1)
        return ops.tanh(a) * ops.sigmoid(b)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] // 2)
