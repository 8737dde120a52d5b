"""Input pipelines whose batch order is a pure function of (seed, epoch).

``tf.data``'s ``shuffle(reshuffle_each_iteration=True)`` orders epoch k by how many
times the dataset was iterated *in this process*, so a run resumed by
``BackupAndRestore`` would see different batches than an uninterrupted one. Here each
epoch's permutation is ``stateless_shuffle(range(N), seed=[seed, epoch])``, with the
epoch set by :class:`EpochSetter` at ``on_epoch_begin``: a resumed run replays exactly
the batches it would have seen.

The examples stay in one in-memory tensor; batches are ``tf.gather``-ed from it, up to
64 MB of them at a time, and prefetched. That is the cache: nothing is decoded per epoch.

:meth:`ArrayPipeline.stream` chains the epochs into one endless dataset (epoch e's
batches, then e + 1's, ...), for ``fit(..., steps_per_epoch=pipeline.steps_per_epoch)``:
Keras then keeps one iterator for the whole run instead of building (and tearing down)
two per epoch, and the next epoch's first batches are prefetched while this one ends.
:meth:`ArrayPipeline.executions` is the same stream with each call's batches gathered
already stacked, for a train function that runs them as one XLA program.
"""

import collections
import math

import keras
import numpy as np
import tensorflow as tf

from ae_zoo.data.streaming import DecodedCache, shuffle_blocks


#: One call's training data in :meth:`ArrayPipeline.executions`: ``batches``, the whole batches
#: stacked [n, batch_size, ...] (a nest, as the batches are); ``tail``, the epoch's partial
#: last batch [r, ...] in the call that ends with it (r = 0 in the others).
Execution = collections.namedtuple("Execution", ["batches", "tail"])


def epoch_steps(num_examples, batch_size, steps_per_epoch=None, drop_remainder=False):
    """The batches of one epoch: ``ceil(N / batch_size)`` (``floor`` when the partial batch
    is dropped), at most ``steps_per_epoch``."""
    full = num_examples // batch_size if drop_remainder else math.ceil(num_examples / batch_size)
    return min(full, int(steps_per_epoch)) if steps_per_epoch else full


def step_plan(steps, steps_per_epoch):
    """``(epochs, steps per epoch)`` training exactly ``steps`` steps: the fewest epochs,
    of at most ``steps_per_epoch`` steps each, whose number divides ``steps`` (1,000 steps
    of 282-step epochs: 4 epochs of 250; a prime number of steps above one epoch's count
    trains one step per epoch)."""
    epochs = math.ceil(steps / steps_per_epoch)
    while steps % epochs:
        epochs += 1
    return epochs, steps // epochs


def _tensor(array, what):
    """An in-memory copy for the pipeline: images as float32 (uint8 ones stay uint8, a
    quarter of the memory, and are converted a batch at a time), labels as int64, a
    floating reconstruction target as float32."""
    array = np.asarray(array)
    if what == "y" and not np.issubdtype(array.dtype, np.floating):
        return tf.convert_to_tensor(array.astype("int64"))
    if what == "x" and array.dtype == np.uint8:
        return tf.convert_to_tensor(array)
    return tf.convert_to_tensor(array.astype("float32", copy=False))


class EpochSetter(keras.callbacks.Callback):
    """Sets the pipelines' epoch variable at the start of every epoch (also after a resume)."""

    def __init__(self, *pipelines):
        super().__init__()
        self.pipelines = pipelines

    def on_epoch_begin(self, epoch, logs=None):
        for pipeline in self.pipelines:
            pipeline.epoch.assign(epoch)


