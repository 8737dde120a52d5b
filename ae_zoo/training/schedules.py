"""KL warm-up: a callback that sets a VAE's beta (the weight of its KL term) during ``fit``."""

import math

import keras

SCHEDULES = ("linear", "cyclical")
UPDATES = ("batch", "epoch")


class BetaSchedule(keras.callbacks.Callback):
    """Anneals the KL weight beta of a VAE-family model during ``fit``.

    ``"linear"`` (KL warm-up, Bowman et al. 2016):
    beta(t) = start + (stop - start) * min(1, t / warmup_steps).
    ``"cyclical"`` (Fu et al. 2019): the schedule restarts every
    ``warmup_steps`` steps; within a cycle, with tau = (t mod warmup_steps) /
    warmup_steps, beta = start + (stop - start) * min(1, tau / ratio): a linear
    ramp over the first ``ratio`` of the cycle, then ``stop``. After
    ``cycles`` cycles (if given) beta stays at ``stop``.

    t counts optimizer steps (``update="batch"``: ``optimizer.iterations``
    when the batch starts, so it carries on across ``fit`` calls) or epochs
    (``update="epoch"``: the epoch index). beta is written with
    ``model.beta.assign(...)``, which the compiled (also XLA) train step
    reads on every step. With ``update="batch"`` the default
    ``steps_per_execution="auto"`` runs one step per execution, so that beta changes on
    every step; an explicit ``steps_per_execution > 1`` changes it once per execution. The value in use is logged as ``logs["beta"]`` at each epoch's
    end (put this callback before loggers such as ``CSVLogger`` in the list).

    Works with models whose ``beta`` variable weighs the KL term: ``VAE``,
    ``BetaVAE``, ``ConditionalVAE``, ``FactorVAE``, ``DIPVAE``. It refuses
    ``BetaTCVAE`` (its beta weighs the total correlation) and ``AnnealedVAE``
    (its KL target follows its own capacity schedule) and models without a
    beta, with a ``ValueError`` before training starts.

    Args:
        schedule: ``"linear"`` or ``"cyclical"``.
        start: beta at t = 0 (and at each cycle's start).
        stop: the final beta; default: the model's configured beta.
        warmup_steps: length of the ramp (linear) or of one cycle
            (cyclical), in steps or epochs (``update``). Required.
        cycles: cyclical only: the number of cycles; ``None`` cycles forever.
        ratio: cyclical only: the fraction of a cycle spent ramping, in (0, 1].
        update: ``"batch"`` or ``"epoch"``.

    Example:
        >>> vae = VAE(latent_dim=16, input_shape=(28, 28, 1))
        >>> vae.fit(x, epochs=20, callbacks=[BetaSchedule("cyclical", warmup_steps=1000, cycles=4)])
    """

    def __init__(self, schedule="linear", start=0.0, stop=None, warmup_steps=None, cycles=None,
                 ratio=0.5, update="batch"):
        super().__init__()
        if schedule not in SCHEDULES:
            raise ValueError(f"Unknown schedule {schedule!r}; expected one of {', '.join(SCHEDULES)}.")
        if update not in UPDATES:
            raise ValueError(f"Unknown update {update!r}; expected one of {', '.join(UPDATES)}.")
        if warmup_steps is None or int(warmup_steps) != warmup_steps or int(warmup_steps) < 1:
            raise ValueError(
                f"`warmup_steps` must be a positive integer (the ramp's or the cycle's length in "
                f"{'steps' if update == 'batch' else 'epochs'}), got {warmup_steps!r}."
            )
        for name, value in (("start", start), ("stop", stop)):
            if value is not None and not (math.isfinite(float(value)) and float(value) >= 0):
                raise ValueError(f"`{name}` must be a finite number >= 0, got {value!r}.")
        if cycles is not None:
            if schedule != "cyclical":
                raise ValueError("`cycles` only applies to schedule='cyclical'.")
            if int(cycles) != cycles or int(cycles) < 1:
                raise ValueError(f"`cycles` must be a positive integer or None, got {cycles!r}.")
        if not 0.0 < float(ratio) <= 1.0:
            raise ValueError(f"`ratio` must be in (0, 1], got {ratio!r}.")
        self.schedule = schedule
        self.start = float(start)
        self.stop = None if stop is None else float(stop)
        self.warmup_steps = int(warmup_steps)
        self.cycles = None if cycles is None else int(cycles)
        self.ratio = float(ratio)
        self.update = update
        self.needs_every_step = update == "batch"  # see ae_zoo.training.engine.needs_every_step
        self._stop = self.stop

    def value(self, step, stop=None):
        """beta at step (or epoch) ``step``; ``stop`` defaults to the configured or the model's beta."""
        stop = self._resolved_stop() if stop is None else float(stop)
        step = max(int(step), 0)
        if self.schedule == "linear":
            fraction = min(1.0, step / self.warmup_steps)
        elif self.cycles is not None and step >= self.cycles * self.warmup_steps:
            fraction = 1.0
        else:
            tau = (step % self.warmup_steps) / self.warmup_steps
            fraction = min(1.0, tau / self.ratio)
        return self.start + (stop - self.start) * fraction

    def _resolved_stop(self):
        if self._stop is None:
            raise ValueError("BetaSchedule has no `stop` yet: pass `stop=` or attach it to a model.")
        return self._stop

    # ------------------------------------------------------------------ callbacks
    def set_model(self, model):
        beta = getattr(model, "beta", None)
        name = type(model).__name__
        if not isinstance(beta, keras.Variable):
            raise ValueError(
                f"BetaSchedule needs a model with a `beta` variable weighing its KL term "
                f"(VAE, BetaVAE, ConditionalVAE, FactorVAE, DIPVAE); {name} has none."
            )
        if not getattr(model, "beta_is_kl_weight", True):
            raise ValueError(
                f"BetaSchedule anneals the KL weight, but {name}'s `beta` is not one "
                "(BetaTCVAE: the total-correlation weight; AnnealedVAE: unused, it follows "
                "its own capacity schedule)."
            )
        super().set_model(model)
        if self.stop is None:
            self._stop = float(getattr(model, "beta_value", beta.numpy()))

    def _assign(self, step):
        self.model.beta.assign(self.value(step))

    def on_epoch_begin(self, epoch, logs=None):
        if self.update == "epoch":
            self._assign(epoch)

    def on_train_batch_begin(self, batch, logs=None):
        if self.update == "batch":
            self._assign(int(self.model.optimizer.iterations.numpy()))

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["beta"] = float(self.model.beta.numpy())
