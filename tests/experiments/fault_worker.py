"""A training run that kills itself (SIGKILL: no cleanup, no exception handler) at a chosen
moment, for the fault-injection tests: ``python fault_worker.py RECIPE.json MODE``.

MODE ``mid_epoch:E:B``: after batch B of epoch E (0-based; the run's steps_per_execution
is 1). ``backup_write:E``: while the backup after epoch E is half written (the weights
file is being written under its temporary name). ``after_weights:E``: after the backup's
weights file of epoch E is in place but before its state.json names it.
"""

import json
import os
import signal
import sys

import keras

from ae_zoo._io import write_json
from ae_zoo.experiments.train import run
from ae_zoo.training import backup


def die():
    os.kill(os.getpid(), signal.SIGKILL)


class KillMidEpoch(keras.callbacks.Callback):
    def __init__(self, epoch, batch):
        super().__init__()
        self.epoch, self.batch, self.current = epoch, batch, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.current, batch) == (self.epoch, self.batch):
            die()


def main(recipe_path, mode):
    with open(recipe_path, encoding="utf-8") as f:
        recipe = json.load(f)
    kind, *args = mode.split(":")
    args = [int(a) for a in args]
    callbacks = []
    if kind == "mid_epoch":
        callbacks.append(KillMidEpoch(*args))
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
    run(recipe, verbose=0, callbacks=callbacks)


_epochs_backed_up = []


def backup_epoch():
    """The 0-based epoch whose backup is being written (save_weights runs once per epoch)."""
    _epochs_backed_up.append(None)
    return len(_epochs_backed_up) - 1


if __name__ == "__main__":
    main(*sys.argv[1:])