class EpochPipeline:
    """What every pipeline shares: the ``epoch`` variable that :class:`EpochSetter` sets, one
    epoch as a dataset, and every epoch as one endless stream. A pipeline gives
    ``_epoch_batches(epoch)`` (an int64 tensor) and ``steps_per_epoch``."""

    def __init__(self):
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="pipeline_epoch")

    def _from_current_epoch(self):
        """A one-element dataset: the value :attr:`epoch` holds when the element is made."""
        return tf.data.Dataset.from_tensors(0).map(lambda _: self.epoch.read_value())

    def dataset(self):
        """The ``tf.data.Dataset`` of one epoch (the epoch :attr:`epoch` holds when it is
        iterated); Keras iterates it anew every epoch."""
        ds = self._from_current_epoch().flat_map(self._epoch_batches)
        ds = ds.apply(tf.data.experimental.assert_cardinality(self.steps_per_epoch))
        return ds.prefetch(2)

    def stream(self):
        """Every epoch's batches, one epoch after the other, without end, starting at the
        epoch :attr:`epoch` holds when the iterator makes its first batch (``fit`` sets it
        at ``on_epoch_begin``, before it builds its iterator, also on a resumed run; later
        changes of the variable do not move a running stream).

        Train with ``fit(pipeline.stream(), steps_per_epoch=pipeline.steps_per_epoch)`` and
        ``steps_per_execution`` dividing ``steps_per_epoch`` (Keras runs whole executions, so
        it would otherwise take the next epoch's first batches). The epochs' batches are the
        same as :meth:`dataset` gives.
        """
        return self._endless(self._epoch_batches)

    def _endless(self, per_epoch):
        """Every epoch's ``per_epoch(epoch)`` dataset, one after the other, from the epoch
        :attr:`epoch` holds when the iterator makes its first element."""
        epochs = self._from_current_epoch().flat_map(
            lambda first: tf.data.Dataset.range(first, np.iinfo(np.int64).max))
        ds = epochs.flat_map(per_epoch)
        return ds.apply(tf.data.experimental.assert_cardinality(tf.data.INFINITE_CARDINALITY)
                        ).prefetch(2)

    def stacks(self, steps_per_execution):
        """Whether :meth:`ArrayPipeline.executions` serves executions of this many steps."""
        return False

    def callback(self):
        return EpochSetter(self)


class ArrayPipeline(EpochPipeline):
    """Batches of ``x`` (or ``(x, y)``) in a (seed, epoch)-determined order.

    Args:
        x: float32 array [N, ...] (or uint8, standing for value / 255); y: optional labels
            [N] (or a float reconstruction target shaped like x).
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
        self.x = _tensor(x, "x")
        self.y = None if y is None else _tensor(y, "y")
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
        self.steps_per_epoch = epoch_steps(self.num_examples, self.batch_size, steps_per_epoch,
                                           self.drop_remainder)
        whole_batches = min(self._whole, self.steps_per_epoch)
        self._partial = whole_batches < self.steps_per_epoch  # the epoch ends with a partial batch
        self.batches_per_chunk = max(1, min(whole_batches, self.CHUNK_BYTES // self._batch_bytes()))
        super().__init__()

    def _order(self, epoch):
        indices = tf.range(self.num_examples, dtype=tf.int64)
        if not self.shuffle:
            return indices
        seed = tf.stack([tf.constant(self.seed, tf.int64), epoch])
        return tf.random.experimental.stateless_shuffle(indices, seed=seed)

    def _index_batches(self, order):
        """An epoch's permutation ``order`` as rows of ``batch_size`` indices
        [steps, batch_size]."""
        rows = tf.reshape(order[:self._whole * self.batch_size], (self._whole, self.batch_size))
        return rows[:self.steps_per_epoch]

    def _partial_indices(self, order):
        """The indices of the partial batch that ends an epoch of permutation ``order``."""
        return order[self._whole * self.batch_size:]

    def _gather(self, indices):
        x = tf.gather(self.x, indices)
        if x.dtype == tf.uint8:
            x = tf.cast(x, tf.float32) / 255.0  # as ImageDataset.x converts
        if self.y is None:
            return x
        return x, tf.gather(self.y, indices)

    def _chunk(self, epoch, chunk):
        """The ``chunk``-th run of ``batches_per_chunk`` batches of ``epoch``, gathered in one
        op [batches, batch_size, ...] (the permutation is recomputed per chunk: it is cheap
        next to the gather and keeps the pipeline stateless)."""
        start = chunk * self.batches_per_chunk
        rows = self._index_batches(self._order(epoch))
        return self._gather(rows[start:start + self.batches_per_chunk])

    def _epoch_batches(self, epoch):
        """The batches of ``epoch`` (an int64 scalar tensor) as a dataset.

        Each element of the underlying dataset is a chunk of up to 64 MB of whole
        batches, gathered in one op and split by ``unbatch``: on a 2-core machine tf.data's
        per-element work in every stage is CPU time taken from the training step, so the
        pipeline has as few stages and elements as it can (one element per example, as
        ``unbatch`` + ``batch`` of indices would give, cost ~1 ms per batch here).
        """
        full = min(self._whole, self.steps_per_epoch)
        chunks = math.ceil(full / self.batches_per_chunk)  # 0 when every batch is partial
        ds = tf.data.Dataset.range(chunks).map(lambda chunk: self._chunk(epoch, chunk)).unbatch()
        if self._partial:  # the last, partial batch (drop_remainder=False)
            ds = ds.concatenate(tf.data.Dataset.from_tensors(epoch).map(
                lambda e: self._gather(self._partial_indices(self._order(e)))))
        return ds

    def _batch_bytes(self):
        return self.batch_size * int(np.prod(self.x.shape[1:])) * 4  # float32 batches

    def stacks(self, steps_per_execution):
        """Whether :meth:`executions` serves calls of ``steps_per_execution`` steps: they
        divide the epoch, and one call's batches take at most :attr:`CHUNK_BYTES`."""
        k = int(steps_per_execution)
        return self.steps_per_epoch % k == 0 and k * self._batch_bytes() <= self.CHUNK_BYTES

    def executions(self, steps_per_execution):
        """The batches of :meth:`stream`, in the same order, one call's worth per element:
        an :class:`Execution` whose whole batches are gathered in one op, already stacked,
        and whose ``tail`` is the epoch's partial batch (in the epoch's last call). A train
        function that runs a call's steps as one program (:mod:`ae_zoo.training.fused`)
        then pulls one element instead of ``steps_per_execution`` batches and stacking them
        (~0.1 ms per batch on the 2-core CPU of ``benchmarks/throughput.py``)."""
        if not self.stacks(steps_per_execution):
            raise ValueError(f"executions of {steps_per_execution} steps: they must divide the "
                             f"epoch's {self.steps_per_epoch} and hold at most "
                             f"{self.CHUNK_BYTES} bytes of batches.")
        k = int(steps_per_execution)
        calls = self.steps_per_epoch // k

        def epoch_executions(epoch):
            order = self._order(epoch)  # once per epoch, for every call's rows and the tail
            rows = self._index_batches(order)
            tail = self._partial_indices(order) if self._partial else tf.zeros([0], tf.int64)

            def execution(call):
                last = tf.equal(call, calls - 1)
                rows_of_call = tf.cond(last, lambda: tail, lambda: tail[:0])
                return Execution(self._gather(rows[call * k:(call + 1) * k]),
                                 self._gather(rows_of_call))

            return tf.data.Dataset.range(calls).map(execution)

        return self._endless(epoch_executions)


