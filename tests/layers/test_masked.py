"""Masked layers: which inputs each output depends on, read off autodiff Jacobians and
compared with the PixelCNN and MADE connectivity rules written out here."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from ae_zoo.layers import GatedActivation, MaskedConv2D, MaskedDense

#: Which offsets (rows down, columns right) of an input from an output position each mask
#: keeps: the vertical stacks see rows above (b: and the row itself), the horizontal ones
#: the row to the left (b: and the position itself).
RULES = {"vertical_a": lambda dr, dc: dr < 0, "vertical_b": lambda dr, dc: dr <= 0,
         "horizontal_a": lambda dr, dc: dr == 0 and dc < 0,
         "horizontal_b": lambda dr, dc: dr == 0 and dc <= 0}


def influence(layer, x):
    """|d output / d input| summed over channels: [output position, input position]."""
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
    jacobian = tape.jacobian(y, x).numpy()
    h, w = x.shape[1:3]
    return np.abs(jacobian).sum(axis=(0, 3, 4, 7)).reshape(h * w, h * w)


@pytest.mark.parametrize("mask_type", sorted(RULES))
def test_masked_conv_sees_exactly_the_taps_of_its_mask(mask_type):
    h, w, k = 5, 5, 3
    keras.utils.set_random_seed(0)
    layer = MaskedConv2D(2, k, mask_type, kernel_initializer="ones")
    x = np.random.default_rng(1).uniform(size=(1, h, w, 2)).astype("float32")
    seen = influence(layer, x) > 0
    for i in range(h * w):
        for j in range(h * w):
            (r, c), (r2, c2) = divmod(i, w), divmod(j, w)
            dr, dc = r2 - r, c2 - c
            inside = abs(dr) <= k // 2 and abs(dc) <= k // 2
            assert seen[i, j] == (inside and RULES[mask_type](dr, dc)), (i, j)
    if mask_type.startswith("horizontal"):  # causal in raster order: nothing at j > i
        assert not np.any(np.triu(seen, 1))
        assert np.all(np.diag(seen)) == (mask_type == "horizontal_b")  # mask A: not i itself


def test_masked_conv_round_trips_its_config():
    layer = MaskedConv2D(3, 5, "vertical_b")
    clone = MaskedConv2D.from_config(layer.get_config())
    assert clone.mask_type == "vertical_b" and clone.kernel_size == (5, 5)
    with pytest.raises(ValueError, match="mask_type"):
        MaskedConv2D(3, 3, "diagonal")
    with pytest.raises(ValueError, match="square"):
        MaskedConv2D(3, (3, 5), "vertical_a")


def test_masked_dense_connects_by_degree():
    """Unit j sees input i where degree_out[j] >= degree_in[i] (> with strict)."""
    inputs, outputs = [1, 2, 3], [3, 1, 2, 2]
    for strict in (False, True):
        layer = MaskedDense(4, inputs, outputs, strict=strict, kernel_initializer="ones")
        x = tf.constant(np.ones((1, 3), "float32"))
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
        seen = tape.jacobian(y, x).numpy()[0, :, 0, :] != 0  # [output, input]
        expected = np.array([[(o > i) if strict else (o >= i) for i in inputs] for o in outputs])
        np.testing.assert_array_equal(seen, expected)


def test_gated_activation_is_tanh_times_sigmoid_of_the_halves():
    x = np.random.default_rng(2).normal(size=(3, 4, 6)).astype("float32")
    expected = np.tanh(x[..., :3]) / (1.0 + np.exp(-x[..., 3:]))
    np.testing.assert_allclose(GatedActivation()(x).numpy(), expected, rtol=1e-5, atol=1e-6)
