"""Several training steps in one XLA program.

Keras runs ``steps_per_execution`` steps as a ``tf.while_loop`` that launches the
XLA-compiled step once per batch; every launch hands all the model's and the
optimizer's variables in and out. Here an execution pulls its batches, stacks them,
and runs every step inside a single XLA program (a ``tf.while_loop`` over the stacked
batches), so the variables stay in XLA's buffers for the whole execution. The step is
traced without autograph, as Keras traces it, so the first execution costs about what
Keras' first one does (2.6 s here).

``fit`` on in-memory arrays hands this function whole executions
(:meth:`ae_zoo.training.pipeline.ArrayPipeline.executions`): one graph call pulls one
element, its batches already gathered and stacked by tf.data, runs them as one program,
and the epoch's partial last batch, if the execution holds it, as an XLA call of its own
(compiled once for its shape). Other datasets are pulled batch by batch:

* every batch of one static shape (``drop_remainder`` datasets): one graph call pulls
  the execution's batches, stacks them and runs the program, the last short execution
  of a finite dataset included (the missing batches are zeros that the loop's count
  skips);
* only the batch dimension unknown (a partial last batch): the same, with the leading
  batches of the first one's size as one program and any later batch as its own call;
* anything else: pulled in Python, consecutive batches of one size run as one stack.

On the 2-core CPU of ``benchmarks/throughput.py`` pulling a batch in the graph costs
~0.1 ms, pulling a stacked execution ~0.04 ms per batch; the weights are the same as
Keras' loop gives.

Used by :class:`ae_zoo.training.FastEngine` for every model whose train step is
XLA-compiled, with ``steps_per_execution > 1`` and no tf.distribute strategy. The model
contract makes it safe: ``train_step`` returns its trackers' results
(:meth:`ae_zoo.models.Autoencoder.track`), so the logs of a fused execution are the
trackers' results after its last step, as Keras' loop would report them.
"""

import tensorflow as tf

from ae_zoo.training.pipeline import Execution


def _static(spec):
    """Whether every component of an element spec is a dense tensor of fixed shape."""
    return all(isinstance(s, tf.TensorSpec) and s.shape.is_fully_defined()
               for s in tf.nest.flatten(spec))


def _fixed_examples(spec):
    """Whether every component is a dense tensor whose only unknown dimension is the batch
    (the batches of an epoch with a partial last batch)."""
    return all(isinstance(s, tf.TensorSpec) and s.shape.rank is not None and s.shape.rank >= 1
               and s.shape[1:].is_fully_defined() for s in tf.nest.flatten(spec))


def _batch_size(batch):
    return tf.shape(tf.nest.flatten(batch)[0])[0]


def _stack(batches):
    """Batches (each a nest of tensors) as one nest with a leading step axis."""
    return tf.nest.map_structure(lambda *t: tf.stack(t), *batches)


