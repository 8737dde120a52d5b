"""A process that kills itself (SIGKILL: no cleanup, no exception handler) at a chosen
moment, for the fault-injection tests. The kill is placed by wrapping the function that
runs at that moment, in this process only: no timing, no hook in ae_zoo.

``python fault_worker.py RECIPE.json MODE``: a training run (``experiments.train.run``);
``python fault_worker.py --cli MODE ARG...``: the command ``ae-zoo ARG...``;
``python fault_worker.py --study OUT MODE MODELS [--overwrite]``: the tiny study of
tests/experiments/test_study.py of the comma-separated MODELS.

MODE ``mid_epoch:E:B``: after batch B of epoch E (0-based) of every ``fit``; ``fit:K:E:B``:
the same in the K-th ``fit`` of the process only (1-based: a tuner's K-th trial, a study's
K-th run); with several steps per execution, at the first batch callback past B.
``backup_write:E``: while the backup after epoch E is half written (the weights file is
being written under its temporary name). ``after_weights:E``: after the backup's weights
file of epoch E is in place but before its state.json names it. ``trial_begin:K``: as
keras-tuner begins trial K (1-based), the trials before it saved. ``score:K``: in the K-th
scoring of a study run (its model.keras saved, its disentanglement.json not).
``export_write``: with a version's SavedModel written into its hidden folder, before its
model.keras and card. ``export_card``: after the version is published, before the model
folder's card.json. ``run_metrics``: after a run's model.keras is saved, before its
metrics.json. ``export_aside``: replacing a version (``export --overwrite``) where
paths cannot be exchanged atomically, after the old version is set aside and before the new
one is renamed in. ``export_exchanged``: replacing a version, after the new and old ones
are exchanged and before the old one is removed.
"""

import json
import os
import signal
import sys

import keras
import keras_tuner

from ae_zoo import cli
from ae_zoo._io import write_json
from ae_zoo.evaluation import scoring
from ae_zoo.experiments.train import run
from ae_zoo.export import card as card_lib
from ae_zoo.export import saved_model
from ae_zoo.models import _training
from ae_zoo.training import backup

train = sys.modules[run.__module__]  # the module (ae_zoo.experiments.train is also a function)


def die(*_, **__):
    os.kill(os.getpid(), signal.SIGKILL)


class KillMidEpoch(keras.callbacks.Callback):
    def __init__(self, epoch, batch):
        super().__init__()
        self.epoch, self.batch, self.current = epoch, batch, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.current == self.epoch and batch >= self.batch:
            die()


def on_call(owner, name, number, action=die):
    """Wraps ``owner.name`` so that its ``number``-th call (1-based) first runs
    ``action(kwargs)`` (which may change the call's keyword arguments)."""
    original, calls = getattr(owner, name), []

    def wrapped(*args, **kwargs):
        calls.append(None)
        if len(calls) == number:
            action(kwargs)
        return original(*args, **kwargs)
    setattr(owner, name, wrapped)


def after_call(owner, name):
    """Wraps ``owner.name`` so that the process dies as its first call returns something
    (a call that returns False or None did nothing: the process goes on)."""
    original = getattr(owner, name)

    def wrapped(*args, **kwargs):
        result = original(*args, **kwargs)
        if result:
            die()
        return result
    setattr(owner, name, wrapped)


def add_kill(kwargs, epoch, batch):
    kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), KillMidEpoch(epoch, batch)]


def install(kind, args, callbacks):
    """Places the kill ``kind:args`` (see the module); ``callbacks``: a training run's."""
    if kind == "mid_epoch":
        callbacks.append(KillMidEpoch(*args))
    elif kind == "fit":
        number, epoch, batch = args
        on_call(_training.Trainable, "fit", number, lambda kwargs: add_kill(kwargs, epoch, batch))
    elif kind == "trial_begin":
        on_call(keras_tuner.Tuner, "on_trial_begin", args[0])
    elif kind == "score":
        on_call(scoring, "compute_disentanglement", args[0])
    elif kind == "export_write":
        saved_model.write_json = die  # its first write: the version's model_info.json
    elif kind == "export_card":
        card_lib.write_card = die
    elif kind == "run_metrics":
        write = train.write_json
        train.write_json = lambda path, payload: (
            die() if os.path.basename(path) == "metrics.json" else write(path, payload))
    elif kind == "export_aside":
        saved_model.exchange_paths = lambda a, b: False  # as on a file system without it
        after_call(saved_model, "set_aside")
    elif kind == "export_exchanged":
        after_call(saved_model, "exchange_paths")
    elif kind == "backup_write":
        save = keras.Model.save_weights

        def half_written(model, path, *a, **k):
            save(model, path, *a, **k)
            if os.path.basename(path).startswith(".tmp-") and backup_epoch() == args[0]:
                os.truncate(path, os.path.getsize(path) // 2)  # the write was cut short
                die()
        keras.Model.save_weights = half_written
    elif kind == "after_weights":
        def killed_before_state(path, payload):
            if os.path.basename(path) == backup.STATE and payload["epoch"] == args[0] + 1:
                die()
            return write_json(path, payload)
        backup.write_json = killed_before_state
    else:
        raise ValueError(f"unknown mode {kind!r}")


def main(first, *rest):
    callbacks = []

    def place(mode):
        kind, *args = mode.split(":")
        install(kind, [int(a) for a in args], callbacks)

    if first == "--cli":
        place(rest[0])
        sys.exit(cli.main(list(rest[1:])))
    if first == "--study":
        from tests.experiments.test_study import study  # the tests' own settings

        place(rest[1])
        study(rest[0], models=rest[2].split(","), overwrite="--overwrite" in rest[3:])
        return
    with open(first, encoding="utf-8") as f:
        recipe = json.load(f)
    place(rest[0])
    run(recipe, verbose=0, callbacks=callbacks)


_epochs_backed_up = []


def backup_epoch():
    """The 0-based epoch whose backup is being written (save_weights runs once per epoch)."""
    _epochs_backed_up.append(None)
    return len(_epochs_backed_up) - 1


if __name__ == "__main__":
    main(*sys.argv[1:])
