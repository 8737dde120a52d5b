"""ArrayPipeline: every example once per epoch, an order that is a function of (seed, epoch),
labels that stay with their images, the same batches however they are chunked, and the
endless stream of epochs that trains exactly as one dataset per epoch does."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from ae_zoo import models
from ae_zoo.training.pipeline import ArrayPipeline, Execution
from ae_zoo.training.engine import fit_inputs, resolve_steps_per_execution


def examples(n=50):
    x = np.arange(n, dtype="float32").reshape(n, 1, 1, 1) * np.ones((1, 2, 2, 1), "float32")
    return x, np.arange(n) % 7


def epoch(pipeline, number):
    pipeline.epoch.assign(number)
    return [tuple(t.numpy() for t in b) if isinstance(b, tuple) else b.numpy()
            for b in pipeline.dataset()]


def ids(batch):
    return batch[:, 0, 0, 0].astype(int).tolist()


def test_one_epoch_visits_every_example_once_with_the_partial_batch():
    x, _ = examples(50)
    pipeline = ArrayPipeline(x, batch_size=16, seed=3, drop_remainder=False)
    batches = epoch(pipeline, 0)
    assert pipeline.steps_per_epoch == 4 and [len(b) for b in batches] == [16, 16, 16, 2]
    seen = sum((ids(b) for b in batches), [])
    assert sorted(seen) == list(range(50)) and seen != list(range(50))


def test_the_order_is_the_stateless_permutation_of_seed_and_epoch():
    x, _ = examples(50)
    pipeline = ArrayPipeline(x, batch_size=16, seed=3)
    assert pipeline.steps_per_epoch == 3  # shuffling drops the partial batch
    for number in (0, 5):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(50, dtype=tf.int64), seed=tf.constant([3, number], tf.int64)).numpy()
        got = epoch(pipeline, number)
        assert [ids(b) for b in got] == [order[i:i + 16].tolist() for i in (0, 16, 32)]
    again = ArrayPipeline(x, batch_size=16, seed=3)
    assert [ids(b) for b in epoch(again, 5)] == [ids(b) for b in epoch(pipeline, 5)]
    assert [ids(b) for b in epoch(pipeline, 1)] != [ids(b) for b in epoch(pipeline, 2)]


def test_labels_stay_with_their_images():
    x, y = examples(50)
    for images, labels in epoch(ArrayPipeline(x, y, batch_size=8, seed=1), 2):
        np.testing.assert_array_equal(labels, np.array(ids(images)) % 7)


def test_chunks_do_not_change_the_batches(monkeypatch):
    x, y = examples(50)
    whole = ArrayPipeline(x, y, batch_size=4, seed=2, drop_remainder=False)
    assert whole.batches_per_chunk == 12
    monkeypatch.setattr(ArrayPipeline, "CHUNK_BYTES", 3 * 4 * 16)  # 3 batches of 4 x 16 bytes
    chunked = ArrayPipeline(x, y, batch_size=4, seed=2, drop_remainder=False)
    assert chunked.batches_per_chunk == 3
    for a, b in zip(epoch(whole, 4), epoch(chunked, 4), strict=True):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])


def test_fewer_steps_per_epoch_take_a_fresh_subset():
    x, _ = examples(50)
    pipeline = ArrayPipeline(x, batch_size=8, seed=0, steps_per_epoch=2)
    first, second = epoch(pipeline, 0), epoch(pipeline, 1)
    assert [len(b) for b in first] == [8, 8]
    assert len(set(ids(first[0]) + ids(first[1]))) == 16
    assert ids(first[0]) != ids(second[0])


def test_no_shuffle_keeps_the_stored_order():
    x, _ = examples(10)
    batches = epoch(ArrayPipeline(x, batch_size=4, shuffle=False), 7)
    assert [ids(b) for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [ids(b) for b in epoch(ArrayPipeline(x[:3], batch_size=4, shuffle=False), 0)] == [[0, 1, 2]]


def test_bad_sizes_are_refused():
    x, _ = examples(10)
    with pytest.raises(ValueError, match="larger than the dataset"):
        ArrayPipeline(x, batch_size=16)
    with pytest.raises(ValueError, match="batch_size"):
        ArrayPipeline(x, batch_size=0)
    with pytest.raises(ValueError, match="empty"):
        ArrayPipeline(x[:0], batch_size=1, shuffle=False)


def test_the_stream_chains_the_epochs_from_the_one_it_starts_at():
    x, y = examples(50)
    pipeline = ArrayPipeline(x, y, batch_size=8, seed=4, drop_remainder=False)  # 7 batches
    expected = [b for number in (2, 3, 4) for b in epoch(pipeline, number)]
    pipeline.epoch.assign(2)
    iterator = iter(pipeline.stream())
    got = [tuple(t.numpy() for t in next(iterator))]
    pipeline.epoch.assign(9)  # once it has started, the variable does not move the stream
    got += [tuple(t.numpy() for t in next(iterator)) for _ in range(len(expected) - 1)]
    assert len(expected) == 21 and [len(b[0]) for b in got[:7]] == [8] * 6 + [2]
    for (ga, gb), (ea, eb) in zip(got, expected, strict=True):
        np.testing.assert_array_equal(ga, ea)
        np.testing.assert_array_equal(gb, eb)
    assert pipeline.stream().cardinality() == tf.data.INFINITE_CARDINALITY


@pytest.mark.parametrize("steps, expected", [
    (10, 10),    # a short epoch: one execution
    (64, 64),
    (1000, 50),  # the largest divisor up to 64
    (282, 47),
    (134, 64),   # 134 = 2 x 67: no divisor from 16 to 64: 64 with a short last execution
    (281, 64),   # a long prime epoch too
])
def test_auto_steps_per_execution(steps, expected):
    assert resolve_steps_per_execution("auto", steps) == expected
    assert resolve_steps_per_execution(3, steps) == 3


def test_executions_hold_the_streams_batches_stacked_with_the_partial_batch_as_tail():
    x, y = examples(50)
    pipeline = ArrayPipeline(x, y, batch_size=8, seed=4, drop_remainder=False)  # 6 + 1 batches
    expected = [b for number in (2, 3) for b in epoch(pipeline, number)]
    pipeline.epoch.assign(2)
    iterator = iter(pipeline.executions(7))
    got = []
    for _ in range(2):  # one execution per epoch: six stacked batches, the batch of 2 as tail
        (bx, by), (tx, ty) = (tuple(t.numpy() for t in part) for part in next(iterator))
        assert bx.shape == (6, 8, *x.shape[1:]) and by.shape == (6, 8) and len(tx) == len(ty) == 2
        got += list(zip(bx, by)) + [(tx, ty)]
    for (ga, gb), (ea, eb) in zip(got, expected, strict=True):
        np.testing.assert_array_equal(ga, ea)
        np.testing.assert_array_equal(gb, eb)
    whole = ArrayPipeline(x[:48], batch_size=8, seed=4)  # 6 batches: executions of 3, no tail
    first = next(iter(whole.executions(3)))
    assert first.batches.shape == (3, 8, *x.shape[1:]) and first.tail.shape[0] == 0
    with pytest.raises(ValueError, match="divide"):
        whole.executions(4)


def test_fit_streams_when_whole_executions_make_an_epoch():
    x, _ = examples(48)
    pipeline = ArrayPipeline(x, batch_size=8, seed=0)  # 6 steps per epoch
    dataset, steps = fit_inputs(pipeline, 3)
    assert steps == 6 and dataset.cardinality() == tf.data.INFINITE_CARDINALITY
    dataset, steps = fit_inputs(pipeline, 4)
    assert steps is None and dataset.cardinality() == 6
    # an execution run as one XLA program pulls it whole, unless it is too large to stack
    dataset, steps = fit_inputs(pipeline, 3, fused_steps=True)
    assert steps == 6 and isinstance(dataset.element_spec, Execution)
    pipeline.CHUNK_BYTES = 2 * pipeline._batch_bytes()
    dataset, steps = fit_inputs(pipeline, 3, fused_steps=True)
    assert steps == 6 and not isinstance(dataset.element_spec, Execution)


@pytest.mark.parametrize("jit_compile, steps_per_execution", [(False, 1), (True, 2)])
def test_training_on_the_stream_equals_training_epoch_by_epoch(jit_compile, steps_per_execution):
    """Same batches in the same order: the same weights after three epochs, through Keras'
    loop and through several XLA-compiled steps per execution."""
    x = np.random.default_rng(0).uniform(size=(48, 4, 4, 1)).astype("float32")

    def train(streamed):
        keras.utils.set_random_seed(0)
        model = models.VAE(input_shape=(4, 4, 1), latent_dim=2, hidden_units=(8,), seed=1)
        model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=jit_compile,
                      steps_per_execution=steps_per_execution)
        pipeline = ArrayPipeline(x, batch_size=8, seed=5)
        if streamed:
            model.fit(pipeline.stream(), steps_per_epoch=6, epochs=3, verbose=0,
                      callbacks=[pipeline.callback()])
        else:
            model.fit(pipeline.dataset(), epochs=3, verbose=0, callbacks=[pipeline.callback()])
        return model

    streamed, by_epoch = train(True), train(False)
    assert int(streamed.optimizer.iterations) == int(by_epoch.optimizer.iterations) == 18
    for a, b in zip(streamed.get_weights(), by_epoch.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
