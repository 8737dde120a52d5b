"""BetaSchedule: closed-form values, the model's beta during fit, and the XLA train step reading it."""

import keras
import numpy as np
import pytest

from ae_zoo.models import (
    VAE,
    AnnealedVAE,
    Autoencoder,
    BetaTCVAE,
    BetaVAE,
    ConditionalVAE,
    DIPVAEII,
    FactorVAE,
)
from ae_zoo.training import BetaSchedule

SHAPE = (8, 8, 1)
TINY = dict(latent_dim=2, input_shape=SHAPE, hidden_units=(32,), seed=0)


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(0).random((16, *SHAPE)).astype("float32")


def _fu_cyclical(t, start, stop, length, cycles, ratio):
    """Fu et al. 2019: tau = mod(t, T / M) / (T / M); f(tau) = tau / R if tau <= R else 1."""
    if cycles is not None and t >= cycles * length:
        return stop
    tau = np.mod(t, length) / length
    return start + (stop - start) * (tau / ratio if tau <= ratio else 1.0)


def test_linear_values():
    schedule = BetaSchedule("linear", start=0.5, stop=3.0, warmup_steps=10)
    steps = np.arange(30)
    expected = np.interp(steps, [0, 10], [0.5, 3.0])
    np.testing.assert_allclose([schedule.value(t) for t in steps], expected, rtol=1e-12)


@pytest.mark.parametrize("length,cycles,ratio", [(8, 3, 0.5), (5, None, 0.3), (4, 2, 1.0)])
def test_cyclical_values(length, cycles, ratio):
    schedule = BetaSchedule("cyclical", start=0.0, stop=2.0, warmup_steps=length, cycles=cycles, ratio=ratio)
    for t in range(40):
        assert schedule.value(t) == pytest.approx(_fu_cyclical(t, 0.0, 2.0, length, cycles, ratio), abs=1e-12)
    if length == 8:  # spelled out: a 4-step ramp then 4 steps at stop, three times, then stop
        one_cycle = [0.0, 0.5, 1.0, 1.5, 2.0, 2.0, 2.0, 2.0]
        np.testing.assert_allclose([schedule.value(t) for t in range(30)], one_cycle * 3 + [2.0] * 6)


class _Recorder(keras.callbacks.Callback):
    """The model's beta as each batch starts (after BetaSchedule ran)."""

    def __init__(self):
        super().__init__()
        self.betas = []

    def on_train_batch_begin(self, batch, logs=None):
        self.betas.append(float(self.model.beta.numpy()))


@pytest.mark.parametrize("kind", ["linear", "cyclical"])
def test_beta_follows_the_schedule_and_the_xla_loss_uses_it(x, kind):
    model = VAE(beta=2.0, **TINY)  # stop defaults to the configured beta, 2
    model.compile(jit_compile=True)
    if kind == "linear":
        schedule = BetaSchedule("linear", warmup_steps=4)
        expected = [2.0 * min(1.0, t / 4) for t in range(7)]
    else:
        schedule = BetaSchedule("cyclical", start=0.5, warmup_steps=3, ratio=2 / 3)
        expected = [_fu_cyclical(t, 0.5, 2.0, 3, None, 2 / 3) for t in range(7)]
    recorder = _Recorder()
    # One step per epoch, so each epoch's logs are that step's terms.
    history = model.fit(x, batch_size=len(x), epochs=7, callbacks=[schedule, recorder], verbose=0).history
    np.testing.assert_allclose(recorder.betas, expected, rtol=1e-6)
    np.testing.assert_allclose(history["beta"], expected, rtol=1e-6)
    assert len(set(np.round(expected, 6))) >= 3
    loss, rec, kl = (np.array(history[k]) for k in ("loss", "reconstruction_loss", "kl"))
    assert np.all(kl > 1e-3)
    np.testing.assert_allclose(loss, rec + np.array(expected) * kl, rtol=1e-5)


def test_epoch_updates_and_global_step_across_fits(x):
    model = VAE(**TINY)
    model.compile(jit_compile=False)
    by_epoch = BetaSchedule("cyclical", start=0.0, stop=1.0, warmup_steps=2, ratio=1.0, update="epoch")
    recorder = _Recorder()
    model.fit(x, batch_size=8, epochs=3, callbacks=[by_epoch, recorder], verbose=0)  # 2 steps per epoch
    assert recorder.betas == [0.0, 0.0, 0.5, 0.5, 0.0, 0.0]

    by_step, recorder = BetaSchedule("linear", stop=1.0, warmup_steps=8), _Recorder()
    model.fit(x, batch_size=8, epochs=2, callbacks=[by_step, recorder], verbose=0)
    np.testing.assert_allclose(recorder.betas, [6 / 8, 7 / 8, 1.0, 1.0])  # steps 6..9 (optimizer.iterations)


def test_default_stop_is_the_models_beta():
    schedule = BetaSchedule(warmup_steps=10)
    schedule.set_model(BetaVAE(**TINY))
    assert schedule.value(0) == 0.0 and schedule.value(5) == 2.0 and schedule.value(100) == 4.0


@pytest.mark.parametrize("make", [
    lambda: ConditionalVAE(num_classes=3, **TINY),
    lambda: FactorVAE(discriminator_units=(8,), **TINY),
    lambda: DIPVAEII(**TINY),
])
def test_other_kl_weighted_models_are_accepted(make):
    BetaSchedule(warmup_steps=10).set_model(make())


@pytest.mark.parametrize("make,match", [
    (lambda: Autoencoder(**TINY), "has none"),
    (lambda: BetaTCVAE(**TINY), "total-correlation"),
    (lambda: AnnealedVAE(**TINY), "capacity"),
])
def test_models_without_a_kl_beta_raise_before_training(x, make, match):
    model = make()
    with pytest.raises(ValueError, match=match):
        model.fit(x, epochs=1, callbacks=[BetaSchedule(warmup_steps=10)], verbose=0)
    assert int(model.optimizer.iterations) == 0


@pytest.mark.parametrize("kwargs", [
    dict(schedule="cosine", warmup_steps=10),
    dict(warmup_steps=None),
    dict(warmup_steps=0),
    dict(warmup_steps=2.5),
    dict(schedule="cyclical", warmup_steps=10, ratio=0.0),
    dict(schedule="cyclical", warmup_steps=10, ratio=1.5),
    dict(schedule="cyclical", warmup_steps=10, cycles=0),
    dict(schedule="linear", warmup_steps=10, cycles=2),
    dict(warmup_steps=10, update="step"),
    dict(warmup_steps=10, start=-1.0),
    dict(warmup_steps=10, stop=float("nan")),
])
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        BetaSchedule(**kwargs)
