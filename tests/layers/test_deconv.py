"""SubPixelConv2DTranspose: the transposed convolution computed as a stride-1
convolution and a periodic shuffle (depth_to_space) equals a brute-force scatter in numpy and Keras's own
Conv2DTranspose, values and gradients, in every padding / kernel / stride case."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from ae_zoo.layers import SubPixelConv2DTranspose
from ae_zoo.layers.deconv import MAX_SUBPIXEL_FILTERS, subpixel_conv2d_transpose


def scatter_transpose_conv(x, kernel, bias, stride, padding):
    """Brute force: input pixel (i, j) adds kernel[u, v] * x[i, j] to output pixel
    (s*i + u, s*j + v) of the uncropped output, which "same" / "valid" then crop
    the way Keras's output size says."""
    n, h, w, _ = x.shape
    kh, kw, filters, _ = kernel.shape
    full = np.zeros((n, (h - 1) * stride + kh, (w - 1) * stride + kw, filters))
    for i in range(h):
        for j in range(w):
            for u in range(kh):
                for v in range(kw):
                    full[:, stride * i + u, stride * j + v] += x[:, i, j] @ kernel[u, v].T
    if padding == "same":
        out_h, out_w = h * stride, w * stride
        top, left = max(kh - stride, 0) // 2, max(kw - stride, 0) // 2
    else:
        out_h, out_w = h * stride + max(kh - stride, 0), w * stride + max(kw - stride, 0)
        top = left = 0
    full = np.pad(full, [(0, 0), (0, max(out_h + top - full.shape[1], 0)),
                         (0, max(out_w + left - full.shape[2], 0)), (0, 0)])
    return full[:, top:top + out_h, left:left + out_w] + bias


CASES = [  # (input h, w, channels), filters, kernel, stride, padding
    ((5, 5, 3), 1, 4, 2, "same"),
    ((4, 6, 2), 3, 3, 2, "same"),
    ((5, 3, 4), 2, 3, 2, "valid"),
    ((3, 4, 2), 1, 4, 2, "valid"),
    ((4, 4, 3), 2, 2, 2, "same"),
    ((3, 5, 2), 1, 5, 2, "same"),
    ((3, 3, 2), 3, 3, 3, "same"),
    ((4, 3, 2), 2, (4, 3), 2, "same"),
    ((3, 3, 2), 1, 1, 2, "valid"),
]


def _layers(input_shape, filters, kernel, stride, padding, seed):
    fast = SubPixelConv2DTranspose(filters, kernel, strides=stride, padding=padding)
    ref = keras.layers.Conv2DTranspose(filters, kernel, strides=stride, padding=padding)
    for layer in (fast, ref):
        layer.build((None, *input_shape))
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=w.shape).astype("float32") for w in ref.get_weights()]
    fast.set_weights(weights)
    ref.set_weights(weights)
    return fast, ref, weights


@pytest.mark.parametrize("case", CASES, ids=[f"{c[2]}-{c[3]}-{c[4]}-{c[1]}f" for c in CASES])
def test_equals_brute_force_and_keras_with_gradients(case):
    input_shape, filters, kernel, stride, padding = case
    fast, ref, (k, b) = _layers(input_shape, filters, kernel, stride, padding, seed=len(str(case)))
    assert fast._subpixel()
    x = np.random.default_rng(1).normal(size=(2, *input_shape)).astype("float32")
    expected = scatter_transpose_conv(x.astype("float64"), k, b, stride, padding)
    y = fast(x).numpy()
    assert y.shape == ref(x).shape == expected.shape
    np.testing.assert_allclose(y, expected, atol=1e-4)

    # Gradients of a weighted sum: input, kernel and bias, against Keras's layer.
    weights = tf.constant(np.random.default_rng(2).normal(size=y.shape).astype("float32"))
    grads = []
    for layer in (fast, ref):
        xt = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            loss = tf.reduce_sum(layer(xt) * weights)
        grads.append(tape.gradient(loss, [xt, *layer.trainable_variables]))
    for g_fast, g_ref in zip(*grads):
        np.testing.assert_allclose(g_fast.numpy(), g_ref.numpy(), rtol=1e-4, atol=1e-4)


