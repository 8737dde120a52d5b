"""Stateless random draws from a ``keras.random.SeedGenerator``, distinct per replica.

Every random draw in ae_zoo goes through :func:`next_seed`: the generator's next
state becomes a stateless seed (int32, shape [2]); under ``tf.distribute`` the replica
id is folded in, so replicas draw different noise while each stays reproducible.
Draws use the Philox generator explicitly: with the default ("auto_select") XLA's CPU
lowering draws about 50x slower (``benchmarks/throughput.py``).
"""

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
