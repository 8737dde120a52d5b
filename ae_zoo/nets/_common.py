"""Pieces shared by the network builders."""

import math

import keras


def encoder_inputs(input_shape, condition_dim):
    """The encoder's Keras inputs: ``x``, plus a condition vector when conditioned."""
    x = keras.Input(shape=tuple(input_shape), name="x")
    if condition_dim:
        c = keras.Input(shape=(int(condition_dim),), name="condition")
        return [x, c], x, c
    return x, x, None


def head(units, name):
    """A linear Dense head whose output stays float32 under mixed precision."""

    def apply(t):
        t = keras.layers.Dense(units, name=name)(t)
        return keras.layers.Activation("linear", dtype="float32", name=f"{name}_float32")(t)

    return apply


def float32_output(t, name="output"):
    return keras.layers.Activation("linear", dtype="float32", name=name)(t)


def flat_size(shape):
    return int(math.prod(shape))
