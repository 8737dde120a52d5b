"""A run's life cycle under faults: killed (SIGKILL in a subprocess) mid-epoch and while its
backup is written, a corrupted backup, a backup of another run, a finished run trained
into again, a diverged run, two exports into one model folder. Each rerun must end with
the weights of an uninterrupted run or stop with a message that names the problem."""

import json
import os
import re
import shutil
import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest

from ae_zoo import cli, load_pretrained
from ae_zoo._io import DamagedFile, exchange_paths, write_json
from ae_zoo.evaluation import feature_networks
from ae_zoo.experiments import evaluate_run
from ae_zoo.experiments.train import run
from ae_zoo.export import export_run
from ae_zoo.export.card import load_run
from ae_zoo.models import from_preset
from ae_zoo.training import recipes
from ae_zoo.training.backup import BackupError
from tests.training.test_recipes import Interrupt, InterruptAfter

WORKER = os.path.join(os.path.dirname(__file__), "fault_worker.py")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# 3 epochs of 6 batches, one step per execution (so a kill can land after any batch)
TINY = {
    "model": {"name": "ae", "latent_dim": 2, "options": {"hidden_units": [16]}},
    "data": {"name": "digits"},
    "training": {"epochs": 3, "batch_size": 256, "jit_compile": False, "iwae_samples": 0,
                 "steps_per_execution": 1, "seed": 3},
    "callbacks": {"backup": True},
}


def recipe(out, **changes):
    return recipes.apply_overrides({**TINY, "out": str(out)},
                                   [(k.split("."), v) for k, v in changes.items()])


def weights(model_or_path):
    model = keras.models.load_model(model_or_path) if isinstance(model_or_path, (str, os.PathLike)) \
        else model_or_path
    return [np.asarray(w) for w in model.weights]


def assert_same_run(out, reference):
    """``out`` finished with the reference run's weights and a full history, no leftovers."""
    for a, b in zip(weights(os.path.join(out, "model.keras")), reference):
        np.testing.assert_array_equal(a, b)
    with open(os.path.join(out, "history.csv")) as f:
        assert [line.split(",")[0] for line in f.read().splitlines()[1:]] == ["0", "1", "2"]
    assert not os.path.exists(os.path.join(out, "backup"))
    assert not [n for n in os.listdir(out) if n.startswith(".")]


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    out = tmp_path_factory.mktemp("straight") / "run"
    result = run(recipe(out), verbose=0)
    return out, weights(result["model"])


def interrupted(out, epoch, **changes):
    with pytest.raises(Interrupt):
        run(recipe(out, **changes), verbose=0, callbacks=[InterruptAfter(epoch)])
    with open(os.path.join(out, "backup", "state.json")) as f:
        return json.load(f)


