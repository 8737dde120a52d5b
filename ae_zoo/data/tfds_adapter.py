"""TensorFlow Datasets -> `ImageDataset`, reading only data that is already prepared.

Named datasets (``load(name)``): mnist, fashion_mnist, cifar10, celeb_a, shapes3d, and
TFDS dSprites (``load("dsprites", source="tfds")`` or ``load("tfds:dsprites")``). Any
other TFDS dataset with an image feature: ``load("tfds:<name>")`` or `load_tfds` with a
name or a `tfds.core.DatasetBuilder`.

Nothing is downloaded unless ``download=True``; if the prepared files are missing a
`DatasetNotFoundError` says where they were looked for and how to provide them.
``tensorflow_datasets`` is imported only when one of these functions runs.
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Any, Optional, Union

import numpy as np

from ae_zoo.data.dataset import ImageDataset
from ae_zoo.data.dsprites import SHAPE_NAMES
from ae_zoo.data.ground_truth import FactorLookup
from ae_zoo.data.streaming import StreamingImageDataset

_READ_BATCH = 1024


class DatasetNotFoundError(FileNotFoundError):
    """The dataset's prepared TFDS files are not in the data directory."""


@dataclasses.dataclass(frozen=True)
class TfdsSpec:
    """How to turn one TFDS dataset's features into an `ImageDataset`."""

    image_key: str = "image"
    label_key: Optional[str] = None
    factor_keys: Optional[tuple[str, ...]] = None
    factor_names: Optional[tuple[str, ...]] = None
    factor_value_names: Optional[tuple[Optional[tuple[str, ...]], ...]] = None
    binary: bool = False  # images stored as 0/1 instead of 0..255
    crop: Optional[int] = None  # centre square crop (pixels) before resizing
    image_size: Optional[int] = None  # default output size (square), None = native


_DSPRITES_FACTORS = ("shape", "scale", "orientation", "position_x", "position_y")
_SHAPES3D_FACTORS = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")

#: The datasets with a known conversion, by TFDS name.
TFDS_DATASETS: dict[str, TfdsSpec] = {
    "mnist": TfdsSpec(label_key="label"),
    "fashion_mnist": TfdsSpec(label_key="label"),
    "cifar10": TfdsSpec(label_key="label"),
    # Aligned CelebA is 218x178: centre-crop 140x140 (the face), then resize to 64x64.
    "celeb_a": TfdsSpec(crop=140, image_size=64),
    "shapes3d": TfdsSpec(
        factor_keys=tuple(f"label_{k}" for k in _SHAPES3D_FACTORS),
        factor_names=_SHAPES3D_FACTORS,
    ),
    "dsprites": TfdsSpec(
        factor_keys=("label_shape", "label_scale", "label_orientation",
                     "label_x_position", "label_y_position"),
        factor_names=_DSPRITES_FACTORS,
        factor_value_names=(SHAPE_NAMES, None, None, None, None),  # label_shape's order
        binary=True,
    ),
}


def _base_name(name: str) -> str:
    """'celeb_a:2.1.0' or 'foo/config' -> the registered dataset name."""
    return re.split(r"[:/]", name, maxsplit=1)[0]


def _default_data_dir() -> str:
    return os.path.expanduser(os.environ.get("TFDS_DATA_DIR", "~/tensorflow_datasets"))


