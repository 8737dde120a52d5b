"""A run that goes non-finite stops and says so: :class:`FiniteGuard` watches the loss
after every execution and the metrics and weights after every epoch, keeps the weights of
the last finite epoch, and the runner raises :class:`TrainingDiverged` instead of
publishing NaN weights. Checkpoints and backups skip a non-finite epoch
(:class:`FiniteCheckpoint`, :class:`ae_zoo.training.backup.RunBackup`)."""

import math

import keras
import numpy as np

#: What to try when a run diverges, as the CLI flags and recipe keys that do it.
REMEDIES = ("a lower learning rate (--learning-rate)",
            "gradient clipping (--set training.optimizer.clipnorm=1.0)",
            "mixed precision off (--set training.mixed_precision=float32)")


class TrainingDiverged(RuntimeError):
    """Training produced a non-finite loss, metric or weight; nothing was published."""

    #: ``ae-zoo``'s exit status for it (2 is a bad argument).
    exit_status = 3


def _non_finite(logs, keys=None):
    """The first ``(key, value)`` of ``logs`` that is a non-finite number, or None."""
    for key, value in (logs or {}).items():
        if keys is not None and key not in keys:
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if not math.isfinite(number):
            return key, number
    return None


class FiniteGuard(keras.callbacks.Callback):
    """Stops training at the first non-finite loss (``stop_on_batch``: after the execution
    that produced it, else at the end of its epoch) or non-finite epoch metric or weight,
    and keeps a host copy of the weights after every finite epoch (``last_finite``)."""

    needs_every_step = False  # it reads the loss of each execution, not of each step

    def __init__(self, stop_on_batch=True):
        super().__init__()
        self.stop_on_batch = stop_on_batch
        self.diverged = None  # {"epoch", "batch", "first_batch", "what", "value"}
        self.last_finite = None  # (epoch finished, or -1 for the weights training began from)
        self._epoch, self._last_batch = 0, -1

    def on_epoch_begin(self, epoch, logs=None):
        if self.last_finite is None:  # the weights training (or a resume) starts from
            self.last_finite = epoch - 1, self.model.get_weights()
        self._epoch, self._last_batch = epoch, -1

    def on_train_batch_end(self, batch, logs=None):
        bad = _non_finite(logs, ("loss",))
        if bad and self.diverged is None:
            self.diverged = {"epoch": self._epoch, "batch": batch, "first_batch": self._last_batch + 1,
                             "what": bad[0], "value": bad[1]}
            if self.stop_on_batch:
                self.model.stop_training = True
        self._last_batch = batch

    def on_epoch_end(self, epoch, logs=None):
        if self.diverged is None:
            bad = _non_finite(logs)
            if bad:
                self.diverged = {"epoch": epoch, "batch": None, "what": bad[0], "value": bad[1]}
        weights = self.model.get_weights()
        if self.diverged is None and not all(np.all(np.isfinite(w)) for w in weights
                                             if np.issubdtype(w.dtype, np.floating)):
            self.diverged = {"epoch": epoch, "batch": None, "what": "weights", "value": None}
        if self.diverged is None:
            self.last_finite = epoch, weights
        else:
            self.model.stop_training = True

    def message(self, last_finite_path=None):
        """What went non-finite where, what was (not) written, and what to try."""
        d = self.diverged
        if d["what"] == "weights":
            what = "the weights became non-finite"
        else:
            what = f"{d['what']} became {d['value']}"
        where = f"epoch {d['epoch'] + 1}"
        if d["batch"] is not None:
            first, last = d["first_batch"] + 1, d["batch"] + 1
            where += f", batch {last}" if first == last else (
                f", batches {first}-{last} (one execution; training.steps_per_execution=1 "
                "finds the batch)")
        text = f"training diverged: {what} at {where}. Nothing was published (no model.keras, metrics or export)."
        if last_finite_path:
            epoch = self.last_finite[0]
            state = "the initial weights" if epoch < 0 else f"the weights after epoch {epoch + 1}"
            text += f" The last finite state ({state}) is in {last_finite_path}."
        return text + " Try " + ", ".join(REMEDIES[:-1]) + " or " + REMEDIES[-1] + "."


class FiniteCheckpoint(keras.callbacks.ModelCheckpoint):
    """``ModelCheckpoint`` that never saves an epoch the guard found non-finite (Keras' saves
    when the monitored value is missing, as it is after a run stopped mid-epoch)."""

    needs_every_step = False  # saves at epoch ends only

    def __init__(self, guard, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.guard = guard

    def on_epoch_end(self, epoch, logs=None):
        if self.guard.diverged is None and not _non_finite(logs, (self.monitor,)):
            super().on_epoch_end(epoch, logs)
