"""``fit`` on in-memory arrays is the fast path (ae_zoo.training.engine.FastEngine): it
keeps everything Keras' ``fit`` promises. The reference is Keras itself: the same model on
the plain KerasEngine (Keras' own data adapter and loop) fed the same batches."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import ae_zoo
from ae_zoo import models
from ae_zoo.training.pipeline import ArrayPipeline

SHAPE = (6, 6, 1)
N, BATCH = 28, 8  # 3 full batches and a partial one of 4 per epoch


def data(n=N, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(size=(n, *SHAPE)).astype("float32"), rng.integers(0, 3, n)


def make(name="ae", engine=None, **kwargs):
    keras.utils.set_random_seed(0)
    options = {"num_classes": 3} if models.get(name).conditional else {}
    model = models.create(name, latent_dim=2, input_shape=SHAPE, hidden_units=(8,), seed=3,
                          **options, **kwargs)
    if engine is not None:
        model.engine = engine  # this model alone
    return model


def labels_of(model, y):
    return y if model.conditional else None


def assert_same_weights(a, b, **tolerance):
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_allclose(wa, wb, **(tolerance or {"rtol": 1e-5, "atol": 1e-6}))


class Recorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs, self.batch_ends = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)

    def on_train_batch_end(self, batch, logs=None):
        self.batch_ends.append(batch)


@pytest.mark.parametrize("name, jit_compile", [
    ("ae", True), ("cvae", True), ("vae", False),
    # two optimizers: the battery's fit-on-arrays check covers factor_vae by default
    pytest.param("factor_vae", True, marks=pytest.mark.slow)])
def test_unshuffled_fit_equals_keras_own_fit_on_numpy(name, jit_compile):
    """shuffle=False: both feed the arrays in order, the partial batch last; the steps of
    the fast path (several per execution, in one XLA program under XLA) give Keras' weights."""
    x, y = data()
    results = []
    for engine in (None, models.KerasEngine()):
        model = make(name, engine)
        model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=jit_compile)
        history = model.fit(x, labels_of(model, y), batch_size=BATCH, epochs=2, shuffle=False,
                            verbose=0).history
        results.append((model, history))
    (fast, h_fast), (plain, h_plain) = results
    assert fast.steps_per_execution == 4 and plain.steps_per_execution == 1  # auto: the epoch
    assert int(fast.optimizer.iterations) == int(plain.optimizer.iterations) == 2 * 4
    assert_same_weights(fast, plain)
    for key in h_plain:
        np.testing.assert_allclose(h_fast[key], h_plain[key], rtol=1e-5, atol=1e-6)


def test_shuffled_fit_is_the_seeded_stream_and_equals_keras_loop_on_its_batches():
    """The batch order is the pipeline's (seed = the model's seed, epoch); Keras' own loop on
    the same batches, one epoch at a time, reaches the same weights."""
    x, _ = data()
    fast = make("vae")
    fast.compile(optimizer=keras.optimizers.Adam(1e-2))
    fast.fit(x, batch_size=BATCH, epochs=3, verbose=0)
    plain = make("vae", models.KerasEngine())
    plain.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=True)
    pipeline = ArrayPipeline(x, batch_size=BATCH, seed=3, drop_remainder=False)
    plain.fit(pipeline.dataset(), epochs=3, callbacks=[pipeline.callback()], verbose=0)
    assert int(fast.optimizer.iterations) == int(plain.optimizer.iterations) == 3 * 4
    assert_same_weights(fast, plain)


