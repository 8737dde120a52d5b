"""Fully connected encoder and decoder."""

import keras

from ae_zoo.layers import ConcatCondition
from ae_zoo.nets._common import dense_stack, encoder_inputs, flat_size, float32_output, head


def build_mlp(input_shape, code_dim, latent_dim, condition_dim=0, output_channels=None,
              hidden_units=(512, 256), activation="relu"):
    """MLP encoder ``x -> code_dim`` and mirrored decoder ``latent_dim -> x``.

    The encoder flattens ``x`` (concatenating the condition vector when
    ``condition_dim > 0``) and applies ``Dense(hidden_units[i], activation)``;
    the decoder applies the hidden sizes in reverse and a linear output
    reshaped to ``input_shape`` (with ``output_channels`` channels if given).
    """
    hidden_units = tuple(int(u) for u in hidden_units)
    inputs, x, c = encoder_inputs(input_shape, condition_dim)
    h = keras.layers.Flatten(name="flatten")(x)
    if c is not None:
        h = ConcatCondition(name="concat_condition")([h, c])
    code = head(code_dim, "code")(dense_stack(h, hidden_units, activation))
    encoder = keras.Model(inputs, code, name="encoder")

    out_shape = (*input_shape[:-1], output_channels or input_shape[-1])
    z = keras.Input(shape=(latent_dim,), name="z")
    h = dense_stack(z, hidden_units, activation, reverse=True)
    h = keras.layers.Dense(flat_size(out_shape), name="dense_out")(h)
    h = keras.layers.Reshape(out_shape, name="reshape")(h)
    decoder = keras.Model(z, float32_output(h), name="decoder")
    return encoder, decoder
