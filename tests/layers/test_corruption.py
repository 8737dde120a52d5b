"""Corruption layers: statistics measured by Monte Carlo, determinism, validation."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from ae_zoo.layers import (
    CORRUPTIONS,
    GaussianCorruption,
    Masking,
    Occlusion,
    SaltAndPepper,
    make_corruption,
)


def binomial_tol(p, n, sigmas=5.0):
    return sigmas * np.sqrt(p * (1 - p) / n) + 1e-9


def pixel_mask(out, value):
    """(N, H, W) bool: pixels where every channel equals ``value``."""
    return np.all(out == value, axis=-1)


def channels_together(out):
    return np.all(out == out[..., :1], axis=-1).all()


def all_layers(seed=0):
    return [GaussianCorruption(0.2, seed=seed), SaltAndPepper(0.3, seed=seed),
            Masking(0.4, seed=seed), Occlusion((0.25, 0.5), seed=seed)]


@pytest.mark.parametrize("layer", all_layers(), ids=lambda l: type(l).__name__)
def test_identity_outside_training(layer):
    x = np.random.default_rng(0).uniform(size=(4, 8, 10, 3)).astype("float32")
    np.testing.assert_array_equal(np.asarray(layer(x)), x)
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)
    assert not np.array_equal(np.asarray(layer(x, training=True)), x)


@pytest.mark.parametrize("stddev", [0.1, 0.5])
def test_gaussian_noise_has_requested_stddev(stddev):
    x = np.full((64, 16, 16, 1), 0.5, "float32")  # n = 16384 draws
    out = np.asarray(GaussianCorruption(stddev, clip=False, seed=1)(x, training=True))
    noise = (out - x).ravel().astype(np.float64)
    n = noise.size
    assert abs(noise.mean()) < 5 * stddev / np.sqrt(n)
    assert abs(noise.std() / stddev - 1) < 5 / np.sqrt(2 * n)  # ~4 % here
    # Independent per element, including channels: correlation between neighbours ~ 0.
    assert abs(np.corrcoef(noise[:-1], noise[1:])[0, 1]) < 5 / np.sqrt(n)


def test_gaussian_clip_keeps_values_in_unit_interval():
    x = np.random.default_rng(2).uniform(size=(16, 8, 8, 3)).astype("float32")
    out = np.asarray(GaussianCorruption(0.5, seed=2)(x, training=True))
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert (out == 0).mean() > 0.05 and (out == 1).mean() > 0.05  # clipping actually happens
    unclipped = (out > 0) & (out < 1)
    assert unclipped.mean() > 0.5


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.75])
def test_masking_zeroes_rate_of_pixels_all_channels_together(rate):
    x = np.ones((64, 16, 16, 3), "float32")
    out = np.asarray(Masking(rate, seed=3)(x, training=True))
    assert set(np.unique(out)) <= {0.0, 1.0}
    assert channels_together(out)
    zeroed = pixel_mask(out, 0.0)
    assert abs(zeroed.mean() - rate) < binomial_tol(rate, zeroed.size)


@pytest.mark.parametrize("rate,expected", [(0.0, 0.0), (1.0, 1.0)])
def test_masking_extreme_rates(rate, expected):
    x = np.random.default_rng(4).uniform(0.1, 1, size=(8, 6, 6, 2)).astype("float32")
    out = np.asarray(Masking(rate, seed=4)(x, training=True))
    np.testing.assert_array_equal(out == 0, np.full(out.shape, expected == 1.0))


@pytest.mark.parametrize("rate", [0.2, 0.6])
def test_salt_and_pepper_sets_rate_of_pixels_to_0_or_1_half_each(rate):
    x = np.full((64, 16, 16, 3), 0.5, "float32")
    out = np.asarray(SaltAndPepper(rate, seed=5)(x, training=True))
    assert set(np.unique(out)) <= {0.0, 0.5, 1.0}
    assert channels_together(out)
    n = out.shape[0] * out.shape[1] * out.shape[2]
    zeros, ones = pixel_mask(out, 0.0).mean(), pixel_mask(out, 1.0).mean()
    assert abs(zeros - rate / 2) < binomial_tol(rate / 2, n)
    assert abs(ones - rate / 2) < binomial_tol(rate / 2, n)
    assert abs((zeros + ones) - rate) < binomial_tol(rate, n)


def blanked_rectangles(out, fill):
    """Per image: (height, width, top, left) of the bounding box of blanked pixels,
    after checking the blanked set is exactly that full rectangle."""
    boxes = []
    for img in out:
        mask = pixel_mask(img[None], fill)[0]
        assert mask.any(), "an image was not occluded at all"
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        top, left = rows[0], cols[0]
        h, w = rows[-1] - top + 1, cols[-1] - left + 1
        assert mask.sum() == h * w, "the blanked pixels do not form one rectangle"
        boxes.append((h, w, top, left))
    return np.array(boxes)


def test_occlusion_blanks_one_rectangle_with_sides_in_size_range():
    height, width = 16, 24
    lo, hi = 0.25, 0.5
    x = np.ones((300, height, width, 2), "float32")
    out = np.asarray(Occlusion((lo, hi), seed=6)(x, training=True))
    assert set(np.unique(out)) <= {0.0, 1.0} and channels_together(out)
    boxes = blanked_rectangles(out, 0.0)
    h, w, top, left = boxes.T
    assert h.min() >= round(lo * height) and h.max() <= round(hi * height)
    assert w.min() >= round(lo * width) and w.max() <= round(hi * width)
    # The sizes spread over the range (uniform), not a single value.
    assert h.min() <= round(lo * height) + 1 and h.max() >= round(hi * height) - 1
    assert w.min() <= round(lo * width) + 1 and w.max() >= round(hi * width) - 1
    # Positions cover every place where the rectangle fits, edges included.
    assert (top == 0).any() and (top + h == height).any()
    assert (left == 0).any() and (left + w == width).any()


def test_occlusion_fill_value_and_several_rectangles():
    x = np.ones((200, 16, 16, 1), "float32")
    one = np.asarray(Occlusion((0.25, 0.25), fill=0.5, seed=7)(x, training=True))
    boxes = blanked_rectangles(one, 0.5)
    np.testing.assert_array_equal(boxes[:, :2], np.full((200, 2), 4))
    three = np.asarray(Occlusion((0.25, 0.25), num_rectangles=3, fill=0.5, seed=7)(x, training=True))
    covered = (three == 0.5).sum(axis=(1, 2, 3))
    assert covered.min() >= 16 and covered.max() <= 48 and covered.mean() > 16 * 1.5


def test_small_occlusion_still_blanks_at_least_one_pixel():
    x = np.ones((32, 8, 8, 1), "float32")
    out = np.asarray(make_corruption("occlusion", 0.1, seed=0)(x, training=True))
    assert (out == 0).any(axis=(1, 2, 3)).all()


@pytest.mark.parametrize("make", [
    lambda s: GaussianCorruption(0.2, seed=s), lambda s: SaltAndPepper(0.3, seed=s),
    lambda s: Masking(0.4, seed=s), lambda s: Occlusion((0.25, 0.5), seed=s)],
    ids=["gaussian", "salt_and_pepper", "masking", "occlusion"])
def test_fresh_noise_every_call_and_same_seed_same_sequence(make):
    x = np.random.default_rng(8).uniform(size=(8, 12, 12, 2)).astype("float32")
    a, b, c = make(11), make(11), make(12)
    a1, a2 = np.asarray(a(x, training=True)), np.asarray(a(x, training=True))
    b1, b2 = np.asarray(b(x, training=True)), np.asarray(b(x, training=True))
    c1 = np.asarray(c(x, training=True))
    assert not np.array_equal(a1, a2)
    np.testing.assert_array_equal(a1, b1)
    np.testing.assert_array_equal(a2, b2)
    assert not np.array_equal(a1, c1)


@pytest.mark.parametrize("layer", all_layers(seed=3), ids=lambda l: type(l).__name__)
def test_corruption_runs_under_xla_and_draws_fresh_noise(layer):
    x = tf.constant(np.random.default_rng(9).uniform(size=(4, 10, 12, 2)).astype("float32"))
    fn = tf.function(lambda t: layer(t, training=True), jit_compile=True)
    first, second = np.asarray(fn(x)), np.asarray(fn(x))
    assert first.shape == x.shape and not np.array_equal(first, second)
    assert first.min() >= 0 and first.max() <= 1


@pytest.mark.parametrize("build", [
    lambda: GaussianCorruption(-0.1), lambda: SaltAndPepper(-0.1), lambda: SaltAndPepper(1.5),
    lambda: Masking(1.01), lambda: Masking(-1), lambda: Occlusion((0.0, 0.5)),
    lambda: Occlusion((0.6, 0.5)), lambda: Occlusion((0.2, 1.5)),
    lambda: Occlusion((0.2, 0.4), num_rectangles=0),
    lambda: make_corruption("gaussian", -0.3), lambda: make_corruption("masking", -0.3),
    lambda: make_corruption("masking", 2.0), lambda: make_corruption("salt_and_pepper", 1.2),
    lambda: make_corruption("occlusion", 1.5),
])
def test_invalid_levels_raise_value_error(build):
    with pytest.raises(ValueError):
        build()


def test_make_corruption_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="blur") as info:
        make_corruption("blur", 0.1)
    for name in CORRUPTIONS:
        assert name in str(info.value)
    assert set(CORRUPTIONS) == {"gaussian", "salt_and_pepper", "masking", "occlusion"}


@pytest.mark.parametrize("name,level,cls,attr,expected", [
    ("gaussian", 0.25, GaussianCorruption, "stddev", 0.25),
    ("gaussian", None, GaussianCorruption, "stddev", 0.3),
    ("salt_and_pepper", 0.1, SaltAndPepper, "rate", 0.1),
    ("salt_and_pepper", None, SaltAndPepper, "rate", 0.2),
    ("masking", 0.6, Masking, "rate", 0.6),
    ("masking", None, Masking, "rate", 0.3),
    ("occlusion", 0.4, Occlusion, "size_range", (0.2, 0.4)),
    ("occlusion", None, Occlusion, "size_range", (0.25, 0.5)),
])
def test_make_corruption_maps_noise_level(name, level, cls, attr, expected):
    layer = make_corruption(name, level, seed=3)
    assert type(layer) is cls
    assert getattr(layer, attr) == pytest.approx(expected)
    assert layer.seed == 3


@pytest.mark.parametrize("layer", all_layers(seed=21), ids=lambda l: type(l).__name__)
def test_get_config_round_trip_reproduces_the_noise(layer):
    x = np.random.default_rng(10).uniform(size=(4, 9, 11, 3)).astype("float32")
    blob = json.loads(json.dumps(keras.saving.serialize_keras_object(layer)))
    clone = keras.saving.deserialize_keras_object(blob)
    assert type(clone) is type(layer) and clone.get_config() == layer.get_config()
    np.testing.assert_array_equal(np.asarray(clone(x, training=True)),
                                  np.asarray(layer(x, training=True)))


@settings(max_examples=15, deadline=None)
@given(rate=st.floats(0.0, 1.0), h=st.integers(1, 10), w=st.integers(1, 10),
       c=st.integers(1, 4), seed=st.integers(0, 1000))
def test_property_pixelwise_corruptions_keep_or_replace_whole_pixels(rate, h, w, c, seed):
    x = np.random.default_rng(seed).uniform(0.05, 0.95, size=(3, h, w, c)).astype("float32")
    masked = np.asarray(Masking(rate, seed=seed)(x, training=True))
    kept = np.all(masked == x, axis=-1)
    assert np.all(kept | pixel_mask(masked, 0.0))
    sp = np.asarray(SaltAndPepper(rate, seed=seed)(x, training=True))
    kept = np.all(sp == x, axis=-1)
    assert np.all(kept | pixel_mask(sp, 0.0) | pixel_mask(sp, 1.0))
    noisy = np.asarray(GaussianCorruption(rate, seed=seed)(x, training=True))
    assert noisy.shape == x.shape and noisy.min() >= 0 and noisy.max() <= 1
