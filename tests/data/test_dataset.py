"""`ImageDataset` (and its tf.data pipeline) and the ground-truth helpers."""

import numpy as np
import pytest

from ae_zoo.data import FactorLookup, ImageDataset, as_random_state

N = 50


@pytest.fixture(scope="module")
def indexed():
    """Image i is filled with the value i / N and has label i: alignment is checkable."""
    x = np.broadcast_to((np.arange(N) / N).astype(np.float32)[:, None, None, None],
                        (N, 3, 2, 1)).copy()
    return ImageDataset("indexed", "train", x, np.arange(N))


def ids(batch):
    """Recovers the example indices from x batches of the `indexed` dataset."""
    return np.rint(np.asarray(batch)[:, 0, 0, 0] * N).astype(int)


def epoch(ds):
    return np.concatenate([ids(b) for b in ds])


def test_attributes(indexed):
    assert len(indexed) == N
    assert indexed.input_shape == (3, 2, 1)
    assert indexed.y.dtype == np.int64
    assert "n=50" in repr(indexed) and "input_shape=(3, 2, 1)" in repr(indexed)


def test_invalid_arrays_are_rejected():
    with pytest.raises(ValueError, match="float32"):
        ImageDataset("bad", "train", np.zeros((2, 4, 4, 1), np.float64))
    with pytest.raises(ValueError, match="float32"):
        ImageDataset("bad", "train", np.zeros((2, 4, 4), np.float32))
    with pytest.raises(ValueError, match="y must have shape"):
        ImageDataset("bad", "train", np.zeros((2, 4, 4, 1), np.float32), y=[1, 2, 3])
    with pytest.raises(ValueError, match="factors"):
        ImageDataset("bad", "train", np.zeros((2, 4, 4, 1), np.float32),
                     factors=np.zeros((2, 3)), factor_sizes=(2, 2))


def test_batches_shapes_and_dtype(indexed):
    ds = indexed.as_tf_dataset(batch_size=16, shuffle=False)
    assert ds.element_spec.shape.as_list() == [None, 3, 2, 1]
    assert ds.element_spec.dtype.name == "float32"
    sizes = [int(b.shape[0]) for b in ds]
    assert sizes == [16, 16, 16, 2]
    np.testing.assert_array_equal(epoch(ds), np.arange(N))  # unshuffled keeps order
    dropped = indexed.as_tf_dataset(batch_size=16, shuffle=False, drop_remainder=True)
    assert [int(b.shape[0]) for b in dropped] == [16, 16, 16]
    assert dropped.element_spec.shape.as_list() == [16, 3, 2, 1]


def test_with_labels_pairs_align(indexed):
    ds = indexed.as_tf_dataset(batch_size=8, seed=3, with_labels=True)
    seen = []
    for xb, yb in ds:
        assert yb.dtype.name == "int64"
        np.testing.assert_array_equal(ids(xb), yb.numpy())
        seen.extend(yb.numpy().tolist())
    assert sorted(seen) == list(range(N))
    assert seen != list(range(N))  # shuffled


def test_with_labels_needs_labels():
    ds = ImageDataset("nolabels", "train", np.zeros((4, 2, 2, 1), np.float32))
    with pytest.raises(ValueError, match="no labels"):
        ds.as_tf_dataset(with_labels=True)


def test_seeded_shuffle_is_reproducible_and_reshuffles_each_epoch(indexed):
    a = indexed.as_tf_dataset(batch_size=7, seed=11)
    b = indexed.as_tf_dataset(batch_size=7, seed=11)
    first_a, second_a = epoch(a), epoch(a)
    first_b, second_b = epoch(b), epoch(b)
    np.testing.assert_array_equal(first_a, first_b)  # same seed, same order
    np.testing.assert_array_equal(second_a, second_b)
    assert sorted(first_a) == list(range(N)) and sorted(second_a) == list(range(N))
    assert not np.array_equal(first_a, second_a)  # a new order every epoch
    assert not np.array_equal(first_a, np.arange(N))
    other = epoch(indexed.as_tf_dataset(batch_size=7, seed=12))
    assert not np.array_equal(first_a, other)
    # cache=False gives the same orders.
    np.testing.assert_array_equal(first_a, epoch(indexed.as_tf_dataset(batch_size=7, seed=11,
                                                                       cache=False)))


def test_repeat_runs_over_epochs(indexed):
    ds = indexed.as_tf_dataset(batch_size=10, seed=0, repeat=True)
    got = np.concatenate([ids(b) for b in ds.take(12)])  # 2.4 epochs
    assert len(got) == 120
    assert sorted(got[:50]) == list(range(N)) and sorted(got[50:100]) == list(range(N))


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True, "8", None])
def test_bad_batch_size(indexed, batch_size):
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        indexed.as_tf_dataset(batch_size=batch_size)


def test_as_random_state():
    rs = np.random.RandomState(0)
    assert as_random_state(rs) is rs
    assert as_random_state(5).randint(1000) == np.random.RandomState(5).randint(1000)
    assert as_random_state(np.int64(5)).randint(1000) == np.random.RandomState(5).randint(1000)
    assert isinstance(as_random_state(None), np.random.RandomState)
    for bad in (np.random.default_rng(0), 1.5, True, "0"):
        with pytest.raises(TypeError, match="random_state"):
            as_random_state(bad)


def test_factor_lookup_returns_the_matching_observation():
    sizes = (2, 3)
    factors = np.array([[1, 2], [0, 0], [1, 0], [0, 2]])  # (0, 1) and (1, 1) absent
    obs = (factors[:, 0] * 10 + factors[:, 1]).astype(np.float32)[:, None]
    lookup = FactorLookup(factors, obs, sizes, ("a", "b"))
    assert lookup.num_factors == 2 and lookup.observation_shape == (1,)
    assert not lookup.is_complete
    query = np.array([[0, 2], [1, 2], [0, 0], [1, 0], [1, 2]])
    np.testing.assert_array_equal(lookup.sample_observations_from_factors(query)[:, 0],
                                  [2, 12, 0, 10, 12])
    with pytest.raises(ValueError, match=r"\[1, 1\].*not in the loaded data"):
        lookup.sample_observations_from_factors(np.array([[0, 0], [1, 1]]))
    sampled = lookup.sample_factors(200, 0)
    assert {tuple(f) for f in sampled} == {tuple(f) for f in factors}  # only loaded rows
    np.testing.assert_array_equal(sampled, lookup.sample_factors(200, 0))
    f, o = lookup.sample(20, 1)
    np.testing.assert_array_equal(o[:, 0], f[:, 0] * 10 + f[:, 1])


def test_factor_lookup_complete_grid_samples_uniformly():
    f = np.stack(np.unravel_index(np.random.RandomState(0).permutation(6), (2, 3)), axis=1)
    lookup = FactorLookup(f, np.zeros((6, 1), np.float32), (2, 3), ("a", "b"))
    assert lookup.is_complete
    counts = np.bincount(np.ravel_multi_index(lookup.sample_factors(6000, 0).T, (2, 3)))
    assert counts.min() > 850 and counts.max() < 1150
