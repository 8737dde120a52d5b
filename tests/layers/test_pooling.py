"""MaxPoolingWithArgmax2D / MaxUnpooling2D against Keras, TensorFlow and numpy brute force."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ae_zoo.layers import MaxPoolingWithArgmax2D, MaxUnpooling2D

HYPOTHESIS = settings(max_examples=15, deadline=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture])


# ---------------------------------------------------------------- references
def tie_free(shape, seed=0):
    """Distinct float32 values (positive and negative), so the argmax is unique."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    return ((rng.permutation(n) - n / 2) / 8.0).astype("float32").reshape(shape)


def windows(n, p):
    """[start, stop) of each pooling window along an axis of size n, pool p, stride p,
    with TF/Keras "SAME" padding: total = ceil(n/p)*p - n, total//2 of it before."""
    out = -(-n // p)
    before = (out * p - n) // 2
    return [(max(i * p - before, 0), min(i * p - before + p, n)) for i in range(out)]


def np_pool(x, pool):
    """Brute-force max pooling with "SAME" windows; returns (pooled, switches) with
    switches = (y * W + x) * C + c of the first maximum in row-major order."""
    ph, pw = pool
    b, h, w, c = x.shape
    rows, cols = windows(h, ph), windows(w, pw)
    pooled = np.zeros((b, len(rows), len(cols), c), x.dtype)
    switches = np.zeros((b, len(rows), len(cols), c), np.int64)
    for bi in range(b):
        for i, (r0, r1) in enumerate(rows):
            for j, (c0, c1) in enumerate(cols):
                for ci in range(c):
                    win = x[bi, r0:r1, c0:c1, ci]
                    dy, dx = divmod(int(np.argmax(win)), win.shape[1])
                    pooled[bi, i, j, ci] = win.max()
                    switches[bi, i, j, ci] = ((r0 + dy) * w + (c0 + dx)) * c + ci
    return pooled, switches


def np_unpool(values, switches, pool, out_hw):
    """Scatters each value to its switch location; a negative switch goes to the
    top-left corner of its window; zeros elsewhere."""
    ph, pw = pool
    out_h, out_w = out_hw
    rows, cols = windows(out_h, ph), windows(out_w, pw)
    b, ih, iw, c = values.shape
    out = np.zeros((b, out_h, out_w, c), values.dtype)
    for bi in range(b):
        for i in range(ih):
            for j in range(iw):
                for ci in range(c):
                    s = int(switches[bi, i, j, ci])
                    if s < 0:
                        y, xx, ch = rows[i][0], cols[j][0], ci
                    else:
                        pos, ch = divmod(s, c)
                        y, xx = divmod(pos, out_w)
                    out[bi, y, xx, ch] = values[bi, i, j, ci]
    return out


def random_switches(rng, values_shape, pool, out_hw, negative_fraction=0.0):
    """Valid switches: a random position inside each window, a fraction set to -1."""
    out_h, out_w = out_hw
    rows, cols = windows(out_h, pool[0]), windows(out_w, pool[1])
    b, ih, iw, c = values_shape
    s = np.zeros(values_shape, np.int32)
    for bi in range(b):
        for i, (r0, r1) in enumerate(rows):
            for j, (c0, c1) in enumerate(cols):
                for ci in range(c):
                    y, xx = rng.integers(r0, r1), rng.integers(c0, c1)
                    s[bi, i, j, ci] = (y * out_w + xx) * c + ci
    s[rng.random(values_shape) < negative_fraction] = -1
    return s


def keep_window_max(x, pool):
    """x where x is the maximum of its ("SAME") window, 0 elsewhere (brute force)."""
    out = np.zeros_like(x)
    b, h, w, c = x.shape
    for bi in range(b):
        for r0, r1 in windows(h, pool[0]):
            for c0, c1 in windows(w, pool[1]):
                for ci in range(c):
                    win = x[bi, r0:r1, c0:c1, ci]
                    dy, dx = divmod(int(np.argmax(win)), win.shape[1])
                    out[bi, r0 + dy, c0 + dx, ci] = win.max()
    return out


def pair(p):
    return (p, p) if isinstance(p, int) else tuple(p)


# ------------------------------------------------------------ pooling values
# Shapes whose SAME padding is at most one row/column per axis (so bottom/right).
AGREEING_CASES = [
    ((2, 8, 8, 1), 2),
    ((2, 7, 7, 3), 2),
    ((3, 5, 9, 2), 2),
    ((1, 6, 10, 4), 2),
    ((2, 1, 3, 2), 2),
    ((2, 9, 6, 3), 3),
    ((1, 8, 11, 2), 3),
    ((2, 7, 5, 2), (2, 1)),
    ((2, 4, 9, 1), (1, 3)),
]


@pytest.mark.parametrize("shape,pool", AGREEING_CASES)
def test_pooled_values_equal_keras_max_pooling_same(shape, pool):
    x = tie_free(shape)
    pooled, _ = MaxPoolingWithArgmax2D(pool)(x)
    reference = keras.layers.MaxPooling2D(pool, padding="same")(x)
    np.testing.assert_array_equal(np.asarray(pooled), np.asarray(reference))


@pytest.mark.parametrize("shape,pool", AGREEING_CASES)
def test_switches_equal_tf_max_pool_with_argmax(shape, pool):
    x = tie_free(shape, seed=1)
    pooled, switches = MaxPoolingWithArgmax2D(pool)(x)
    k = pair(pool)
    ref_pooled, ref_switches = tf.nn.max_pool_with_argmax(
        x, ksize=k, strides=k, padding="SAME", include_batch_in_index=False)
    assert switches.dtype == "int32"
    np.testing.assert_array_equal(np.asarray(switches), ref_switches.numpy())
    np.testing.assert_array_equal(np.asarray(pooled), ref_pooled.numpy())


# Sizes where "same" padding puts rows/columns on both sides of the image.
BOTH_SIDES_PADDING_CASES = [((2, 7, 7, 3), 3), ((1, 4, 4, 1), 3), ((2, 5, 6, 2), 4)]


@pytest.mark.parametrize("shape,pool", BOTH_SIDES_PADDING_CASES)
def test_pool_size_3_and_more_matches_keras_same_padding(shape, pool):
    x = tie_free(shape, seed=2)
    pooled, switches = MaxPoolingWithArgmax2D(pool)(x)
    k = pair(pool)
    ref_pooled = keras.layers.MaxPooling2D(pool, padding="same")(x)
    _, ref_switches = tf.nn.max_pool_with_argmax(x, k, k, "SAME", include_batch_in_index=False)
    np.testing.assert_array_equal(np.asarray(pooled), np.asarray(ref_pooled))
    np.testing.assert_array_equal(np.asarray(switches), ref_switches.numpy())


@pytest.mark.parametrize("shape,pool", [((1, 3, 8, 2), 2), ((2, 9, 6, 3), 3), ((2, 7, 5, 2), (4, 3))]
                         + BOTH_SIDES_PADDING_CASES)
def test_pooling_matches_numpy_same_padding_reference(shape, pool):
    x = tie_free(shape, seed=3)
    pooled, switches = MaxPoolingWithArgmax2D(pool)(x)
    ref_pooled, ref_switches = np_pool(x, pair(pool))
    np.testing.assert_array_equal(np.asarray(pooled), ref_pooled)
    np.testing.assert_array_equal(np.asarray(switches), ref_switches)


def test_ties_go_to_first_position_in_row_major_order():
    x = np.full((1, 5, 4, 2), -3.0, "float32")  # constant, negative: padding must not win
    pooled, switches = MaxPoolingWithArgmax2D(2)(x)
    np.testing.assert_array_equal(np.asarray(pooled), np.full((1, 3, 2, 2), -3.0))
    rows, cols, chans = np.meshgrid(np.arange(3) * 2, np.arange(2) * 2, np.arange(2), indexing="ij")
    np.testing.assert_array_equal(np.asarray(switches)[0], (rows * 4 + cols) * 2 + chans)


def test_symbolic_output_shapes_and_dtypes():
    pooled, switches = MaxPoolingWithArgmax2D(2)(keras.Input((7, 9, 3)))
    assert tuple(pooled.shape) == (None, 4, 5, 3) and tuple(switches.shape) == (None, 4, 5, 3)
    assert switches.dtype == "int32"
    up = MaxUnpooling2D(2, output_size=(7, 9))([pooled, switches])
    assert tuple(up.shape) == (None, 7, 9, 3)
    unpool = MaxUnpooling2D((2, 3), output_size=(8, 14))
    assert unpool.compute_output_shape(((None, 4, 5, 3), (None, 4, 5, 3))) == (None, 8, 14, 3)


# ---------------------------------------------------------------- unpooling
@pytest.mark.parametrize("values_shape,pool,out_hw", [
    ((2, 4, 4, 1), 2, (8, 8)),
    ((2, 4, 5, 3), 2, (7, 9)),
    ((1, 3, 2, 2), (3, 2), (8, 4)),
    ((2, 2, 3, 4), (2, 3), (3, 9)),
])
def test_unpooling_equals_numpy_scatter_exactly(values_shape, pool, out_hw):
    rng = np.random.default_rng(4)
    values = rng.normal(size=values_shape).astype("float32")
    switches = random_switches(rng, values_shape, pair(pool), out_hw)
    out = MaxUnpooling2D(pool, output_size=out_hw)([values, switches])
    expected = np_unpool(values, switches, pair(pool), out_hw)
    np.testing.assert_array_equal(np.asarray(out), expected)
    assert np.count_nonzero(np.asarray(out)) == np.count_nonzero(values)


def test_negative_switches_go_to_the_window_top_left():
    rng = np.random.default_rng(5)
    shape, pool, out_hw = (2, 3, 4, 2), (2, 2), (5, 7)
    values = rng.uniform(1, 2, size=shape).astype("float32")
    switches = random_switches(rng, shape, pool, out_hw, negative_fraction=0.5)
    assert (switches < 0).any() and (switches >= 0).any()
    out = np.asarray(MaxUnpooling2D(pool, output_size=out_hw)([values, switches]))
    np.testing.assert_array_equal(out, np_unpool(values, switches, pool, out_hw))
    # All switches unknown: each value sits at (2i, 2j), the fixed-switch unpooling.
    out = np.asarray(MaxUnpooling2D(pool, output_size=out_hw)([values, -np.ones(shape, "int32")]))
    np.testing.assert_array_equal(out[:, ::2, ::2, :], values)
    assert np.count_nonzero(out) == values.size


@pytest.mark.parametrize("shape,pool", [((2, 8, 8, 1), 2), ((2, 7, 9, 3), 2), ((1, 8, 9, 2), 3),
                                        ((2, 5, 6, 2), (2, 3)),
                                        ((1, 7, 7, 2), 3)])
def test_pool_then_unpool_keeps_exactly_each_window_max(shape, pool):
    x = tie_free(shape, seed=6)
    pooled, switches = MaxPoolingWithArgmax2D(pool)(x)
    out = MaxUnpooling2D(pool, output_size=shape[1:3])([pooled, switches])
    np.testing.assert_array_equal(np.asarray(out), keep_window_max(x, pair(pool)))


def test_unpooling_requires_the_pooled_size():
    # Without the size of the map that was pooled, switches of odd-sized inputs
    # cannot be decoded, so the layer refuses to guess.
    with pytest.raises(ValueError, match="output_size"):
        MaxUnpooling2D(2)


def test_unpooling_rejects_inconsistent_output_size():
    values = np.ones((1, 3, 3, 1), "float32")
    with pytest.raises(ValueError, match="output_size"):
        MaxUnpooling2D(2, output_size=(9, 9))([values, np.zeros((1, 3, 3, 1), "int32")])


@pytest.mark.parametrize("bad", [0, (2, 0), (2, 2, 2), -1])
def test_invalid_pool_size_raises(bad):
    with pytest.raises(ValueError, match="pool_size"):
        MaxPoolingWithArgmax2D(bad)
    with pytest.raises(ValueError, match="pool_size"):
        MaxUnpooling2D(bad)


def test_pool_unpool_under_xla_equals_eager():
    pool = MaxPoolingWithArgmax2D(2)
    unpool = MaxUnpooling2D(2, output_size=(7, 9))

    def round_trip(x):
        p, s = pool(x)
        return p, s, unpool([p, s])

    x = tie_free((3, 7, 9, 2), seed=8)
    compiled = tf.function(round_trip, jit_compile=True)
    for got, want in zip(compiled(tf.constant(x)), round_trip(x)):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    np.testing.assert_array_equal(np.asarray(compiled(tf.constant(x))[2]), keep_window_max(x, (2, 2)))


def test_unpooling_gradient_routes_to_the_switch_locations():
    x = tf.constant(tie_free((2, 6, 5, 2), seed=9))
    w = tf.constant(np.random.default_rng(9).normal(size=(2, 6, 5, 2)).astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(x)
        p, s = MaxPoolingWithArgmax2D(2)(x)
        loss = tf.reduce_sum(MaxUnpooling2D(2, output_size=(6, 5))([p, s]) * w)
    grad = tape.gradient(loss, x).numpy()
    is_max = keep_window_max(x.numpy(), (2, 2)) != 0
    np.testing.assert_allclose(grad, np.where(is_max, w.numpy(), 0.0), rtol=0, atol=1e-6)


@pytest.mark.parametrize("layer", [MaxPoolingWithArgmax2D((2, 3), name="p"),
                                   MaxUnpooling2D((3, 2), output_size=(7, 5), name="u")])
def test_get_config_round_trip(layer):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    restored = keras.saving.deserialize_keras_object(
        json.loads(json.dumps(keras.saving.serialize_keras_object(layer))))
    assert type(restored) is type(layer)
    assert restored.pool_size == layer.pool_size
    assert restored.get_config() == config
    if isinstance(layer, MaxUnpooling2D):
        assert restored.output_size == (7, 5)
        values = np.arange(18, dtype="float32").reshape(1, 3, 3, 2) + 1
        switches = random_switches(np.random.default_rng(0), values.shape, (3, 2), (7, 5))
        np.testing.assert_array_equal(np.asarray(restored([values, switches])),
                                      np.asarray(layer([values, switches])))


# ---------------------------------------------------------------- properties
@st.composite
def pooling_case(draw, max_pool=3):
    b = draw(st.integers(1, 2))
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    c = draw(st.integers(1, 3))
    pool = (draw(st.integers(1, max_pool)), draw(st.integers(1, max_pool)))
    seed = draw(st.integers(0, 2**16))
    return (b, h, w, c), pool, seed


@HYPOTHESIS
@given(pooling_case(max_pool=2))
def test_property_pool_unpool_pair_matches_brute_force(case):
    shape, pool, seed = case
    x = tie_free(shape, seed)
    pooled, switches = MaxPoolingWithArgmax2D(pool)(x)
    ref_pooled, ref_switches = np_pool(x, pool)
    np.testing.assert_array_equal(np.asarray(pooled), ref_pooled)
    np.testing.assert_array_equal(np.asarray(switches), ref_switches)
    out = MaxUnpooling2D(pool, output_size=shape[1:3])([pooled, switches])
    np.testing.assert_array_equal(np.asarray(out), keep_window_max(x, pool))


@HYPOTHESIS
@given(pooling_case(max_pool=4))
def test_property_switches_point_at_the_pooled_values_and_unpooling_puts_them_back(case):
    # Holds whatever the padding convention: pooled[b, i, j, c] == x[b].flat[switch],
    # every window contributes exactly one value, and unpooling is the exact scatter.
    shape, pool, seed = case
    x = tie_free(shape, seed) + 1000.0  # non-zero everywhere
    pooled, switches = (np.asarray(t) for t in MaxPoolingWithArgmax2D(pool)(x))
    assert pooled.shape == (shape[0], -(-shape[1] // pool[0]), -(-shape[2] // pool[1]), shape[3])
    flat_x = x.reshape(shape[0], -1)
    np.testing.assert_array_equal(
        np.take_along_axis(flat_x, switches.reshape(shape[0], -1), axis=1),
        pooled.reshape(shape[0], -1))
    for example in switches:  # windows do not share a maximum
        assert len(np.unique(example)) == example.size
    out = np.asarray(MaxUnpooling2D(pool, output_size=shape[1:3])([pooled, switches]))
    np.testing.assert_array_equal(out, np_unpool(pooled, switches, pool, shape[1:3]))
    nonzero = out != 0
    assert nonzero.sum() == pooled.size
    np.testing.assert_array_equal(out[nonzero], x[nonzero])


@HYPOTHESIS
@given(pooling_case(max_pool=2))
def test_property_pool_size_up_to_2_matches_tensorflow(case):
    shape, pool, seed = case
    x = tie_free(shape, seed)
    pooled, switches = MaxPoolingWithArgmax2D(pool)(x)
    ref_pooled, ref_switches = tf.nn.max_pool_with_argmax(
        x, pool, pool, "SAME", include_batch_in_index=False)
    np.testing.assert_array_equal(np.asarray(pooled), ref_pooled.numpy())
    np.testing.assert_array_equal(np.asarray(switches), ref_switches.numpy())
