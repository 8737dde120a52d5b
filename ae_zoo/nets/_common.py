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


def dense_stack(t, units, activation, reverse=False):
    """``Dense(u, activation)`` for each width in ``units`` (in reverse for decoders)."""
    for i, u in enumerate(reversed(units) if reverse else units):
        t = keras.layers.Dense(u, activation=activation, name=f"dense_{i}")(t)
    return t


def features_to_code(t, dense_units, activation, code_dim):
    """Convolutional features -> Flatten -> Dense layers -> the linear code head."""
    t = keras.layers.Flatten(name="flatten")(t)
    return head(code_dim, "code")(dense_stack(t, dense_units, activation))


def code_to_features(z, dense_units, activation, feature_shape):
    """The decoder's mirror of :func:`features_to_code`: Dense layers, then a feature map."""
    t = dense_stack(z, dense_units, activation, reverse=True)
    t = keras.layers.Dense(flat_size(feature_shape), activation=activation, name="dense_features")(t)
    return keras.layers.Reshape(feature_shape, name="reshape")(t)
