"""`StreamingImageDataset`: a TFDS split too large for the memory budget, read from its
files as training goes.

``ae_zoo.data.load(name, split, memory_budget_mb=...)`` returns one when the split's images
would take more than the budget in memory (uint8); ``ae-zoo train`` asks with the recipe's
``data.memory_budget_mb`` (default 4,096 MB). Training (``model.fit`` through the
engine's pipeline) reads an epoch's examples in file order and shuffles them within blocks
of ``block`` examples by a permutation keyed on (seed, epoch, block): a bounded buffer,
and the same batches for the same (seed, epoch), so a resumed run sees what an
uninterrupted one would. TFDS writes a split's examples in a shuffled order, so blocks mix
the data. What needs the images in memory (evaluation, figures, the disentanglement
metrics' ground truth) takes :meth:`StreamingImageDataset.head`.

Decoding a TFDS record (parsing, PNG decoding, the dataset's crop and resizing) costs more
CPU than a small model's training step, so an epoch that reads the whole split also writes
its decoded uint8 blocks into a ``tf.data`` file cache (:class:`DecodedCache`) that the
later epochs read instead: the files are decoded once per run, memory stays bounded, and
the cache takes the split's uint8 size on disk (in ``$AE_ZOO_STREAM_CACHE``, default the
temporary folder; ``AE_ZOO_STREAM_CACHE=off`` decodes every epoch). It is skipped when the
disk lacks twice that space, and removed when its pipeline is garbage-collected, at exit,
or, after a crash, by the next run that caches. An iterator that stops before the end (Keras
reading a first batch, a validation pass cut at its step count) makes TensorFlow log "the
calling iterator did not fully read the dataset being cached" and drop that partial copy;
the first pass that reads the whole split keeps it.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import weakref
from typing import Any, Optional

import numpy as np

from ae_zoo._io import process_alive
from ae_zoo.data.dataset import ImageDataset

#: Examples shuffled together: 4,096 examples of 64x64x3 are 48 MB of uint8.
DEFAULT_BLOCK = 4096
#: Environment variable: the decoded cache's parent folder, or "off".
CACHE_ENV = "AE_ZOO_STREAM_CACHE"
_CACHE_PREFIX = "ae_zoo_stream_"


class StreamingImageDataset:
    """One TFDS split, streamed from disk (see the module).

    Attributes:
        name, split: where it comes from (``split`` a TFDS split spec, e.g. "train[:90%]").
        input_shape: one image's shape; ``num_classes``: the label classes, or None.
        has_labels: whether the examples carry a class label; ``class_names``: their
            names, or None.
    """

    y = None  # the labels stay on disk with the images; `labels` in examples() reads them

    @property
    def x(self):
        raise AttributeError(
            f"{self!r} is streamed from its files (it is over the memory budget): it has no "
            "in-memory x; train on it with fit(), or take head(n) for an in-memory part.")

    def __init__(self, name: str, split: str, builder: Any, convert: Any,
                 input_shape: tuple[int, ...], num_examples: int, num_classes: Optional[int],
                 has_labels: bool, class_names: Optional[tuple[str, ...]] = None):
        self.name, self.split = name, split
        self._builder, self._convert = builder, convert
        self.input_shape = tuple(int(d) for d in input_shape)
        self._num_examples = int(num_examples)
        self.num_classes = num_classes
        self.has_labels = has_labels
        self.class_names = None if class_names is None else tuple(class_names)

    def __len__(self) -> int:
        return self._num_examples

    def __repr__(self) -> str:
        return (f"StreamingImageDataset(name={self.name!r}, split={self.split!r}, n={len(self)}, "
                f"input_shape={self.input_shape})")

    def examples(self, labels: bool = False):
        """A ``tf.data.Dataset`` of the split's examples in file order: uint8 images (and
        int64 labels with ``labels``). Training shuffles its :meth:`blocks`."""
        import tensorflow as tf  # ae_zoo.data loads without TensorFlow (ae-zoo list)

        if labels and not self.has_labels:
            raise ValueError(f"dataset {self.name!r} has no labels")
        def image_and_label(example):
            return example["x"], example["y"]

        def image(example):
            return example["x"]

        ds = self._builder.as_dataset(split=self.split, shuffle_files=False)
        ds = ds.map(self._convert, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return ds.map(image_and_label if labels else image)

    def blocks(self, labels: bool = False, block: int = DEFAULT_BLOCK):
        """The examples of :meth:`examples` in consecutive blocks of ``block`` (the last one
        shorter): the unit that :func:`shuffle_blocks` permutes and :class:`DecodedCache`
        stores."""
        return self.examples(labels=labels).batch(int(block))

    def nbytes(self, labels: bool = False) -> int:
        """The split's size decoded: uint8 images (and int64 labels)."""
        return len(self) * (math.prod(self.input_shape) + (8 if labels else 0))

    def head(self, n: Optional[int] = None) -> ImageDataset:
        """The first ``n`` examples (all when None) as an in-memory `ImageDataset` (uint8)."""
        n = len(self) if n is None else min(int(n), len(self))
        parts = list(self.examples(labels=self.has_labels).take(n).batch(4096).as_numpy_iterator())
        if self.has_labels:
            x = np.concatenate([p[0] for p in parts]) if parts else np.zeros((0, *self.input_shape), np.uint8)
            y = np.concatenate([p[1] for p in parts]) if parts else np.zeros((0,), np.int64)
        else:
            x = np.concatenate(parts) if parts else np.zeros((0, *self.input_shape), np.uint8)
            y = None
        return ImageDataset(self.name, f"{self.split} (first {n})", x, y, num_classes=self.num_classes,
                            class_names=self.class_names)

    def hold_out(self, fraction: float, seed: int = 0) -> tuple["StreamingImageDataset",
                                                                  "StreamingImageDataset"]:
        """``(rest, held_out)``: the last ``fraction`` of the split held out (``seed`` is
        unused: the examples are in TFDS's shuffled order already)."""
        if not 0.0 < float(fraction) < 1.0:
            raise ValueError(f"fraction must be in (0, 1), got {fraction!r}")
        if "[" in self.split:
            raise ValueError(f"cannot hold out of the sliced split {self.split!r}")
        n_out = int(round(len(self) * float(fraction)))
        if n_out < 1 or n_out >= len(self):
            raise ValueError(f"holding out {fraction} of the {len(self)} examples of "
                             f"{self.name!r} leaves an empty part")
        cut = len(self) - n_out

        def part(spec, count):
            return StreamingImageDataset(self.name, spec, self._builder, self._convert,
                                         self.input_shape, count, self.num_classes,
                                         self.has_labels, self.class_names)

        return part(f"{self.split}[:{cut}]", cut), part(f"{self.split}[{cut}:]", n_out)