class StreamPipeline(EpochPipeline):
    """Batches of a :class:`~ae_zoo.data.StreamingImageDataset`, read from its files: each
    epoch's examples shuffled within blocks by a permutation keyed on (seed, epoch, block)
    (:func:`~ae_zoo.data.streaming.shuffle_blocks`), batched, converted to float32, with the
    interface of :class:`ArrayPipeline` (``labels``: (x, label) batches). When an epoch reads
    the whole split, the first one also fills a :class:`~ae_zoo.data.streaming.DecodedCache`
    that the later ones read (``cache=False``: decode every epoch)."""

    def __init__(self, dataset, batch_size=128, seed=0, shuffle=True, labels=False,
                 steps_per_epoch=None, drop_remainder=False, cache=True):
        self.batch_size, self.seed, self.shuffle = int(batch_size), int(seed), shuffle
        if self.batch_size < 1:
            raise ValueError(f"`batch_size` must be >= 1, got {batch_size}.")
        self.num_examples = len(dataset)
        self.drop_remainder = drop_remainder
        self.steps_per_epoch = epoch_steps(self.num_examples, self.batch_size, steps_per_epoch,
                                           drop_remainder)
        if self.steps_per_epoch < 1:
            raise ValueError(f"{dataset!r} has no batch of {self.batch_size} examples.")
        # An epoch of fewer steps stops before the end of the split: it would never finish
        # (so never keep) the cache, and needs its `take`.
        self._whole = self.steps_per_epoch == epoch_steps(self.num_examples, self.batch_size,
                                                          None, drop_remainder)
        self._blocks = dataset.blocks(labels=labels)
        self.cache = DecodedCache.create(dataset.nbytes(labels)) if cache and self._whole else None
        if self.cache is not None:
            self._blocks = self.cache.apply(self._blocks)
        super().__init__()

    def _epoch_batches(self, epoch):
        ds = shuffle_blocks(self._blocks, self.seed, epoch) if self.shuffle else self._blocks.unbatch()
        ds = ds.batch(self.batch_size, drop_remainder=self.drop_remainder)
        if not self._whole:
            ds = ds.take(self.steps_per_epoch)

        def to_float(x, *label):
            x = tf.cast(x, tf.float32) / 255.0
            return (x, *label) if label else x

        return ds.map(to_float, num_parallel_calls=tf.data.AUTOTUNE)
