"""Procedural dSprites: binary 64x64 sprites rendered on demand from their factors.

Factor grid (same order and sizes as dSprites, Matthey et al., 2017):

====  ===========  ====  ============================================
 #    name         size  values
====  ===========  ====  ============================================
 0    shape        3     square, ellipse, heart
 1    scale        6     linspace(0.5, 1, 6)
 2    orientation  40    linspace(0, 2*pi, 40, endpoint=False) radians
 3    position_x   32    linspace(0, 1, 32)
 4    position_y   32    linspace(0, 1, 32)
====  ===========  ====  ============================================

737,280 combinations; images are rendered in vectorised chunks and never all held.

Differences from the original dSprites: orientations exclude 2*pi (the original
includes both 0 and 2*pi, so its first and last orientation images coincide), and
the sprites are drawn from their implicit equations, so pixels differ slightly.

Geometry: at scale 1 every shape fits in a disc of radius ``RADIUS`` = 14.5 px around
its centre (its centroid), whatever the rotation (the heart spans ~40% of the image
width, the square's side ~32%). The centre is at pixel coordinate
``MARGIN + position * (64 - 2 * MARGIN)`` with ``MARGIN = RADIUS + 1``, so sprites never
leave the image; position_x grows to the right (columns) and position_y grows
downwards (rows, array order). A pixel is 1 iff its centre is inside the sprite.
Orientation rotates counter-clockwise as displayed. Shapes in sprite units
(radius 1): square ``max(|u|, |v|) <= 1/sqrt(2)``; ellipse ``u^2 + (2v)^2 <= 1``
(long axis horizontal at orientation 0); heart
``(a^2 + b^2 - 1)^3 - a^2 b^3 <= 0`` with ``a, b`` the sprite coordinates scaled by
1.2935 and shifted so that the heart's centroid is the centre (point down at
orientation 0).

Distinctness (checked exhaustively over all 737,280 combinations): squares repeat
exactly after 10 orientation steps and ellipses after 20 (their symmetries); all
other combinations give pairwise different images. The radius is chosen so that one
scale step grows the square's side by > 2 px (at 12 px some axis-aligned squares of
neighbouring scales rasterised identically), and one position step is > 1 px.

:class:`ColorDSprites` and :class:`NoisyDSprites` are disentanglement_lib's two variants
(Locatello et al. 2019): the same factors, 3-channel images, and noise that is not a
factor (a random colour per sprite; a random background).
"""

from __future__ import annotations

import numpy as np

from ae_zoo.data.ground_truth import GroundTruthData, RandomStateLike, as_random_state, check_factors

IMAGE_SIZE = 64
RADIUS = 14.5  # pixels: the bounding radius of every shape at scale 1
MARGIN = RADIUS + 1.0
_WINDOW = int(np.ceil(2 * RADIUS)) + 2  # side of the pixel window that holds any sprite

SHAPE_NAMES = ("square", "ellipse", "heart")
SCALES = np.linspace(0.5, 1.0, 6)
ORIENTATIONS = np.linspace(0.0, 2 * np.pi, 40, endpoint=False)
POSITIONS = np.linspace(0.0, 1.0, 32)

# Heart (x^2 + y^2 - 1)^3 - x^2 y^3 <= 0: centroid at y = 0.2935, and its farthest
# point from the centroid (the tip at y = -1) is 1.2935 away; both found numerically.
_HEART_CENTROID_Y = 0.2935
_HEART_RADIUS = 1.2935
_SQUARE_HALF_SIDE = 1.0 / np.sqrt(2.0)
_ELLIPSE_AXES = (1.0, 0.5)