def block_shuffle(examples, seed, epoch, block=DEFAULT_BLOCK):
    """``examples`` shuffled within consecutive blocks of ``block``: block ``b`` of epoch
    ``epoch`` (an int64 tensor) by the stateless permutation keyed on (seed, epoch, b)."""
    return shuffle_blocks(examples.batch(int(block)), seed, epoch)


def shuffle_blocks(blocks, seed, epoch):
    """The examples of ``blocks`` (a dataset of batched blocks), each block permuted by the
    stateless permutation keyed on (seed, epoch, its index)."""
    import tensorflow as tf  # ae_zoo.data loads without TensorFlow (ae-zoo list)

    seed = tf.constant(int(seed), tf.int64)

    def permuted(index, chunk):
        size = tf.shape(tf.nest.flatten(chunk)[0])[0]
        order = tf.random.experimental.stateless_shuffle(
            tf.range(size), seed=tf.stack([seed, epoch * 1_000_003 + index]))
        return tf.data.Dataset.from_tensor_slices(
            tf.nest.map_structure(lambda t: tf.gather(t, order), chunk))

    return blocks.enumerate().flat_map(permuted)


class DecodedCache:
    """A private folder for one pipeline's ``tf.data`` file cache of decoded blocks (see the
    module): ``DecodedCache.create(nbytes)`` is None when caching is off or the disk lacks
    room; ``cache.apply(blocks)`` caches a dataset, written by the first iteration that
    reads it to its end and read by every later one. The folder (``ae_zoo_stream_<pid>_*``)
    is removed with the object, at exit, or by a later ``create`` once its process is dead."""

    def __init__(self, folder):
        self.folder = folder
        self._cleanup = weakref.finalize(self, shutil.rmtree, folder, True)

    @classmethod
    def create(cls, nbytes):
        parent = os.environ.get(CACHE_ENV) or tempfile.gettempdir()
        if parent.lower() in ("off", "0", "none", "false"):
            return None
        os.makedirs(parent, exist_ok=True)
        remove_stale_caches(parent)
        if shutil.disk_usage(parent).free < 2 * int(nbytes):
            return None
        return cls(tempfile.mkdtemp(prefix=f"{_CACHE_PREFIX}{os.getpid()}_", dir=parent))

    def apply(self, blocks):
        return blocks.cache(os.path.join(self.folder, "blocks"))

    def remove(self):
        self._cleanup()


def remove_stale_caches(parent):
    """Removes the cache folders in ``parent`` left by processes of this host that died."""
    for entry in os.listdir(parent):
        pid = entry[len(_CACHE_PREFIX):].split("_", 1)[0] if entry.startswith(_CACHE_PREFIX) else ""
        if pid.isdigit() and int(pid) != os.getpid() and not process_alive(int(pid)):
            shutil.rmtree(os.path.join(parent, entry), ignore_errors=True)
