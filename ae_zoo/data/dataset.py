"""`ImageDataset`: in-memory images (plus optional labels / ground-truth factors)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Optional

import numpy as np

from ae_zoo.data.ground_truth import GroundTruthData

if TYPE_CHECKING:
    import tensorflow as tf


@dataclasses.dataclass(repr=False, eq=False)
class ImageDataset:
    """One split of an image dataset, held in memory.

    Attributes:
        name, split: where it came from.
        images: the stored images [N, H, W, C]: float32 in [0, 1], or uint8 in [0, 255]
            standing for value / 255 (4x less memory; TFDS data is kept so, and training
            converts each batch as it goes).
        x: the images as float32 in [0, 1] (``images`` itself when float32; for uint8 a
            float copy made on each access: keep it in a variable).
        y: int64 [N] class labels, or None.
        num_classes: number of label classes, or None.
        factors: int64 [N, K] ground-truth factor indices, or None.
        factor_sizes, factor_names: the factor grid, or None.
        class_names: the name of each class (``y`` indexes it), or None when the classes
            are only numbers.
        factor_value_names: per factor, the names of its values (e.g. dSprites' shapes:
            square, ellipse, heart) or None; None when no factor names its values.
        ground_truth: a `GroundTruthData` (``sample_factors`` /
            ``sample_observations_from_factors``) for datasets with known factors,
            else None. For procedural dSprites it renders any factor combination;
            for TFDS dSprites / Shapes3D it looks the loaded examples up.
    """

    name: str
    split: str
    images: np.ndarray
    y: Optional[np.ndarray] = None
    num_classes: Optional[int] = None
    factors: Optional[np.ndarray] = None
    factor_sizes: Optional[tuple[int, ...]] = None
    factor_names: Optional[tuple[str, ...]] = None
    ground_truth: Optional[GroundTruthData] = None
    class_names: Optional[tuple[str, ...]] = None
    factor_value_names: Optional[tuple[Optional[tuple[str, ...]], ...]] = None

    def __post_init__(self):
        if not isinstance(self.images, np.ndarray) or self.images.dtype not in (np.float32, np.uint8) \
                or self.images.ndim != 4:
            raise ValueError(
                "images must be a float32 (in [0, 1]) or uint8 (0-255) numpy array of shape "
                f"[N, H, W, C], got {getattr(self.images, 'dtype', type(self.images))} "
                f"{getattr(self.images, 'shape', '')}"
            )
        n = len(self.images)
        if self.y is not None:
            self.y = np.asarray(self.y, dtype=np.int64)
            if self.y.shape != (n,):
                raise ValueError(f"y must have shape ({n},), got {self.y.shape}")
        if self.factors is not None:
            self.factors = np.asarray(self.factors, dtype=np.int64)
            if self.factor_sizes is None or self.factors.shape != (n, len(self.factor_sizes)):
                raise ValueError(
                    f"factors must have shape ({n}, len(factor_sizes)), got "
                    f"{self.factors.shape} with factor_sizes={self.factor_sizes}"
                )
            self.factor_sizes = tuple(int(s) for s in self.factor_sizes)
        if self.factor_names is not None:
            self.factor_names = tuple(self.factor_names)
        if self.class_names is not None:
            self.class_names = tuple(str(c) for c in self.class_names)

    def value_names(self, factor=None):
        """The names of the classes (``factor`` None) or of factor ``factor``'s values,
        or None when they have none (figures then show the numbers)."""
        if factor is None:
            return self.class_names
        names = self.factor_value_names
        return None if names is None or names[factor] is None else tuple(names[factor])

    @property
    def x(self) -> np.ndarray:
        """The images as float32 in [0, 1] (a copy for uint8 storage)."""
        if self.images.dtype == np.uint8:
            return self.images.astype(np.float32) / np.float32(255.0)
        return self.images

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one image, (H, W, C)."""
        return tuple(self.images.shape[1:])

    def __len__(self) -> int:
        return len(self.images)

    def __repr__(self) -> str:
        parts = [f"name={self.name!r}", f"split={self.split!r}", f"n={len(self)}",
                 f"input_shape={self.input_shape}"]
        if self.num_classes is not None:
            parts.append(f"num_classes={self.num_classes}")
        if self.factor_sizes is not None:
            parts.append(f"factor_sizes={self.factor_sizes}")
        return f"ImageDataset({', '.join(parts)})"

    def hold_out(self, fraction: float, seed: int = 0) -> tuple["ImageDataset", "ImageDataset"]:
        """``(rest, held_out)``: a seeded random ``fraction`` of the examples held out.

        Both parts keep their labels and factors; the held-out part's ``split`` is
        ``"<split>[held out]"``. Used to carve a validation set out of a train split.
        """
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) \
                or not 0.0 < float(fraction) < 1.0:
            raise ValueError(f"fraction must be in (0, 1), got {fraction!r}")
        n = len(self)
        n_out = int(round(n * float(fraction)))
        if n_out < 1 or n - n_out < 1:
            raise ValueError(f"holding out {fraction} of the {n} examples of {self.name!r} leaves "
                             f"an empty part")
        order = np.random.RandomState(seed).permutation(n)

        def part(index, split):
            return dataclasses.replace(
                self, split=split, images=self.images[index],
                y=None if self.y is None else self.y[index],
                factors=None if self.factors is None else self.factors[index])

        return part(np.sort(order[n_out:]), self.split), part(np.sort(order[:n_out]),
                                                               f"{self.split}[held out]")

    def as_tf_dataset(
        self,
        batch_size: int = 128,
        shuffle: bool = True,
        seed: Optional[int] = None,
        with_labels: bool = False,
        repeat: bool = False,
        drop_remainder: bool = False,
        cache: bool = True,
    ) -> "tf.data.Dataset":
        """A `tf.data.Dataset` of ``x`` batches, or ``(x, y)`` batches with ``with_labels``.

        The pipeline is slices -> cache -> shuffle (whole dataset, ``seed``, reshuffled
        every epoch) -> repeat -> batch -> prefetch(AUTOTUNE). The same seed gives the
        same sequence of epochs.
        """
        import tensorflow as tf  # ae_zoo.data loads without TensorFlow (ae-zoo list)

        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if with_labels and self.y is None:
            raise ValueError(
                f"with_labels=True but dataset {self.name!r} has no labels (y is None)"
            )
        x = self.x
        ds = tf.data.Dataset.from_tensor_slices((x, self.y) if with_labels else x)
        if cache:
            ds = ds.cache()
        if shuffle:
            ds = ds.shuffle(max(len(self), 1), seed=seed, reshuffle_each_iteration=True)
        if repeat:
            ds = ds.repeat()
        ds = ds.batch(int(batch_size), drop_remainder=drop_remainder)
        return ds.prefetch(tf.data.AUTOTUNE)