def load_tfds(
    source: Any,
    split: str = "train",
    data_dir: Optional[Union[str, os.PathLike]] = None,
    *,
    download: bool = False,
    max_examples: Optional[int] = None,
    image_size: Optional[int] = None,
    image_key: Optional[str] = None,
    label_key: Optional[str] = None,
    display_name: Optional[str] = None,
    memory_budget_mb: Optional[float] = None,
) -> Union[ImageDataset, StreamingImageDataset]:
    """Reads a prepared TFDS split into an `ImageDataset` (images kept as uint8, value / 255),
    or, when its images would take more than ``memory_budget_mb`` megabytes, a
    `StreamingImageDataset` that training reads from the TFDS files as it goes.

    Args:
        source: a TFDS name ("mnist", "celeb_a:2.1.0", ...) or a `tfds.core.DatasetBuilder`
            (then ``data_dir`` must be None: the builder has its own).
        split: a split name, optionally sliced the TFDS way ("train[:1000]").
        data_dir: the TFDS data directory (default: $TFDS_DATA_DIR or ~/tensorflow_datasets).
        download: run ``download_and_prepare`` if the data is missing (needs internet).
        max_examples: read at most this many examples (the first ones, ``split[:N]``).
        image_size: resize images to (image_size, image_size) (celeb_a defaults to 64
            after its 140x140 centre crop).
        image_key, label_key: feature names for datasets without a known conversion
            (default "image", and "label" if the dataset has a ClassLabel "label").
        display_name: the `ImageDataset.name` (default: the TFDS name).
        memory_budget_mb: the most memory the split's images may take in memory (uint8);
            None: no limit.

    Raises:
        DatasetNotFoundError: the data is not prepared and ``download`` is False.
        ValueError: unknown dataset name, unknown split or bad option.
    """
    import tensorflow_datasets as tfds  # 2 s to import, only for TFDS data

    if max_examples is not None and (
        isinstance(max_examples, bool) or not isinstance(max_examples, (int, np.integer))
        or max_examples <= 0
    ):
        raise ValueError(f"max_examples must be a positive int or None, got {max_examples!r}")
    if image_size is not None and (
        isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer))
        or image_size <= 0
    ):
        raise ValueError(f"image_size must be a positive int or None, got {image_size!r}")

    if isinstance(source, tfds.core.DatasetBuilder):
        if data_dir is not None:
            raise ValueError("a builder has its own data_dir; do not pass data_dir with it")
        builder = source
    elif isinstance(source, str):
        try:
            root = None if data_dir is None else os.fspath(data_dir)
            builder = tfds.builder(source, data_dir=root)
        except tfds.core.registered.DatasetNotFoundError:
            raise ValueError(
                f"unknown TFDS dataset {source!r}: it is not registered in tensorflow_datasets "
                f"and no prepared copy was found in {data_dir or _default_data_dir()!r}"
            ) from None
    else:
        raise TypeError(
            f"source must be a TFDS name or a tfds.core.DatasetBuilder, got {type(source).__name__}"
        )
    name = builder.name

    if not builder.is_prepared():
        if not download:
            root = os.fspath(builder.data_dir_root)
            raise DatasetNotFoundError(
                f"TFDS dataset {name!r} is not prepared in data_dir {root!r} "
                f"(looked for {os.fspath(builder.data_path)!r}) and download=False. "
                f"Build it on a machine with internet access with "
                f"`tfds build {name} --data_dir <DIR>` and copy <DIR>/{name} into {root!r} "
                f"(or pass data_dir=<DIR>), or pass download=True here."
            ) from None
        try:
            builder.download_and_prepare()
        except ModuleNotFoundError as err:
            if err.name != "importlib_resources":
                raise
            raise ModuleNotFoundError(
                "tensorflow_datasets needs the 'importlib_resources' package to download "
                "and prepare datasets but does not install it (tensorflow/datasets#11212); "
                "`pip install importlib_resources` and retry",
                name=err.name,
            ) from None

    known = name in TFDS_DATASETS
    spec = TFDS_DATASETS.get(name, TfdsSpec())
    features = builder.info.features
    image_key = image_key or spec.image_key
    if image_key not in features:
        raise ValueError(
            f"TFDS dataset {name!r} has no image feature {image_key!r}; "
            f"features: {', '.join(sorted(features.keys()))} (pass image_key=...)"
        )
    if label_key is None:
        label_key = spec.label_key
        if not known and "label" in features \
                and isinstance(features["label"], tfds.features.ClassLabel):
            label_key = "label"
    elif label_key not in features:
        raise ValueError(
            f"TFDS dataset {name!r} has no feature {label_key!r}; "
            f"features: {', '.join(sorted(features.keys()))}"
        )
    size = image_size or spec.image_size
    if size is None and None in tuple(features[image_key].shape)[:2]:
        raise ValueError(f"TFDS dataset {name!r} has images of varying size; pass image_size=...")

    split_spec = _resolve_split(name, builder, split, max_examples)
    num_examples = builder.info.splits[split_spec].num_examples
    convert = _converter(image_key, label_key, spec, size)
    channels = tuple(features[image_key].shape)[-1]
    shape = (size, size, channels) if size else tuple(features[image_key].shape)
    num_classes = getattr(features[label_key], "num_classes", None) if label_key else None
    class_names = getattr(features[label_key], "names", None) if label_key else None
    if memory_budget_mb is not None and num_examples * int(np.prod(shape)) > memory_budget_mb * 2**20:
        return StreamingImageDataset(
            display_name or name, split_spec, builder, convert, shape, num_examples,
            None if num_classes is None else int(num_classes), has_labels=bool(label_key),
            class_names=class_names)
    x, y, factors = _read(builder, split_spec, num_examples, convert, shape, label_key,
                          spec.factor_keys)

    factor_sizes = ground_truth = None
    if spec.factor_keys:
        factor_sizes = tuple(int(features[k].num_classes) for k in spec.factor_keys)
        if len(x):
            ground_truth = FactorLookup(factors, x, factor_sizes, spec.factor_names)
    return ImageDataset(
        display_name or name, split_spec, x, y,
        num_classes=None if num_classes is None else int(num_classes),
        factors=factors, factor_sizes=factor_sizes,
        factor_names=spec.factor_names if spec.factor_keys else None,
        ground_truth=ground_truth, class_names=class_names,
        factor_value_names=spec.factor_value_names if spec.factor_keys else None,
    )


