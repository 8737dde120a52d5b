"""Convolutional encoder (strided Conv2D) and decoder (Conv2DTranspose)."""

import keras

from ae_zoo.layers import ConcatCondition, SubPixelConv2DTranspose
from ae_zoo.nets._common import (
    code_to_features,
    encoder_inputs,
    features_to_code,
    float32_output,
)


def _check_image(input_shape, architecture):
    if len(input_shape) != 3:
        raise ValueError(
            f"architecture={architecture!r} needs images (height, width, channels); "
            f"got input shape {tuple(input_shape)}."
        )


def crop_to(t, height, width):
    """Crops the bottom/right of ``t`` to exactly ``height`` x ``width``."""
    extra_h, extra_w = t.shape[1] - height, t.shape[2] - width
    if extra_h or extra_w:
        t = keras.layers.Cropping2D(((0, extra_h), (0, extra_w)), name="crop")(t)
    return t


def build_conv(input_shape, code_dim, latent_dim, condition_dim=0, output_channels=None,
               filters=(32, 64), kernel_size=3, strides=2, dense_units=(), activation="relu"):
    """Strided-convolution encoder and its transposed-convolution mirror.

    Encoder: ``Conv2D(filters[i], kernel_size, strides, "same")`` per entry of
    ``filters``, then Flatten, ``Dense(dense_units)`` and a linear code head.
    Decoder: Dense layers back to the last feature map, then
    ``Conv2DTranspose`` ("fractionally strided" convolutions) with the filters
    in reverse, the last one linear with the image's channels (a
    :class:`~ae_zoo.layers.SubPixelConv2DTranspose`), cropped to
    the exact input height and width (any size works, square or not).
    """
    _check_image(input_shape, "conv")
    filters = tuple(int(f) for f in filters)
    dense_units = tuple(int(u) for u in dense_units)
    height, width, channels = (int(d) for d in input_shape)
    inputs, x, c = encoder_inputs(input_shape, condition_dim)
    h = x if c is None else ConcatCondition(name="concat_condition")([x, c])
    for i, f in enumerate(filters):
        h = keras.layers.Conv2D(f, kernel_size, strides=strides, padding="same",
                                activation=activation, name=f"conv_{i}")(h)
    feature_shape = tuple(h.shape[1:])
    code = features_to_code(h, dense_units, activation, code_dim)
    encoder = keras.Model(inputs, code, name="encoder")

    z = keras.Input(shape=(latent_dim,), name="z")
    h = code_to_features(z, dense_units, activation, feature_shape)
    out_filters = list(reversed(filters[:-1])) + [output_channels or channels]
    for i, f in enumerate(out_filters):
        last = i == len(out_filters) - 1
        # The image layer (few filters) runs faster as a sub-pixel convolution on CPU.
        deconv = SubPixelConv2DTranspose if last else keras.layers.Conv2DTranspose
        h = deconv(f, kernel_size, strides=strides, padding="same",
                   activation=None if last else activation, name=f"deconv_{i}")(h)
    h = crop_to(h, height, width)
    decoder = keras.Model(z, float32_output(h), name="decoder")
    return encoder, decoder
