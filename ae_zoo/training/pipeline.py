"""Input pipelines whose batch order is a pure function of (seed, epoch).

``tf.data``'s ``shuffle(reshuffle_each_iteration=True)`` orders epoch k by how many
times the dataset was iterated *in this process*, so a run resumed by
``BackupAndRestore`` would see different batches than an uninterrupted one. Here each
epoch's permutation is ``stateless_shuffle(range(N), seed=[seed, epoch])``, with the
epoch set by :class:`EpochSetter` at ``on_epoch_begin``: a resumed run replays exactly
the batches it would have seen.

The examples stay in one in-memory tensor; batches are ``tf.gather``-ed from it, up to
64 MB of them at a time, and prefetched. That is the cache: nothing is decoded per epoch.
"""

import math

import keras
import numpy as np
import tensorflow as tf


class EpochSetter(keras.callbacks.Callback):
    """Sets the pipelines' epoch variable at the start of every epoch (also after a resume)."""

    def __init__(self, *pipelines):
        super().__init__()
        self.pipelines = pipelines

    def on_epoch_begin(self, epoch, logs=None):
        for pipeline in self.pipelines:
            pipeline.epoch.assign(epoch)


class ArrayPipeline:
    """Batches of ``x`` (or ``(x, y)``) in a (seed, epoch)-determined order.

    Args:
        x: float32 array [N, ...]; y: optional labels [N].
        batch_size: global batch size.
        seed: the shuffling seed; ``shuffle=False`` keeps the stored order.
        steps_per_epoch: at most this many batches per epoch (a fresh random
            subset each epoch when smaller than a full pass).
        drop_remainder: drop the last partial batch (the default when shuffling, so
            every step sees a full batch and XLA compiles one shape).
    """

    #: Bytes of whole batches gathered at once (then split into single batches).
    CHUNK_BYTES = 64 * 2**20

    def __init__(self, x, y=None, batch_size=128, seed=0, shuffle=True, steps_per_epoch=None,
                 drop_remainder=None):
        self.x = tf.convert_to_tensor(np.asarray(x, dtype="float32"))
        self.y = None if y is None else tf.convert_to_tensor(np.asarray(y, dtype="int64"))
        self.num_examples = int(self.x.shape[0])
        if self.num_examples == 0:
            raise ValueError("The dataset is empty: there is nothing to train on.")
        self.batch_size = int(batch_size)
        if self.batch_size < 1:
            raise ValueError(f"`batch_size` must be >= 1, got {batch_size}.")
        self.seed = int(seed)
        self.shuffle = shuffle
        self.drop_remainder = shuffle if drop_remainder is None else drop_remainder
        if self.drop_remainder and self.num_examples < self.batch_size:
            raise ValueError(
                f"batch_size {self.batch_size} is larger than the dataset ({self.num_examples} "
                "examples); lower the batch size."
            )
        self._whole = self.num_examples // self.batch_size  # batches of batch_size examples
        full = self._whole if self.drop_remainder else math.ceil(self.num_examples / self.batch_size)
        self.steps_per_epoch = min(full, int(steps_per_epoch)) if steps_per_epoch else full
        batch_bytes = self.batch_size * int(np.prod(self.x.shape[1:])) * self.x.dtype.size
        whole_batches = min(self._whole, self.steps_per_epoch)
        self.batches_per_chunk = max(1, min(whole_batches, self.CHUNK_BYTES // batch_bytes))
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="pipeline_epoch")

    def _order(self):
        indices = tf.range(self.num_examples, dtype=tf.int64)
        if not self.shuffle:
            return indices
        seed = tf.stack([tf.constant(self.seed, tf.int64), self.epoch.read_value()])
        return tf.random.experimental.stateless_shuffle(indices, seed=seed)

    def _index_batches(self):
        """The epoch's permutation as rows of ``batch_size`` indices [steps, batch_size]."""
        rows = tf.reshape(self._order()[:self._whole * self.batch_size],
                          (self._whole, self.batch_size))
        return rows[:self.steps_per_epoch]

    def _gather(self, indices):
        if self.y is None:
            return tf.gather(self.x, indices)
        return tf.gather(self.x, indices), tf.gather(self.y, indices)

    def _chunk(self, chunk):
        """The ``chunk``-th run of ``batches_per_chunk`` batches of the epoch, gathered in one
        op [batches, batch_size, ...] (the permutation is recomputed per chunk: it is cheap
        next to the gather and keeps the pipeline stateless)."""
        start = chunk * self.batches_per_chunk
        return self._gather(self._index_batches()[start:start + self.batches_per_chunk])

    def _last_partial_batch(self, _):
        return self._gather(self._order()[self._whole * self.batch_size:])

    def dataset(self):
        """The ``tf.data.Dataset`` of one epoch; Keras iterates it anew every epoch.

        Each element of the underlying dataset is a chunk of up to 64 MB of whole
        batches, gathered in one op and split by ``unbatch``: on a 2-core machine tf.data's
        per-element work in every stage is CPU time taken from the training step, so the
        pipeline has as few stages and elements as it can (one element per example, as
        ``unbatch`` + ``batch`` of indices would give, cost ~1 ms per batch here).
        """
        full = min(self._whole, self.steps_per_epoch)
        chunks = math.ceil(full / self.batches_per_chunk)  # 0 when every batch is partial
        ds = tf.data.Dataset.range(chunks).map(self._chunk).unbatch()
        if full < self.steps_per_epoch:  # the last, partial batch (drop_remainder=False)
            ds = ds.concatenate(tf.data.Dataset.from_tensors(0).map(self._last_partial_batch))
        ds = ds.apply(tf.data.experimental.assert_cardinality(self.steps_per_epoch))
        return ds.prefetch(2)

    def callback(self):
        return EpochSetter(self)
