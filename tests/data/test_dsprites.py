"""Procedural dSprites: the factor grid, sampling, and the geometry of the rendered sprites."""

import numpy as np
import pytest

from ae_zoo import data
from ae_zoo.data import DSprites
from ae_zoo.data import dsprites as dsprites_module

SQUARE, ELLIPSE, HEART = 0, 1, 2
QUARTER_TURN = 10  # orientation steps in 90 degrees (40 steps per turn)


@pytest.fixture(scope="module")
def gen():
    return DSprites()


def grid(shape=0, scale=5, orientation=0, x=16, y=16):
    """Factor rows; any argument may be an array to vary that factor."""
    cols = np.broadcast_arrays(shape, scale, orientation, x, y)
    return np.stack(cols, axis=-1).reshape(-1, 5).astype(np.int64)


def centre_of_mass(images):
    """(row, col) centre of mass in pixel-index units, one per image."""
    img = images[..., 0]
    mass = img.sum(axis=(1, 2))
    rows = (img.sum(axis=2) * np.arange(img.shape[1])).sum(axis=1) / mass
    cols = (img.sum(axis=1) * np.arange(img.shape[2])).sum(axis=1) / mass
    return rows, cols


def bbox_centre(image):
    rows, cols = np.nonzero(image[..., 0])
    return (rows.min() + rows.max()) / 2, (cols.min() + cols.max()) / 2


