"""Crash-safe backups of a run, so that an interrupted run resumes where it stopped.

:class:`RunBackup` writes, after every finite epoch, the weights (model, optimizer, seed
state) to ``backup/epoch-N.weights.h5`` under a temporary name renamed when complete, then
``backup/state.json`` (atomically) naming that file and the one before it, then removes
older files. A kill at any moment leaves ``state.json`` naming complete files. On resume
the latest copy is loaded; an unreadable one is reported with its path and the previous
one is used. ``state.json`` also records what the run is (its recipe, seed and code
versions): :func:`check_backup` refuses a backup of another run, naming the keys.
"""

import os
import shutil
import warnings

import keras

from ae_zoo._io import atomic_path, read_json, write_json

STATE = "state.json"
#: Recipe keys that do not change the trained weights: a resume may differ in them.
IGNORED_KEYS = ("out", "name", "description", "export", "tuning", "training.iwae_samples",
                "data.evaluation_examples")


class BackupError(ValueError):
    """A backup that cannot be resumed: unreadable, or of another run."""


def flatten(tree, prefix=""):
    """``{"a.b": leaf}`` for a nested dict."""
    out = {}
    for key, value in (tree or {}).items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, path + "."))
        else:
            out[path] = value
    return out


def fingerprint(recipe, versions):
    """What a backup must agree on to be resumed: the recipe's keys that shape training
    (flattened, JSON values) and the code versions."""
    keys = {k: v for k, v in flatten(recipe).items()
            if not any(k == i or k.startswith(i + ".") for i in IGNORED_KEYS)}
    return {"recipe": keys, "versions": dict(versions)}


def key_differences(old, new):
    """The keys in which two flat dicts differ, sorted, as ``"key: was X, now Y"``."""
    return [f"{key}: was {old.get(key)!r}, now {new.get(key)!r}"
            for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)]


def differences(old, new):
    """The dotted keys in which two fingerprints differ, as ``"key: was X, now Y"``."""
    old = old or {}
    versions = [{f"{k} version": v for k, v in (part or {}).items()}
                for part in (old.get("versions"), new["versions"])]
    return key_differences(old.get("recipe") or {}, new["recipe"]) + key_differences(*versions)


def check_backup(directory, expected, restart=False):
    """Clears ``directory`` when ``restart``; else returns its state (None when there is
    nothing to resume) after checking it belongs to the run ``expected`` describes."""
    if restart:
        shutil.rmtree(directory, ignore_errors=True)
        return None
    path = os.path.join(directory, STATE)
    if not os.path.isdir(directory):
        return None
    try:
        state = read_json(path)
    except (OSError, ValueError) as err:
        raise BackupError(f"the backup {path} is unreadable ({err}); rerun with --restart to "
                          "train from the start") from None
    if state is None:  # killed before the first backup was complete: nothing to resume
        return None
    diff = differences(state.get("fingerprint"), expected)
    if diff:
        raise BackupError(
            f"{directory} holds the backup of another run ({'; '.join(diff)}). Rerun the "
            "original command to resume it, or pass --restart to discard it and train from "
            "the start.")
    return state


class RunBackup(keras.callbacks.Callback):
    """Backs the run up after every finite epoch and restores the latest readable backup
    when training begins (see the module docstring). ``history``: a CSV log whose rows of
    epochs after the restored one are dropped on resume (they will be rerun)."""

    needs_every_step = False

    def __init__(self, directory, expected, guard=None, history=None):
        super().__init__()
        self.directory, self.expected, self.guard, self.history = directory, expected, guard, history
        self.state = None

    def on_train_begin(self, logs=None):
        state = read_json(os.path.join(self.directory, STATE)) if os.path.isdir(self.directory) else None
        if not state:
            return
        for entry in (state, state.get("previous")):
            if not entry:
                continue
            path = os.path.join(self.directory, entry["weights"])
            try:
                self.model.load_weights(path)
            except Exception as err:  # noqa: BLE001  (h5py raises OSError, Keras ValueError)
                warnings.warn(f"The backup {path} is unreadable ({err}); trying the copy before it.")
                continue
            self.model._initial_epoch = int(entry["epoch"])  # Keras' resume hook (as BackupAndRestore)
            self.state = {"epoch": int(entry["epoch"]), "weights": entry["weights"], "previous": None}
            _trim_history(self.history, int(entry["epoch"]))
            return
        raise BackupError(f"no copy in the backup {self.directory} is readable; rerun with "
                          "--restart to train from the start")

    def on_epoch_end(self, epoch, logs=None):
        if self.guard is not None and self.guard.diverged is not None:
            return  # keep the last finite backup
        os.makedirs(self.directory, exist_ok=True)
        name = f"epoch-{epoch + 1}.weights.h5"
        with atomic_path(os.path.join(self.directory, name), ".weights.h5") as tmp:
            self.model.save_weights(tmp)
        previous = self.state and {"epoch": self.state["epoch"], "weights": self.state["weights"]}
        self.state = {"epoch": epoch + 1, "weights": name, "previous": previous,
                      "fingerprint": self.expected}
        write_json(os.path.join(self.directory, STATE), self.state)
        keep = {STATE, name, previous and previous["weights"]}
        for stale in os.listdir(self.directory):
            if stale not in keep:  # older copies, and temporary files of a killed write
                _remove(os.path.join(self.directory, stale))


def _remove(path):
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.exists(path):
        os.remove(path)


def _trim_history(path, epochs):
    """Keeps the header and the rows of the first ``epochs`` epochs of a CSV log."""
    if not path or not os.path.isfile(path):
        return
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines(keepends=True)
    rows = [line for line in lines[1:] if line.split(",", 1)[0].strip().isdigit()
            and int(line.split(",", 1)[0]) < epochs]
    with open(path, "r+", encoding="utf-8") as f:  # in place: the CSV logger holds it open
        f.write("".join(lines[:1] + rows))
        f.truncate()
