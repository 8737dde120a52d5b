"""`load(name, split)` and `names()`: one entry point for every dataset."""

from __future__ import annotations

import inspect
import os
from typing import Any, Callable, Optional, Union

from ae_zoo.data import embedded
from ae_zoo.data.dataset import ImageDataset
from ae_zoo.data.streaming import StreamingImageDataset
from ae_zoo.data.tfds_adapter import load_tfds

TFDS_PREFIX = "tfds:"

_EMBEDDED: dict[str, Callable[..., ImageDataset]] = {
    "digits": embedded.load_digits,
    "mnist5k": embedded.load_mnist5k,
    "dsprites": embedded.load_dsprites,
    "color_dsprites": embedded.load_color_dsprites,
    "noisy_dsprites": embedded.load_noisy_dsprites,
}
_TFDS_NAMED = ("mnist", "fashion_mnist", "cifar10", "celeb_a", "shapes3d")
_TFDS_OPTIONS = ("download", "max_examples", "image_size", "image_key", "label_key")


def names() -> list[str]:
    """All dataset names `load` accepts (besides ``"tfds:<any TFDS name>"``), sorted."""
    return sorted(set(_EMBEDDED) | set(_TFDS_NAMED))


def _check_options(name: str, options: dict[str, Any], valid: tuple[str, ...]) -> None:
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise TypeError(
            f"load({name!r}) got unknown option(s) {', '.join(map(repr, unknown))}; "
            f"valid options: {', '.join(valid) if valid else 'none'}"
        )


def load(
    name: str,
    split: str = "train",
    data_dir: Optional[Union[str, os.PathLike]] = None,
    memory_budget_mb: Optional[float] = None,
    **options: Any,
) -> Union[ImageDataset, StreamingImageDataset]:
    """Loads one split of a dataset as an `ImageDataset`, or, for a TFDS split whose images
    would take more than ``memory_budget_mb`` megabytes in memory (uint8; None: no limit),
    a `StreamingImageDataset` that training reads from its files.

    Embedded (offline; ``data_dir`` is ignored):
        ``digits``   8x8x1, 10 classes; splits train (1,437) / test (360) / all.
        ``mnist5k``  28x28x1, 10 classes; splits train (4,000) / test (1,000) / all.
        ``dsprites`` procedural 64x64x1 with 5 factors; splits train / test; options
                     ``num_samples`` (default 20,000 / 5,000), ``seed`` (default 0), and
                     ``source="tfds"`` to read the real dSprites through TFDS instead.
        ``color_dsprites``, ``noisy_dsprites`` the same factors in 64x64x3, a random
                     colour per sprite / a noisy background; ``num_samples`` (default
                     10,000 / 2,500), ``seed``.
    TFDS (prepared data in ``data_dir``; nothing is downloaded unless ``download=True``):
        ``mnist``, ``fashion_mnist``, ``cifar10``, ``celeb_a`` (64x64 after a 140x140
        centre crop), ``shapes3d`` (6 factors), and ``"tfds:<name>"`` for any TFDS
        dataset. Options: ``download``, ``max_examples``, ``image_size``, ``image_key``,
        ``label_key`` (see `ae_zoo.data.tfds_adapter.load_tfds`).

    Example:
        >>> ds = load("mnist5k", "train")
        >>> ds.x.shape, ds.y.shape
        ((4000, 28, 28, 1), (4000,))

    Raises:
        ValueError: unknown name or split, or a bad option value.
        TypeError: an option the dataset does not take.
        DatasetNotFoundError: a TFDS dataset that is not prepared in ``data_dir``.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    if name.startswith(TFDS_PREFIX) or name in _TFDS_NAMED or (
        name == "dsprites" and options.get("source") == "tfds"
    ):
        return _load_tfds(name, split, data_dir, memory_budget_mb, options)
    if name not in _EMBEDDED:
        raise ValueError(
            f"unknown dataset {name!r}; valid names: {', '.join(names())}, "
            f"or '{TFDS_PREFIX}<name>' for any TensorFlow Datasets dataset"
        )
    loader = _EMBEDDED[name]
    if name == "dsprites":
        source = options.pop("source", "embedded")
        if source != "embedded":
            raise ValueError(f"source must be 'embedded' or 'tfds', got {source!r}")
    valid = tuple(inspect.signature(loader).parameters)[1:]
    _check_options(name, options, valid)
    return loader(split, **options)


def _load_tfds(name: str, split: str, data_dir, memory_budget_mb, options: dict[str, Any]):
    options = dict(options)
    if name == "dsprites":
        options.pop("source")
        tfds_name = display = "dsprites"
    elif name.startswith(TFDS_PREFIX):
        tfds_name, display = name[len(TFDS_PREFIX):], name
        if not tfds_name:
            raise ValueError(f"give a TFDS dataset name after {TFDS_PREFIX!r}, e.g. 'tfds:mnist'")
    else:
        tfds_name = display = name
    _check_options(name, options, _TFDS_OPTIONS)
    return load_tfds(tfds_name, split, data_dir, display_name=display,
                     memory_budget_mb=memory_budget_mb, **options)
