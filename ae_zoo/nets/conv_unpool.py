"""Convolution + max pooling with switches down, unpooling + convolution up."""

import keras

from ae_zoo.layers import ConcatCondition, MaxPoolingWithArgmax2D, MaxUnpooling2D
from ae_zoo.nets._common import (
    code_to_features,
    encoder_inputs,
    features_to_code,
    float32_output,
)
from ae_zoo.nets.conv import _check_image


def build_conv_unpool(input_shape, code_dim, latent_dim, condition_dim=0, output_channels=None,
                      filters=(32, 64), kernel_size=3, pool_size=2, dense_units=(),
                      activation="relu"):
    """Zeiler-Fergus style pooling autoencoder networks.

    Encoder: per entry of ``filters`` a ``Conv2D(stride 1)`` followed by
    :class:`MaxPoolingWithArgmax2D`; then Flatten, Dense and the code head.
    It returns a dict ``{"code": ..., "switches_0": ..., ...}``. The decoder
    takes the same dict (``"code"`` being the latent vector) and mirrors the
    encoder: :class:`MaxUnpooling2D` with the recorded switches, then a
    ``Conv2DTranspose(stride 1)``; the last one is linear with the image's
    channels. Without switches (all ``-1``) unpooling uses fixed switches.
    """
    _check_image(input_shape, "conv_unpool")
    filters = tuple(int(f) for f in filters)
    dense_units = tuple(int(u) for u in dense_units)
    channels = int(input_shape[-1])
    inputs, x, c = encoder_inputs(input_shape, condition_dim)
    h = x if c is None else ConcatCondition(name="concat_condition")([x, c])
    switches, sizes = [], []
    for i, f in enumerate(filters):
        h = keras.layers.Conv2D(f, kernel_size, padding="same", activation=activation,
                                name=f"conv_{i}")(h)
        sizes.append((int(h.shape[1]), int(h.shape[2])))
        h, s = MaxPoolingWithArgmax2D(pool_size, name=f"pool_{i}")(h)
        switches.append(s)
    feature_shape = tuple(h.shape[1:])
    outputs = {"code": features_to_code(h, dense_units, activation, code_dim)}
    outputs.update({f"switches_{i}": s for i, s in enumerate(switches)})
    encoder = keras.Model(inputs, outputs, name="encoder")

    z = keras.Input(shape=(latent_dim,), name="code")
    switch_inputs = {
        f"switches_{i}": keras.Input(shape=tuple(s.shape[1:]), dtype="int32", name=f"switches_{i}")
        for i, s in enumerate(switches)
    }
    h = code_to_features(z, dense_units, activation, feature_shape)
    out_filters = list(reversed(filters[:-1])) + [output_channels or channels]
    for j, f in enumerate(out_filters):
        i = len(filters) - 1 - j
        h = MaxUnpooling2D(pool_size, output_size=sizes[i], name=f"unpool_{i}")(
            [h, switch_inputs[f"switches_{i}"]]
        )
        last = j == len(out_filters) - 1
        h = keras.layers.Conv2DTranspose(f, kernel_size, padding="same",
                                         activation=None if last else activation,
                                         name=f"deconv_{j}")(h)
    decoder = keras.Model({"code": z, **switch_inputs}, float32_output(h), name="decoder")
    return encoder, decoder