def test_validation_split_and_data_callbacks_and_the_progress_bar(capsys):
    x, _ = data(40)
    model = make("ae")
    model.compile(jit_compile=False)
    recorder = Recorder()
    history = model.fit(x, batch_size=BATCH, epochs=2, validation_split=0.25,
                        callbacks=[recorder], verbose=1).history
    # the last quarter is held out, as Keras takes it: 30 training examples, 4 batches;
    # the recorder has a batch hook, so "auto" runs one step per execution: it sees them all
    assert int(model.optimizer.iterations) == 2 * 4 and model.steps_per_execution == 1
    held_out = model.evaluate(x[30:], batch_size=BATCH, return_dict=True, verbose=0)
    assert history["val_loss"][-1] == pytest.approx(held_out["loss"], rel=1e-5)
    assert set(history) == {"loss", "reconstruction_loss", "val_loss", "val_reconstruction_loss"}
    assert recorder.epochs == [0, 1]
    assert recorder.batch_ends == [0, 1, 2, 3] * 2
    model.fit(x, batch_size=BATCH, epochs=1, validation_split=0.25, verbose=0)
    assert model.steps_per_execution == 4  # no batch hook: the whole 4-step epoch per call
    explicit = make("ae")
    explicit.compile(jit_compile=False, steps_per_execution=4)
    recorder = Recorder()
    explicit.fit(x, batch_size=BATCH, epochs=2, validation_split=0.25, callbacks=[recorder], verbose=0)
    assert recorder.batch_ends == [3, 3]  # once per execution, its last step, as Keras does
    shown = capsys.readouterr().out
    assert "Epoch 2/2" in shown and "4/4" in shown
    again = model.fit(x[:30], batch_size=BATCH, epochs=1, validation_data=(x[30:],), verbose=0)
    assert np.isfinite(again.history["val_loss"][0])


def test_initial_epoch_continues_the_run_as_one_fit_would():
    x, _ = data()
    whole = make("ae")
    whole.compile(optimizer=keras.optimizers.Adam(1e-2))
    whole.fit(x, batch_size=BATCH, epochs=3, verbose=0)
    parts = make("ae")
    parts.compile(optimizer=keras.optimizers.Adam(1e-2))
    parts.fit(x, batch_size=BATCH, epochs=1, verbose=0)
    history = parts.fit(x, batch_size=BATCH, epochs=3, initial_epoch=1, verbose=0).history
    assert len(history["loss"]) == 2
    assert_same_weights(whole, parts)


def test_steps_per_epoch_and_an_explicit_steps_per_execution():
    x, _ = data(64)
    model = make("ae")
    model.compile(jit_compile=True, steps_per_execution=3)
    model.fit(x, batch_size=BATCH, epochs=2, steps_per_epoch=6, verbose=0)
    assert model.steps_per_execution == 3 and int(model.optimizer.iterations) == 12
    one = make("ae")
    one.compile(jit_compile=True, steps_per_execution=1)
    one.fit(x, batch_size=BATCH, epochs=1, verbose=0)
    assert one.steps_per_execution == 1 and int(one.optimizer.iterations) == 8
    assert "fused" not in one.train_function.__qualname__  # Keras' own loop


def test_a_dataset_is_left_as_it_is():
    x, _ = data(32)
    dataset = tf.data.Dataset.from_tensor_slices(x).batch(BATCH)
    fast = make("ae")
    fast.compile(optimizer=keras.optimizers.Adam(1e-2))
    fast.fit(dataset, epochs=2, verbose=0)
    plain = make("ae", models.KerasEngine())
    plain.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=True)
    plain.fit(dataset, epochs=2, verbose=0)
    assert fast.steps_per_execution == 4  # the dataset's 4 batches an epoch
    assert_same_weights(fast, plain)


def test_backup_and_restore_resumes_to_the_weights_of_an_uninterrupted_run(tmp_path):
    x, _ = data()

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    whole = make("denoising_ae")  # noise drawn every step: the seed states are restored too
    whole.compile(optimizer=keras.optimizers.Adam(1e-2))
    whole.fit(x, batch_size=BATCH, epochs=4, verbose=0)
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    first = make("denoising_ae")
    first.compile(optimizer=keras.optimizers.Adam(1e-2))
    with pytest.raises(KeyboardInterrupt):
        first.fit(x, batch_size=BATCH, epochs=4, callbacks=[backup, Interrupt()], verbose=0)
    resumed = make("denoising_ae")
    resumed.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = resumed.fit(x, batch_size=BATCH, epochs=4, callbacks=[backup], verbose=0).history
    assert len(history["loss"]) == 2  # epochs 2 and 3
    assert_same_weights(whole, resumed)


def test_an_image_dataset_trains_with_its_labels():
    train = ae_zoo.data.load("digits", "train")
    model = models.create("cvae", latent_dim=2, input_shape=train.input_shape, hidden_units=(8,),
                          num_classes=10, seed=0)
    model.compile()
    history = model.fit(train, batch_size=256, epochs=2, validation_data=ae_zoo.data.load(
        "digits", "test"), verbose=0).history
    assert int(model.optimizer.iterations) == 2 * int(np.ceil(len(train) / 256))
    assert np.all(np.isfinite(history["val_loss"]))
