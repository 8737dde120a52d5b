"""Input corruptions for denoising autoencoders (Vincent et al. 2008, 2010).

Each layer corrupts only when called with ``training=True`` and draws fresh
noise on every call from its own ``keras.random.SeedGenerator`` (stateless
draws, distinct per replica under tf.distribute); at inference it is the identity. Pixel-wise corruptions (salt-and-pepper, masking) pick
whole pixels: all channels of a chosen pixel are affected together.
"""

import math

import keras
from keras import ops

from ae_zoo import _random


def _check_rate(value, name):
    value = float(value)
    if not 0.0 <= value <= 1.0:  # NaN fails both comparisons
        raise ValueError(f"`{name}` must be in [0, 1], got {value}.")
    return value


class _Corruption(keras.layers.Layer):
    """Shared plumbing: a seed generator, identity outside training."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def call(self, inputs, training=False):
        if not training:
            return inputs
        return self.corrupt(inputs)

    def corrupt(self, inputs):
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        return input_shape

    def _pixel_uniform(self, inputs):
        """One U[0, 1) draw per pixel, broadcast over channels."""
        shape = ops.shape(inputs)
        return _random.uniform((*shape[:-1], 1), self.seed_generator, dtype=inputs.dtype)

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


@keras.saving.register_keras_serializable(package="ae_zoo")
class GaussianCorruption(_Corruption):
    """x~ = x + eps, eps ~ N(0, stddev^2) per element; clipped to [0, 1] if ``clip``."""

    def __init__(self, stddev=0.3, clip=True, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.stddev = float(stddev)
        if self.stddev < 0:
            raise ValueError(f"Gaussian noise `stddev` must be >= 0, got {self.stddev}.")
        self.clip = bool(clip)

    def corrupt(self, inputs):
        noise = _random.normal(ops.shape(inputs), self.seed_generator, stddev=self.stddev,
                               dtype=inputs.dtype)
        out = inputs + noise
        return ops.clip(out, 0.0, 1.0) if self.clip else out

    def describe(self):
        return f"Gaussian noise, sd {self.stddev:g}"

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "clip": self.clip}


@keras.saving.register_keras_serializable(package="ae_zoo")
class SaltAndPepper(_Corruption):
    """Each pixel, with probability ``rate``, is set to 0 or 1 (equally likely)."""

    def __init__(self, rate=0.2, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.rate = _check_rate(rate, "rate")

    def corrupt(self, inputs):
        u = self._pixel_uniform(inputs)
        salt = ops.cast(u < self.rate / 2, inputs.dtype)
        pepper = ops.cast((u >= self.rate / 2) & (u < self.rate), inputs.dtype)
        keep = 1.0 - salt - pepper
        return inputs * keep + salt

    def describe(self):
        return f"salt and pepper on {self.rate:.0%} of the pixels"

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}


@keras.saving.register_keras_serializable(package="ae_zoo")
class Masking(_Corruption):
    """Masking noise: each pixel is zeroed with probability ``rate``."""

    def __init__(self, rate=0.3, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.rate = _check_rate(rate, "rate")

    def corrupt(self, inputs):
        keep = ops.cast(self._pixel_uniform(inputs) >= self.rate, inputs.dtype)
        return inputs * keep

    def describe(self):
        return f"{self.rate:.0%} of the pixels masked"

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}


@keras.saving.register_keras_serializable(package="ae_zoo")
class Occlusion(_Corruption):
    """Blanks ``num_rectangles`` random rectangles per image (inpainting).

    Each rectangle's height and width are drawn uniformly from
    ``size_range`` (fractions of the image height and width); its position is
    uniform over the places where it fits. Covered pixels are set to ``fill``.
    """

    def __init__(self, size_range=(0.25, 0.5), num_rectangles=1, fill=0.0, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        lo, hi = (float(v) for v in size_range)
        if not 0.0 < lo <= hi <= 1.0:
            raise ValueError(
                f"Occlusion `size_range` must satisfy 0 < low <= high <= 1, got {size_range!r}."
            )
        if int(num_rectangles) < 1:
            raise ValueError(f"`num_rectangles` must be >= 1, got {num_rectangles}.")
        self.size_range = (lo, hi)
        self.num_rectangles = int(num_rectangles)
        self.fill = float(fill)

    def corrupt(self, inputs):
        shape = ops.shape(inputs)
        batch = shape[0]
        height, width = inputs.shape[1], inputs.shape[2]
        lo, hi = self.size_range
        draws = _random.uniform((batch, self.num_rectangles, 4), self.seed_generator)
        # At least one pixel per side, so small rectangles on small images still occlude.
        rect_h = ops.maximum(ops.round((lo + (hi - lo) * draws[..., 0]) * height), 1.0)
        rect_w = ops.maximum(ops.round((lo + (hi - lo) * draws[..., 1]) * width), 1.0)
        top = ops.floor(draws[..., 2] * (height - rect_h + 1))
        left = ops.floor(draws[..., 3] * (width - rect_w + 1))
        rows = ops.reshape(ops.arange(height, dtype="float32"), (1, 1, height, 1))
        cols = ops.reshape(ops.arange(width, dtype="float32"), (1, 1, 1, width))

        def expand(t):
            return t[:, :, None, None]

        inside = (
            (rows >= expand(top))
            & (rows < expand(top + rect_h))
            & (cols >= expand(left))
            & (cols < expand(left + rect_w))
        )
        covered = ops.any(inside, axis=1)[..., None]  # (batch, H, W, 1)
        fill = ops.cast(self.fill, inputs.dtype)
        return ops.where(covered, fill, inputs)

    def describe(self):
        lo, hi = self.size_range
        return (f"{self.num_rectangles} occluded rectangle(s), sides {lo:.0%}-{hi:.0%} of the "
                "image's")

    def get_config(self):
        return {
            **super().get_config(),
            "size_range": self.size_range,
            "num_rectangles": self.num_rectangles,
            "fill": self.fill,
        }


CORRUPTIONS = ("gaussian", "salt_and_pepper", "masking", "occlusion")


def make_corruption(name, noise_level=None, seed=None, clip=True):
    """Builds a corruption layer by name; ``noise_level`` is its one knob.

    ``gaussian``: the noise stddev (default 0.3); ``salt_and_pepper``: the
    fraction of pixels hit (default 0.2); ``masking``: the fraction of pixels
    zeroed (default 0.3); ``occlusion``: the largest rectangle side as a
    fraction of the image side, sides drawn in ``[noise_level / 2, noise_level]``
    (default 0.5). ``clip``: keep Gaussian-corrupted values in [0, 1] (for data
    in [0, 1]; pass False for unbounded data).
    """
    if noise_level is not None:
        noise_level = float(noise_level)
        if not 0 <= noise_level < math.inf:  # NaN fails both comparisons
            raise ValueError(f"`noise_level` must be a finite number >= 0, got {noise_level}.")
    if name == "gaussian":
        return GaussianCorruption(0.3 if noise_level is None else noise_level, clip=clip, seed=seed)
    if name == "salt_and_pepper":
        return SaltAndPepper(0.2 if noise_level is None else noise_level, seed=seed)
    if name == "masking":
        return Masking(0.3 if noise_level is None else noise_level, seed=seed)
    if name == "occlusion":
        level = 0.5 if noise_level is None else noise_level
        return Occlusion((level / 2, level), seed=seed)
    raise ValueError(f"Unknown corruption {name!r}; expected one of {', '.join(CORRUPTIONS)}.")