def fused_train_function(model, fallback):
    """A ``train_function`` for ``model``; ``fallback`` is Keras' (for non-iterator input)."""
    steps = int(model.steps_per_execution)

    @tf.function(jit_compile=True, autograph=False, reduce_retracing=True)
    def run_stacked(batches, count):
        """Trains on the first ``count`` of the stacked ``batches``."""
        def body(i):
            model.train_step(tf.nest.map_structure(lambda t: t[i], batches))
            return i + 1

        tf.while_loop(lambda i: i < count, body, [tf.constant(0)])
        return model.tracker_results()

    def run_one(batch):
        """Trains on one batch, as an XLA call of its own (compiled once per shape)."""
        return run_stacked(_stack([batch]), tf.constant(1))

    @tf.function(autograph=False)
    def run_execution(iterator):
        """Pulls up to ``steps`` batches of a fixed shape and trains on them; returns
        the logs and how many batches there were (0: the iterator is exhausted)."""
        spec = iterator.element_spec

        def zeros():
            return tf.nest.map_structure(lambda s: tf.zeros(s.shape, s.dtype), spec)

        batches, present = [], []
        for _ in range(steps):
            pulled = iterator.get_next_as_optional()
            has_value = pulled.has_value()
            batches.append(tf.cond(has_value, pulled.get_value, zeros))
            present.append(tf.cast(has_value, tf.int32))
        count = tf.add_n(present)
        return run_stacked(_stack(batches), count), count

    @tf.function(autograph=False)
    def run_mixed_execution(iterator):
        """Like ``run_execution`` when batches may differ in size: the leading batches of
        the first one's size run as one program over their stack, any later batch (an
        epoch's partial last one) as one XLA call each, in order."""
        pulled = [iterator.get_next_as_optional() for _ in range(steps)]
        present = [p.has_value() for p in pulled]
        count = tf.add_n([tf.cast(h, tf.int32) for h in present])

        def train():
            first = pulled[0].get_value()
            zeros = lambda: tf.nest.map_structure(tf.zeros_like, first)  # noqa: E731
            batches = [first] + [tf.cond(h, p.get_value, zeros)
                                 for p, h in zip(pulled[1:], present[1:])]
            size = _batch_size(first)
            fits = [tf.logical_and(h, tf.equal(_batch_size(b), size))
                    for b, h in zip(batches, present)]
            # the length of the leading run of present batches of the first one's size
            leading = tf.reduce_sum(tf.math.cumprod(tf.cast(tf.stack(fits), tf.int32)))
            run_stacked(_stack([tf.cond(f, lambda b=b: b, zeros) for b, f in zip(batches, fits)]),
                        leading)
            for i, (batch, has) in enumerate(zip(batches, present)):
                if i:  # the first batch always leads
                    tf.cond(tf.logical_and(has, i >= leading), lambda b=batch: run_one(b),
                            model.tracker_results)
            return model.tracker_results()

        return tf.cond(count > 0, train, model.tracker_results), count

    @tf.function(autograph=False)
    def run_pulled_execution(iterator):
        """Trains on one :class:`~ae_zoo.training.pipeline.Execution`: its stacked batches
        as one program, then its tail (if it has rows) as another."""
        pulled = iterator.get_next_as_optional()

        def train():
            execution = pulled.get_value()
            run_stacked(execution.batches, _batch_size(execution.batches))
            tf.cond(_batch_size(execution.tail) > 0, lambda: run_one(execution.tail),
                    model.tracker_results)
            return model.tracker_results()

        return tf.cond(pulled.has_value(), train, model.tracker_results), \
            tf.cast(pulled.has_value(), tf.int32)

    def pull_runs(iterator):
        """Consecutive batches of one size: [[size, [batch, ...]], ...]."""
        runs = []
        for _ in range(steps):
            pulled = iterator.get_next_as_optional()
            if not pulled.has_value():
                break
            batch = pulled.get_value()
            size = int(tf.shape(tf.nest.flatten(batch)[0])[0])
            if runs and runs[-1][0] == size:
                runs[-1][1].append(batch)
            else:
                runs.append([size, [batch]])
        return runs

    def graph_function(spec):
        """The graph function that pulls and trains one execution of an iterator of
        ``spec``; None where the batches are pulled in Python."""
        if isinstance(spec, Execution):
            return run_pulled_execution
        if _static(spec):
            return run_execution
        return run_mixed_execution if _fixed_examples(spec) else None

    def function(iterator):
        if not isinstance(iterator, (tf.data.Iterator, tf.distribute.DistributedIterator)):
            return fallback(iterator)
        run = graph_function(iterator.element_spec)
        if run is not None:
            logs, count = run(iterator)
            if int(count) == 0:
                raise StopIteration
            return logs
        runs = pull_runs(iterator)
        if not runs:
            raise StopIteration
        for _, batches in runs:
            logs = run_stacked(_stack(batches), tf.constant(len(batches)))
        return logs

    return function
