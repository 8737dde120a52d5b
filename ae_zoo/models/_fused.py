"""Several training steps in one XLA program.

Keras runs ``steps_per_execution`` steps as a ``tf.while_loop`` that launches the
XLA-compiled step once per batch; every launch hands all the model's and the
optimizer's variables in and out. Here an execution pulls its batches, stacks them,
and runs every step inside a single XLA program (a ``tf.while_loop`` over the stacked
batches), so the variables stay in XLA's buffers for the whole execution. On the 2-core
CPU of ``benchmarks/throughput.py`` an execution of the dense VAE takes 6-7 ms per step
instead of about 8, and the weights are the same as Keras' loop gives. The step is traced
without autograph, as Keras traces it, so the first execution costs about what Keras'
first one does (2.6 s here).

Used by :meth:`ae_zoo.models.Autoencoder.make_train_function` when the train step is
XLA-compiled, ``steps_per_execution > 1``, no tf.distribute strategy is set, and the model's
``train_step`` returns its trackers' results (``train_step.returns_tracker_results``).
Consecutive batches of one size run as one stack; a short last execution of an epoch
or a partial last batch is compiled once for its own shape.
"""

import tensorflow as tf


def fused_train_function(model, fallback):
    """A ``train_function`` for ``model``; ``fallback`` is Keras' (for non-iterator input)."""
    steps = int(model.steps_per_execution)

    @tf.function(jit_compile=True, autograph=False, reduce_retracing=True)
    def run_stacked(batches):
        def body(i):
            model.train_step(tf.nest.map_structure(lambda t: t[i], batches))
            return i + 1

        count = tf.shape(tf.nest.flatten(batches)[0])[0]
        tf.while_loop(lambda i: i < count, body, [tf.constant(0)])
        return {name: tracker.result() for name, tracker in model._trackers.items()}

    def function(iterator):
        if not isinstance(iterator, (tf.data.Iterator, tf.distribute.DistributedIterator)):
            return fallback(iterator)
        runs = []  # consecutive batches of one size: [size, [batch, ...]]
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
        if not runs:
            raise StopIteration
        for _, batches in runs:
            logs = run_stacked(tf.nest.map_structure(lambda *t: tf.stack(t), *batches))
        return logs

    return function