def test_factor_grid(gen):
    assert gen.factor_sizes == (3, 6, 40, 32, 32)
    assert int(np.prod(gen.factor_sizes)) == 737_280
    assert gen.num_factors == 5
    assert gen.factor_names == ("shape", "scale", "orientation", "position_x", "position_y")
    assert gen.observation_shape == (64, 64, 1)
    np.testing.assert_allclose(dsprites_module.SCALES, [0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    orientations = dsprites_module.ORIENTATIONS
    assert len(orientations) == 40 and orientations[0] == 0
    assert orientations[-1] < 2 * np.pi - 0.1  # endpoint excluded: no duplicate of 0
    np.testing.assert_allclose(np.diff(orientations), 2 * np.pi / 40)


def test_sample_factors_range_determinism_and_uniformity(gen):
    f1 = gen.sample_factors(6000, np.random.RandomState(3))
    f2 = gen.sample_factors(6000, np.random.RandomState(3))
    assert f1.dtype == np.int64 and f1.shape == (6000, 5)
    np.testing.assert_array_equal(f1, f2)
    np.testing.assert_array_equal(f1, gen.sample_factors(6000, 3))  # int seed
    assert not np.array_equal(f1, gen.sample_factors(6000, 4))
    for k, size in enumerate(gen.factor_sizes):
        counts = np.bincount(f1[:, k], minlength=size)
        assert len(counts) == size  # nothing out of range
        expected = 6000 / size
        assert counts.min() > 0.6 * expected and counts.max() < 1.4 * expected, (k, counts)


def test_sample_consistent_with_render(gen):
    factors, images = gen.sample(50, np.random.RandomState(0))
    np.testing.assert_array_equal(factors, gen.sample_factors(50, np.random.RandomState(0)))
    np.testing.assert_array_equal(images, gen.render(factors))
    assert gen.sample_observations(7, 1).shape == (7, 64, 64, 1)


def test_render_is_binary_deterministic_and_ignores_random_state(gen):
    factors = gen.sample_factors(300, 1)
    images = gen.render(factors)
    assert images.dtype == np.float32 and images.shape == (300, 64, 64, 1)
    assert set(np.unique(images)) == {0.0, 1.0}
    np.testing.assert_array_equal(images, gen.render(factors))
    np.testing.assert_array_equal(
        images, gen.sample_observations_from_factors(factors, np.random.RandomState(99))
    )
    # Chunking is invisible.
    np.testing.assert_array_equal(images, DSprites(chunk_size=7).render(factors))


def test_sprites_stay_inside_the_image(gen):
    extreme = np.array([0, 31])
    f = grid(
        shape=np.arange(3)[:, None, None, None],
        scale=5,
        orientation=np.arange(40)[None, :, None, None],
        x=extreme[None, None, :, None],
        y=extreme[None, None, None, :],
    )
    images = gen.render(f)[..., 0]
    border = np.concatenate(
        [images[:, 0, :], images[:, -1, :], images[:, :, 0], images[:, :, -1]], axis=1
    )
    assert border.max() == 0


def _area_in_sprite_units(inside, n=1601):
    """Area of {inside(u, v)} over [-1, 1]^2 by a fine midpoint grid (reference)."""
    g = (np.arange(n) + 0.5) / n * 2 - 1
    u, v = np.meshgrid(g, g)
    return inside(u, v).mean() * 4.0


def test_pixel_mass_matches_the_shape_area(gen):
    radius = dsprites_module.RADIUS
    half = 1 / np.sqrt(2)
    areas = {
        SQUARE: (2 * half) ** 2,
        ELLIPSE: np.pi * 1.0 * 0.5,
        # The textbook heart (x^2 + y^2 - 1)^3 - x^2 y^3 <= 0, rescaled to radius 1.
        HEART: _area_in_sprite_units(
            lambda u, v: ((u * 1.2935) ** 2 + (v * 1.2935 + 0.2935) ** 2 - 1) ** 3
            - (u * 1.2935) ** 2 * (v * 1.2935 + 0.2935) ** 3 <= 0
        ),
    }
    for shape, area in areas.items():
        for scale_index, scale in enumerate(dsprites_module.SCALES):
            f = grid(shape=shape, scale=scale_index, orientation=np.arange(0, 40, 3))
            mass = gen.render(f).sum(axis=(1, 2, 3))
            expected = area * (scale * radius) ** 2
            # Pixel-centre sampling is off by at most ~half the perimeter (a square of
            # side L covers between (L-1)^2 and (L+1)^2 pixels).
            tolerance = 2 * np.sqrt(expected) + 1
            assert np.all(np.abs(mass - expected) <= tolerance), (shape, scale, mass, expected)
            assert abs(mass.mean() - expected) < 0.05 * expected, (shape, scale, mass, expected)


def test_pixel_mass_grows_with_scale_for_each_shape(gen):
    rs = np.random.RandomState(0)
    for shape in range(3):
        for _ in range(25):
            o, x, y = rs.randint(40), rs.randint(32), rs.randint(32)
            mass = gen.render(grid(shape, np.arange(6), o, x, y)).sum(axis=(1, 2, 3))
            assert np.all(np.diff(mass) > 0), (shape, o, x, y, mass)


@pytest.mark.parametrize("shape", [SQUARE, ELLIPSE, HEART])
def test_centre_of_mass_follows_position(gen, shape):
    positions = np.arange(32)
    span = 64 - 2 * dsprites_module.MARGIN
    # The centre in continuous coordinates is MARGIN + p * span; pixel j's centre is j + 0.5.
    expected = dsprites_module.MARGIN + positions / 31 * span - 0.5
    radius = dsprites_module.RADIUS
    assert expected[0] > radius - 0.5 and expected[-1] < 63.5 - radius  # inside the image

    rows, cols = centre_of_mass(gen.render(grid(shape, 5, 3, x=positions, y=9)))
    np.testing.assert_allclose(cols, expected, atol=0.35)  # x moves right (columns)
    assert np.all(np.diff(cols) > 0)
    np.testing.assert_allclose(rows, rows[0], atol=0.35)  # and leaves the row alone

    rows, cols = centre_of_mass(gen.render(grid(shape, 5, 3, x=20, y=positions)))
    np.testing.assert_allclose(rows, expected, atol=0.35)  # y moves down (rows)
    assert np.all(np.diff(rows) > 0)
    np.testing.assert_allclose(cols, cols[0], atol=0.35)


def test_quarter_turn_symmetry_of_square_but_not_heart(gen):
    rs = np.random.RandomState(1)
    for _ in range(20):
        s, o, x, y = rs.randint(6), rs.randint(30), rs.randint(32), rs.randint(32)
        square = gen.render(grid(SQUARE, s, [o, (o + QUARTER_TURN) % 40], x, y))
        assert np.abs(square[0] - square[1]).sum() <= 2
        ellipse = gen.render(grid(ELLIPSE, s, [o, (o + 2 * QUARTER_TURN) % 40], x, y))
        assert np.abs(ellipse[0] - ellipse[1]).sum() <= 2
        ellipse_quarter = gen.render(grid(ELLIPSE, s, [o, (o + QUARTER_TURN) % 40], x, y))
        assert np.abs(ellipse_quarter[0] - ellipse_quarter[1]).sum() > 0.3 * ellipse[0].sum()
        heart = gen.render(grid(HEART, s, [o, (o + QUARTER_TURN) % 40], x, y))
        assert np.abs(heart[0] - heart[1]).sum() > 0.2 * heart[0].sum()


def test_every_heart_orientation_is_distinct_even_at_the_smallest_scale(gen):
    hearts = gen.render(grid(HEART, 0, np.arange(40), 16, 16)).reshape(40, -1)
    assert len({h.tobytes() for h in hearts}) == 40


def test_rotation_is_counter_clockwise_as_displayed(gen):
    # Orientation 0: the heart's point is down, so its mass sits above its box centre.
    hearts = gen.render(grid(HEART, 5, [0, QUARTER_TURN], 16, 16))
    rows, cols = centre_of_mass(hearts)
    (box_row, box_col), (box_row_q, box_col_q) = bbox_centre(hearts[0]), bbox_centre(hearts[1])
    assert rows[0] < box_row - 0.5 and abs(cols[0] - box_col) < 0.5
    # A quarter turn counter-clockwise moves the point to the right.
    assert cols[1] < box_col_q - 0.5 and abs(rows[1] - box_row_q) < 0.5
    # The ellipse's long axis is horizontal at 0, vertical after a quarter turn, and
    # rises to the right (rows fall as columns grow) at 45 degrees.
    flat, tall, tilted = gen.render(grid(ELLIPSE, 5, [0, QUARTER_TURN, 5], 16, 16))[..., 0]
    assert np.ptp(np.nonzero(flat)[1]) > 1.6 * np.ptp(np.nonzero(flat)[0])
    assert np.ptp(np.nonzero(tall)[0]) > 1.6 * np.ptp(np.nonzero(tall)[1])
    rows, cols = np.nonzero(tilted)
    assert np.corrcoef(rows, cols)[0, 1] < -0.5


def test_shapes_differ(gen):
    for o in (0, 7):
        images = gen.render(grid(np.arange(3), 5, o, 16, 16)).reshape(3, -1)
        for a in range(3):
            for b in range(a + 1, 3):
                assert np.abs(images[a] - images[b]).sum() > 20, (o, a, b)


def test_changing_any_single_factor_changes_the_image(gen):
    rs = np.random.RandomState(5)
    base = gen.sample_factors(400, rs)
    changed = base.copy()
    k = rs.randint(5, size=len(base))
    rows = np.arange(len(base))
    changed[rows, k] = (base[rows, k] + 1 + rs.randint(np.array(gen.factor_sizes)[k] - 1)) % \
        np.array(gen.factor_sizes)[k]
    # Skip the symmetric orientations (square: 10 steps, ellipse: 20 steps).
    period = np.array([10, 20, 40])[base[:, 0]]
    symmetric = (k == 2) & ((changed[:, 2] - base[:, 2]) % period == 0)
    a, b = gen.render(base[~symmetric]), gen.render(changed[~symmetric])
    assert np.all(np.abs(a - b).reshape(len(a), -1).sum(axis=1) > 0)


@pytest.mark.slow
def test_whole_grid_is_distinct_up_to_symmetry(gen):
    """All 737,280 renders: squares repeat every 10 orientations, ellipses every 20;
    every other pair of combinations differs."""
    sizes = gen.factor_sizes
    period = np.array([10, 20, 40])
    seen = {}
    for start in range(0, int(np.prod(sizes)), 8192):
        flat = np.arange(start, min(start + 8192, int(np.prod(sizes))))
        f = np.stack(np.unravel_index(flat, sizes), axis=1)
        canon = f.copy()
        canon[:, 2] %= period[f[:, 0]]
        bits = np.packbits(gen.render(f).reshape(len(f), -1).astype(bool), axis=1)
        for key, row in zip(map(tuple, canon), bits):
            assert seen.setdefault(row.tobytes(), key) == key
    assert len(seen) == 6 * 1024 * (10 + 20 + 40)


def test_render_rejects_bad_factors(gen):
    with pytest.raises(ValueError, match="shape"):
        gen.render(np.zeros((3, 4), np.int64))
    with pytest.raises(ValueError, match=r"expected an index in \[0, 40\)"):
        gen.render(np.array([[0, 0, 40, 0, 0]]))
    with pytest.raises(ValueError, match="expected an index"):
        gen.render(np.array([[-1, 0, 0, 0, 0]]))
    with pytest.raises(TypeError, match="integer"):
        gen.render(np.array([[0.0, 0, 0, 0, 0]]))
    with pytest.raises(TypeError, match="random_state"):
        gen.sample_factors(3, random_state="seed")
    assert gen.render(np.zeros((0, 5), np.int64)).shape == (0, 64, 64, 1)


# ---------------------------------------------------------------- Color- and Noisy-dSprites


@pytest.mark.parametrize("cls", [dsprites_module.ColorDSprites, dsprites_module.NoisyDSprites])
def test_variants_keep_the_factors_and_add_noise_that_is_not_a_factor(gen, cls):
    variant = cls()
    assert variant.factor_sizes == gen.factor_sizes and variant.observation_shape == (64, 64, 3)
    factors = variant.sample_factors(64, random_state=0)
    sprite = gen.render(factors)[..., 0] > 0  # [n, 64, 64]
    images = variant.sample_observations_from_factors(factors, np.random.RandomState(1))
    assert images.shape == (64, 64, 64, 3) and images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0
    again = variant.sample_observations_from_factors(factors, np.random.RandomState(1))
    other = variant.sample_observations_from_factors(factors, np.random.RandomState(2))
    np.testing.assert_array_equal(images, again)
    assert not np.array_equal(images, other)
    if cls is dsprites_module.ColorDSprites:
        # black background; each sprite one colour in [0.5, 1]^3
        assert np.all(images[~sprite] == 0.0)
        for image, mask in zip(images, sprite):
            colours = np.unique(image[mask], axis=0)
            assert len(colours) == 1 and np.all((colours >= 0.5) & (colours <= 1.0))
    else:
        # white sprite; the background uniform noise in [0, 1) per pixel and channel
        assert np.all(images[sprite] == 1.0)
        background = images[~sprite]
        assert abs(background.mean() - 0.5) < 0.01 and background.std() == pytest.approx(
            np.sqrt(1 / 12), abs=0.01)


def test_variant_datasets_share_dsprites_factors():
    plain = data.load("dsprites", "train", num_samples=200)
    for name in ("color_dsprites", "noisy_dsprites"):
        train = data.load(name, "train", num_samples=200)
        test = data.load(name, "test", num_samples=200)
        assert (train.name, train.input_shape, len(train)) == (name, (64, 64, 3), 200)
        np.testing.assert_array_equal(train.factors, plain.factors)
        np.testing.assert_array_equal(train.x, data.load(name, "train", num_samples=200).x)
        assert train.ground_truth.observation_shape == (64, 64, 3)
        assert not {tuple(f) for f in train.factors} & {tuple(f) for f in test.factors}
        drawn = (train.x == 1.0).all(axis=-1) if name == "noisy_dsprites" else train.x.max(-1) > 0
        np.testing.assert_array_equal(drawn, plain.x[..., 0] > 0)
    assert len(data.load("color_dsprites", "test")) == 2500


def test_the_loaded_splits_name_the_shape_values():
    for name in ("dsprites", "color_dsprites"):
        split = data.load(name, "test", num_samples=4)
        names = split.value_names(0)  # the shape factor, in the order the geometry tests check
        assert (names[SQUARE], names[ELLIPSE], names[HEART]) == ("square", "ellipse", "heart")
        assert split.value_names(1) is None and split.value_names() is None  # scale; no labels
        assert split.hold_out(0.5)[1].value_names(0) == names
    assert data.load("digits", "test").value_names() is None  # classes that are only numbers