def _resolve_split(name: str, builder: Any, split: str, max_examples: Optional[int]) -> str:
    """Validates the split name against the prepared splits; applies max_examples."""
    valid = sorted(builder.info.splits.keys())
    if not isinstance(split, str) or _base_name_of_split(split) not in valid:
        raise ValueError(
            f"unknown split {split!r} for TFDS dataset {name!r}; valid splits: {', '.join(valid)}"
            " (optionally sliced, e.g. 'train[:1000]')"
        )
    if max_examples is None:
        return split
    if "[" in split:
        raise ValueError(f"give either a sliced split ({split!r}) or max_examples, not both")
    available = builder.info.splits[split].num_examples
    return f"{split}[:{min(int(max_examples), available)}]"


def _base_name_of_split(split: str) -> str:
    return split.split("[", 1)[0]


def _converter(image_key, label_key, spec, size):
    """``example -> {"x": uint8 image, "y": label, "factors": ...}`` for one dataset: the
    crop, the binary or 8-bit scale and the resizing of its spec, kept as uint8 (value /
    255, a quarter of float32's memory: exact for 8-bit and binary images; a resized image
    is rounded to the nearest 1/255)."""
    import tensorflow as tf  # ae_zoo.data loads without TensorFlow (ae-zoo list)

    factor_keys = spec.factor_keys

    def convert(example):
        image = example[image_key]
        if spec.crop is not None:
            height, width = tf.shape(image)[0], tf.shape(image)[1]
            crop = tf.minimum(tf.minimum(height, width), spec.crop)
            image = tf.image.crop_to_bounding_box(
                image, (height - crop) // 2, (width - crop) // 2, crop, crop
            )
        if spec.binary:  # stored as 0/1
            image = tf.cast(image > 0, tf.float32)
        else:
            image = tf.cast(image, tf.float32) / 255.0
        if size is not None:
            image = tf.clip_by_value(tf.image.resize(image, (size, size), method="area"), 0.0, 1.0)
        out = {"x": tf.cast(tf.round(image * 255.0), tf.uint8)}
        if label_key:
            out["y"] = tf.cast(example[label_key], tf.int64)
        if factor_keys:
            out["factors"] = tf.stack([tf.cast(example[k], tf.int64) for k in factor_keys])
        return out

    return convert


def _read(builder, split_spec, num_examples, convert, shape, label_key, factor_keys):
    """Reads the split into preallocated uint8 images / int64 labels and factors."""
    import tensorflow as tf  # ae_zoo.data loads without TensorFlow (ae-zoo list)

    ds = builder.as_dataset(split=split_spec, shuffle_files=False)
    ds = ds.map(convert, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.batch(_READ_BATCH).prefetch(tf.data.AUTOTUNE)
    x = y = factors = None
    filled = 0
    for batch in ds.as_numpy_iterator():
        if x is None:
            x = np.empty((num_examples,) + batch["x"].shape[1:], dtype=np.uint8)
        stop = filled + len(batch["x"])
        x[filled:stop] = batch["x"]
        if label_key:
            if y is None:
                y = np.empty(num_examples, np.int64)
            y[filled:stop] = batch["y"]
        if factor_keys:
            if factors is None:
                factors = np.empty((num_examples, len(factor_keys)), np.int64)
            factors[filled:stop] = batch["factors"]
        filled = stop
    if filled != num_examples:
        raise RuntimeError(
            f"TFDS split {split_spec!r} of {builder.name!r} yielded {filled} examples; "
            f"its metadata says {num_examples}"
        )
    if x is None:  # empty split
        x = np.zeros((0,) + shape, np.uint8)
        y = np.zeros(0, np.int64) if label_key else None
        factors = np.zeros((0, len(factor_keys)), np.int64) if factor_keys else None
    return x, y, factors