def _inside(shape: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Indicator of shape ``shape`` at sprite coordinates (u right, v up; radius 1).

    Overwrites ``u`` and ``v`` (scratch arrays) to save allocations.
    """
    if shape == 0:
        np.abs(u, out=u)
        np.abs(v, out=v)
        return np.maximum(u, v, out=u) <= _SQUARE_HALF_SIDE
    if shape == 1:
        a, b = _ELLIPSE_AXES
        u *= 1.0 / a
        v *= 1.0 / b
        u *= u
        v *= v
        u += v
        return u <= 1.0
    # (x^2 + y^2 - 1)^3 <= x^2 y^3, with products instead of the slow np.power.
    x2 = u
    x2 *= _HEART_RADIUS
    x2 *= x2
    y = v
    y *= _HEART_RADIUS
    y += _HEART_CENTROID_Y
    y2 = y * y
    t = x2 + y2
    t -= 1.0
    lhs = t * t
    lhs *= t
    y2 *= y
    y2 *= x2
    return lhs <= y2


class DSprites(GroundTruthData):
    """Procedural dSprites on the (3, 6, 40, 32, 32) factor grid; see the module docstring.

    Observations are float32 [num, 64, 64, 1] with values in {0, 1}, a deterministic
    function of the factors.

    Example:
        >>> gen = DSprites()
        >>> factors, images = gen.sample(16, random_state=0)
        >>> images.shape
        (16, 64, 64, 1)
    """

    factor_sizes = (3, 6, 40, 32, 32)
    factor_names = ("shape", "scale", "orientation", "position_x", "position_y")
    observation_shape = (IMAGE_SIZE, IMAGE_SIZE, 1)
    #: The factor values each index stands for, in factor order.
    factor_values = (np.arange(3), SCALES, ORIENTATIONS, POSITIONS, POSITIONS)
    factor_value_names = (SHAPE_NAMES, None, None, None, None)

    def __init__(self, chunk_size: int = 1024):
        if chunk_size <= 0:
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")
        self.chunk_size = int(chunk_size)

    def sample_observations_from_factors(
        self, factors: np.ndarray, random_state: RandomStateLike = None
    ) -> np.ndarray:
        """Renders the factors; ``random_state`` is accepted for the interface and unused."""
        return self.render(factors)

    def render(self, factors: np.ndarray) -> np.ndarray:
        """Renders int factor indices [num, 5] to float32 binary images [num, 64, 64, 1]."""
        factors = check_factors(factors, self.factor_sizes)
        out = np.zeros((len(factors), IMAGE_SIZE, IMAGE_SIZE, 1), dtype=np.float32)
        for start in range(0, len(factors), self.chunk_size):
            stop = start + self.chunk_size
            self._render_chunk(factors[start:stop], out[start:stop].reshape(-1))
        return out

    @staticmethod
    def _render_chunk(factors: np.ndarray, out: np.ndarray) -> None:
        """Draws each sprite in a _WINDOW x _WINDOW pixel window, then pastes the windows.

        ``out`` is the flat (zero-initialised) view of the chunk's [n, 64, 64, 1] images.
        """
        n = len(factors)
        shape, scale_i, orient_i, x_i, y_i = factors.T
        span = IMAGE_SIZE - 2 * MARGIN
        cx = MARGIN + POSITIONS[x_i] * span  # centre in continuous pixel coordinates
        cy = MARGIN + POSITIONS[y_i] * span
        # Window origin: pixel j (centre j + 0.5) can be inside only if |j + 0.5 - c| <= RADIUS.
        col0 = np.clip(np.floor(cx - RADIUS - 0.5).astype(np.int64), 0, IMAGE_SIZE - _WINDOW)
        row0 = np.clip(np.floor(cy - RADIUS - 0.5).astype(np.int64), 0, IMAGE_SIZE - _WINDOW)
        offsets = np.arange(_WINDOW)
        dx = (col0[:, None] + offsets + 0.5 - cx[:, None]).astype(np.float32)  # [n, W], right
        dy = (row0[:, None] + offsets + 0.5 - cy[:, None]).astype(np.float32)  # [n, W], down
        # Undo the counter-clockwise rotation and the scaling: with up = -dy,
        # u = cos * dx - sin * dy, v = -sin * dx - cos * dy, all over the scale in pixels.
        inv_scale = 1.0 / (SCALES[scale_i] * RADIUS)
        cos = (np.cos(ORIENTATIONS[orient_i]) * inv_scale).astype(np.float32)[:, None, None]
        sin = (np.sin(ORIENTATIONS[orient_i]) * inv_scale).astype(np.float32)[:, None, None]
        dx, dy = dx[:, None, :], dy[:, :, None]  # columns on the last axis, rows on the middle
        window = np.empty((n, _WINDOW, _WINDOW), dtype=np.float32)
        for k in range(len(SHAPE_NAMES)):
            idx = np.flatnonzero(shape == k)
            if idx.size == 0:
                continue
            c, s, x, y = cos[idx], sin[idx], dx[idx], dy[idx]
            u = c * x - s * y
            v = -s * x - c * y
            window[idx] = _inside(k, u, v)
        # Flat index of each window's top-left pixel, plus the offsets inside a window.
        first = np.arange(n) * IMAGE_SIZE**2 + row0 * IMAGE_SIZE + col0
        within = offsets[:, None] * IMAGE_SIZE + offsets[None, :]
        out[first[:, None, None] + within] = window


class _RGBDSprites(DSprites):
    """dSprites in 3 channels with noise that is not a factor (``_noisy`` adds it)."""

    observation_shape = (IMAGE_SIZE, IMAGE_SIZE, 3)

    def sample_observations_from_factors(
        self, factors: np.ndarray, random_state: RandomStateLike = None
    ) -> np.ndarray:
        """Renders the factors and adds noise drawn from ``random_state``."""
        return self._noisy(self.render(factors), as_random_state(random_state))

    def _noisy(self, sprites: np.ndarray, random_state: np.random.RandomState) -> np.ndarray:
        raise NotImplementedError


class ColorDSprites(_RGBDSprites):
    """dSprites with a random colour per image (disentanglement_lib's ``ColorDSprites``).

    The binary sprite is repeated over 3 channels and multiplied by a colour drawn per
    image uniformly from [0.5, 1]^3 with ``random_state``; the background stays black. The
    colour is noise, not a factor: the factors are dSprites' five.
    Observations: float32 [num, 64, 64, 3].
    """

    def _noisy(self, sprites, random_state):
        color = random_state.uniform(0.5, 1.0, size=(len(sprites), 1, 1, 3))
        return sprites * color.astype(np.float32)


class NoisyDSprites(_RGBDSprites):
    """dSprites on a noisy background (disentanglement_lib's ``NoisyDSprites``).

    Every pixel of every channel gets uniform noise in [0, 1] drawn with ``random_state``;
    the sprite's pixels stay white: x = min(sprite + noise, 1). The noise is not a factor.
    Observations: float32 [num, 64, 64, 3].
    """

    def _noisy(self, sprites, random_state):
        noise = random_state.uniform(0.0, 1.0, size=sprites.shape[:3] + (3,))
        return np.minimum(sprites + noise.astype(np.float32), 1.0)
