"""Stateless random draws from a ``keras.random.SeedGenerator``, distinct per replica.

Every random draw in ae_zoo goes through :func:`next_seed`: the generator's next
state becomes a stateless seed (int32, shape [2]); under ``tf.distribute`` the replica
id is folded in, so replicas draw different noise while each stays reproducible.
Draws use the Philox generator explicitly: with the default ("auto_select") XLA's CPU
lowering draws about 50x slower (``benchmarks/throughput.py``).
"""

import numpy as np
import tensorflow as tf


def next_seed(seed_generator):
    """A fresh stateless seed from ``seed_generator``, with the replica id folded in."""
    seed = tf.cast(tf.math.floormod(seed_generator.next(), 2**31 - 1), tf.int32)
    context = tf.distribute.get_replica_context()
    if context is not None and context.num_replicas_in_sync > 1:
        seed = tf.random.experimental.stateless_fold_in(seed, context.replica_id_in_sync_group)
    return seed


def uniform(shape, seed_generator, dtype="float32"):
    """U[0, 1) draws of ``shape``."""
    return tf.random.stateless_uniform(shape, seed=next_seed(seed_generator), dtype=dtype,
                                       alg="philox")


def normal(shape, seed_generator, stddev=1.0, dtype="float32"):
    """N(0, stddev^2) draws of ``shape``."""
    return tf.random.stateless_normal(shape, seed=next_seed(seed_generator), stddev=stddev,
                                      dtype=dtype, alg="philox")


def seed_range(num_samples, seed=None):
    """int64 seeds ``seed, seed + 1, ..., seed + num_samples - 1`` (a random start when None):
    draw ``i`` of a sampling call comes from seed ``seed + i``."""
    if seed is None:
        seed = int(np.random.randint(0, 2**31 - 1 - num_samples))
    return tf.range(num_samples, dtype=tf.int64) + int(seed)


def normal_per_seed(seeds, dim):
    """One N(0, I_dim) draw per int seed (rows of a [len(seeds), dim] float32 tensor),
    each a pure function of its seed: the same seed gives the same row in any batch."""
    return per_seed(seeds, (int(dim),))


def per_seed(seeds, shape, kind="normal", stream=0):
    """One draw of ``shape`` per int seed, stacked: [len(seeds), *shape] float32. ``kind``:
    ``"normal"`` (N(0, 1)) or ``"uniform"`` (U[0, 1)); the draw from seed ``s`` is a pure
    function of ``(s, stream)``, so the same seed gives the same draw in any batch, and
    one seed's different ``stream`` s are independent draws."""
    shape = tuple(int(d) for d in shape)
    if tf.executing_eagerly():  # eager map_fn runs a Python loop; the graph's is ~100x faster
        return _per_seed_graph(tf.convert_to_tensor(seeds), shape, kind, int(stream))
    return _per_seed(seeds, shape, kind, int(stream))


def _per_seed(seeds, shape, kind, stream):
    seeds = tf.cast(tf.reshape(seeds, (-1,)), tf.int64)
    draw_fn = tf.random.stateless_normal if kind == "normal" else tf.random.stateless_uniform

    def draw(s):
        return draw_fn(shape, seed=tf.stack([s, tf.constant(stream, tf.int64)]))

    return tf.map_fn(draw, seeds, fn_output_signature=tf.float32)


_per_seed_graph = tf.function(_per_seed, reduce_retracing=True, autograph=False)


def seed_states(layer):
    """The state variables of every ``SeedGenerator`` in ``layer`` and its sublayers (Keras'
    ``variables`` are the ``weights`` plus these states).

    Keras does not save them; a model that saves them with its weights makes a run
    resumed from a checkpoint draw the same noise as an uninterrupted one.
    """
    weights = {id(w) for w in layer.weights}
    return [v for v in layer.variables
            if id(v) not in weights and v.name == "seed_generator_state"]