def test_forward_is_a_stride_1_convolution_not_a_transposed_one():
    layer = SubPixelConv2DTranspose(1, 4, strides=2, padding="same")
    layer.build((None, 8, 8, 4))
    function = tf.function(layer).get_concrete_function(tf.TensorSpec((None, 8, 8, 4)))
    ops = {op.type for op in function.graph.get_operations()}
    assert {"Conv2D", "Transpose"} <= ops and "Conv2DBackpropInput" not in ops
    # With an unknown batch size the other dimensions stay static.
    assert function.structured_outputs.shape.as_list() == [None, 16, 16, 1]


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_unknown_image_size_traces_once_and_matches_the_scatter(padding):
    fast, _, (k, b) = _layers((5, 6, 3), 2, 3, 2, padding, seed=7)
    function = tf.function(fast, input_signature=[tf.TensorSpec((None, None, None, 3))])
    for shape in [(2, 5, 6, 3), (1, 4, 3, 3)]:
        x = np.random.default_rng(sum(shape)).normal(size=shape).astype("float32")
        expected = scatter_transpose_conv(x.astype("float64"), k, b, 2, padding)
        np.testing.assert_allclose(function(x).numpy(), expected, atol=1e-4)
    assert function.experimental_get_tracing_count() == 1


@pytest.mark.parametrize("kwargs", [
    dict(filters=MAX_SUBPIXEL_FILTERS + 1), dict(dilation_rate=2, strides=1),
    dict(output_padding=1), dict(strides=(2, 1)), dict(strides=1),
])
def test_other_configurations_use_the_keras_computation(kwargs):
    kwargs = {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same", **kwargs}
    fast = SubPixelConv2DTranspose(**kwargs)
    ref = keras.layers.Conv2DTranspose(**kwargs)
    assert not fast._subpixel()
    for layer in (fast, ref):
        layer.build((None, 5, 5, 3))
    fast.set_weights(ref.get_weights())
    x = np.random.default_rng(0).normal(size=(2, 5, 5, 3)).astype("float32")
    np.testing.assert_array_equal(fast(x).numpy(), ref(x).numpy())


def test_under_xla_and_in_a_saved_model_file(tmp_path):
    fast, ref, _ = _layers((6, 6, 3), 1, 4, 2, "same", seed=3)
    x = np.random.default_rng(4).normal(size=(3, 6, 6, 3)).astype("float32")
    xla = tf.function(fast, jit_compile=True)
    np.testing.assert_allclose(xla(x).numpy(), ref(x).numpy(), atol=1e-4)

    inputs = keras.Input((6, 6, 3))
    model = keras.Model(inputs, SubPixelConv2DTranspose(1, 4, strides=2, padding="same",
                                                        activation="sigmoid")(inputs))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.layers[-1], SubPixelConv2DTranspose)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_mixed_bfloat16_computes_in_bfloat16_with_float32_weights():
    policy = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        fast = SubPixelConv2DTranspose(3, 3, strides=2, padding="same")
        fast.build((None, 5, 5, 4))
    finally:
        keras.mixed_precision.set_dtype_policy(policy)
    ref = keras.layers.Conv2DTranspose(3, 3, strides=2, padding="same")
    ref.build((None, 5, 5, 4))
    ref.set_weights(fast.get_weights())
    x = np.random.default_rng(5).normal(size=(2, 5, 5, 4)).astype("float32")
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        y = fast(xt)
        loss = tf.reduce_sum(tf.cast(y, "float32"))
    grad = tape.gradient(loss, fast.kernel.value)
    assert y.dtype == tf.bfloat16 and fast.kernel.dtype == "float32" and grad.dtype == tf.float32
    np.testing.assert_allclose(tf.cast(y, "float32").numpy(), ref(x).numpy(), atol=0.1, rtol=0.05)


@pytest.mark.parametrize("kwargs, message", [
    (dict(strides=1), "stride of at least 2"),
    (dict(padding="full"), "padding must be"),
    (dict(kernel=np.zeros((3, 3, 1, 5), "float32")), "with the inputs' channels"),
])
def test_bad_arguments_of_the_function_are_named(kwargs, message):
    args = dict(inputs=np.zeros((1, 4, 4, 2), "float32"), kernel=np.zeros((3, 3, 1, 2), "float32"),
                strides=2, padding="same")
    with pytest.raises(ValueError, match=message):
        subpixel_conv2d_transpose(**{**args, **kwargs})