def killed(*argv):
    """Runs ``fault_worker.py ARGV...`` and checks that it was killed (SIGKILL) as planned."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]),
               TF_CPP_MIN_LOG_LEVEL="3")
    process = subprocess.run([sys.executable, WORKER, *map(str, argv)], env=env, timeout=300,
                             capture_output=True, text=True)
    assert process.returncode == -9, process.stdout[-2000:] + process.stderr[-2000:]


@pytest.mark.parametrize("mode", [
    # killed after batch 3 of epoch 2 (epoch 1 is backed up): resumes from the backup the
    # backup_write case resumes from too
    pytest.param("mid_epoch:1:2", marks=pytest.mark.slow),
    "backup_write:1",    # killed with epoch 2's weights half written
    pytest.param("after_weights:1", marks=pytest.mark.slow),  # weights written, state.json not
])
def test_a_killed_run_resumes_to_the_uninterrupted_weights(straight, tmp_path, mode):
    out = tmp_path / "run"
    path = tmp_path / "recipe.json"
    write_json(path, recipe(out))
    killed(path, mode)
    assert not os.path.exists(out / "model.keras")
    run(recipe(out), verbose=0)  # the same command again
    assert_same_run(out, straight[1])


def test_corrupted_other_and_finished_runs(straight, tmp_path):
    out = tmp_path / "run"
    state = interrupted(out, 1)
    assert state["epoch"] == 2 and state["previous"]["epoch"] == 1
    # Another seed (or recipe, or code version) does not resume this backup.
    with pytest.raises(BackupError, match=r"training\.seed: was 3, now 4.*--restart"):
        run(recipe(out, **{"training.seed": 4}), verbose=0)
    with open(out / "run.json") as f:
        assert json.load(f)["recipe"]["training"]["seed"] == 3
    # A half-written latest copy: reported with its path, the copy before it resumes.
    latest = out / "backup" / state["weights"]
    os.truncate(latest, os.path.getsize(latest) // 2)
    with pytest.warns(UserWarning, match=f"{latest.name} is unreadable"):
        run(recipe(out), verbose=0)
    assert_same_run(out, straight[1])
    # A finished run is not replaced without overwrite.
    with pytest.raises(FileExistsError, match="model.keras already exists.*--overwrite"):
        run(recipe(out, **{"training.seed": 4}), verbose=0)
    run(recipe(out, **{"training.seed": 4, "training.epochs": 1}), verbose=0, overwrite=True)
    with open(out / "run.json") as f:
        assert json.load(f)["recipe"]["training"]["seed"] == 4
    with open(out / "history.csv") as f:
        assert len(f.read().splitlines()) == 2  # the old run's rows are gone


def test_an_unreadable_backup_is_named_and_restart_starts_over(straight, tmp_path, capsys):
    out = tmp_path / "run"
    state = interrupted(out, 0)
    latest = out / "backup" / state["weights"]
    os.truncate(latest, 1000)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(BackupError, match=r"no copy in the backup .* is readable.*--restart"):
            run(recipe(out), verbose=0)
    assert any(f"{latest} is unreadable" in str(w.message) for w in caught)
    (out / "backup" / "state.json").write_text("{not json")
    path = tmp_path / "recipe.yaml"
    path.write_text(json.dumps(recipe(out)))
    assert cli.main(["train", "--recipe", str(path)]) == 2
    assert "state.json is unreadable" in capsys.readouterr().err
    assert cli.main(["train", "--recipe", str(path), "--restart"]) == 0
    assert_same_run(out, straight[1])
    assert cli.main(["train", "--recipe", str(path)]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_a_diverged_run_fails_and_publishes_nothing(tmp_path, capsys):
    out = tmp_path / "nan"
    code = cli.main(["train", "vae", "--dataset", "digits", "--epochs", "2", "--learning-rate",
                     "100", "--xla", "off", "--out", str(out), "--iwae-samples", "0",
                     "--set", "training.optimizer.name=sgd", "--set", "training.batch_size=256",
                     "--set", "training.steps_per_execution=1", "--set", "callbacks.checkpoint=true",
                     "--set", "export.dir=serving"])
    err = capsys.readouterr().err
    assert code == 3 and "Traceback" not in err
    assert "training diverged" in err and "at epoch 1, batch " in err
    assert "learning rate" in err and "clipnorm" in err and "mixed_precision" in err
    for name in ("model.keras", "best.keras", "metrics.json", "serving", "history.csv"):
        assert not (out / name).exists(), name
    assert str(out / "last_finite.keras") in err
    assert all(np.all(np.isfinite(w)) for w in weights(out / "last_finite.keras"))
    json.loads((out / "run.json").read_text(), parse_constant=pytest.fail)  # strict JSON


def test_json_files_are_strict(tmp_path):
    path = write_json(tmp_path / "m.json", {"a": float("nan"), "b": [np.float32("inf"), 1.5],
                                            "c": np.int64(2), "d": (1, None)})
    loaded = json.loads(path.read_text(), parse_constant=pytest.fail)
    assert loaded == {"a": None, "b": [None, 1.5], "c": 2, "d": [1, None]}


def other_run(straight, root):
    """The straight run's model in a run directory that records seed 99: its exports' cards
    tell them apart."""
    other = root / "other"
    other.mkdir()
    for name in ("model.keras", "metrics.json"):
        (other / name).write_bytes((straight[0] / name).read_bytes())
    info = json.loads((straight[0] / "run.json").read_text())
    info["recipe"]["training"]["seed"] = 99
    write_json(other / "run.json", info)
    return other


def test_one_card_per_version_and_stale_exports(straight, tmp_path, capsys):
    other = other_run(straight, tmp_path)
    zoo = tmp_path / "zoo" / "m"
    stale = zoo / ".export-999999999-abc"  # left by a killed export (no such process)
    stale.mkdir(parents=True)
    export_run(straight[0], zoo, warmup=False)
    assert not stale.exists()
    export_run(other, zoo, warmup=False)
    first, second = load_pretrained(zoo, version=1).card, load_pretrained(zoo, version=2).card
    assert (first["version"], first["seed"]) == (1, 3) and (second["version"], second["seed"]) == (2, 99)
    assert first["source"].endswith(os.path.join("run", "model.keras"))
    assert load_pretrained(zoo).card == second
    # An existing version is replaced only on request.
    assert cli.main(["export", str(other), "--out", str(zoo), "--version", "1", "--no-warmup"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert cli.main(["export", str(other), "--out", str(zoo), "--version", "1", "--no-warmup",
                     "--overwrite"]) == 0
    assert load_pretrained(zoo, version=1).card["seed"] == 99
    assert sorted(os.listdir(zoo)) == ["1", "2", "README.md", "card.json"]


def test_a_damaged_keras_file_is_named_wherever_it_is_loaded(straight, tmp_path, capsys):
    run_dir = tmp_path / "run"
    shutil.copytree(straight[0], run_dir, ignore=shutil.ignore_patterns("evaluation"))
    path = run_dir / "model.keras"
    size = os.path.getsize(path)
    loaders = {
        "from_preset": lambda: from_preset(path),
        "load_run": lambda: load_run(run_dir),
        "evaluate_run": lambda: evaluate_run(run_dir, out=tmp_path / "ev", figures=False),
        "feature network": lambda: feature_networks.load(path),
    }
    for damage in ("truncated", "flipped"):
        if damage == "truncated":  # a write or copy cut short
            os.truncate(path, size // 2)
        else:  # same size, bytes inside the weights overwritten
            shutil.copy(straight[0] / "model.keras", path)
            with open(path, "r+b") as f:
                f.seek(size // 2)
                f.write(b"\0" * 64)
        for name, load in loaders.items():
            with pytest.raises(DamagedFile, match=f"{re.escape(str(path))} is damaged") as info:
                load()
            assert "File not found" not in str(info.value), name
        for command in (["evaluate", str(run_dir), "--out", str(tmp_path / "ev")],
                        ["export", str(run_dir), "--out", str(tmp_path / "zoo")]):
            assert cli.main(command) == 2
            err = capsys.readouterr().err
            assert f"{path} is damaged" in err and "Traceback" not in err
    assert not (tmp_path / "ev").exists() and not (tmp_path / "zoo").exists()
    os.remove(path)
    with pytest.raises(FileNotFoundError, match="model.keras"):
        load_run(run_dir)


@pytest.mark.parametrize("mode", [
    "export_write",  # the version's SavedModel half written in its hidden folder
    pytest.param("export_card", marks=pytest.mark.slow),  # published; the folder's card not yet
])
def test_a_killed_export_leaves_no_half_version(straight, tmp_path, mode):
    zoo = tmp_path / "zoo" / "m"
    command = ["export", str(straight[0]), "--out", str(zoo), "--no-warmup"]
    killed("--cli", mode, *command)
    hidden = [n for n in os.listdir(zoo) if n.startswith(".export-")]
    if mode == "export_write":
        assert hidden and not [n for n in os.listdir(zoo) if n.isdigit()]
    else:  # version 1 is whole, with its own card; the folder's card is the next export's
        assert not hidden and sorted(os.listdir(zoo)) == ["1"]
        assert load_pretrained(zoo, version=1).card["seed"] == 3
    assert cli.main(command) == 0  # the same command again
    versions = sorted(n for n in os.listdir(zoo) if n.isdigit())
    assert versions == (["1"] if mode == "export_write" else ["1", "2"])
    assert sorted(n for n in os.listdir(zoo) if not n.isdigit()) == ["README.md", "card.json"]
    for version in versions:  # every version whole: its card, its SavedModel, its Keras model
        card = load_pretrained(zoo, version=int(version)).card
        assert (card["version"], card["seed"]) == (int(version), 3)
        for a, b in zip(weights(from_preset(zoo, version=int(version))), straight[1]):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("mode", [
    "export_aside",  # paths cannot be exchanged: the old version set aside, the new one not in
    pytest.param("export_exchanged", marks=pytest.mark.slow),  # the old one not yet removed
])
def test_an_export_killed_while_replacing_a_version_leaves_one(straight, tmp_path, mode):
    if mode == "export_exchanged" and not exchange_paths(tmp_path, tmp_path):
        pytest.skip("this file system cannot exchange paths")
    zoo = tmp_path / "zoo" / "m"
    export_run(straight[0], zoo, warmup=False)
    command = ["export", str(other_run(straight, tmp_path)), "--out", str(zoo), "--version", "1",
               "--no-warmup", "--overwrite"]
    killed("--cli", mode, *command)
    published = "1" in os.listdir(zoo)
    assert published == (mode == "export_exchanged")  # set aside: back at the next load
    assert load_pretrained(zoo, version=1).card["seed"] == (3 if mode == "export_aside" else 99)
    assert cli.main(command) == 0  # the same command again
    assert sorted(os.listdir(zoo)) == ["1", "README.md", "card.json"]
    assert json.loads((zoo / "1" / "card.json").read_text())["seed"] == 99
