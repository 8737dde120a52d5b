"""What the console shows: ``ae-zoo --help`` and ``list`` start without TensorFlow, and a
run prints no TensorFlow or absl log line."""

import csv
import json
import os
import re
import subprocess
import sys

import pytest

import ae_zoo
from ae_zoo import _catalog, data, models
from ae_zoo.training.pipeline import step_plan

#: A TensorFlow (and Keras) that cannot be imported, first on the path.
BROKEN = "raise ImportError('this test made {} unimportable')\n"
#: What TensorFlow's and absl's log lines look like (``I0000 00:00:...`` and friends).
LOG_LINE = re.compile(r"^([IWEF]\d{4} |WARNING: All log messages|WARNING:absl|.*cuda|.*oneDNN"
                      r"|.*tensorflow/|.*cpu_feature_guard)")


def _command(argv, env=None, cwd=None, timeout=120):
    env = {**os.environ, **(env or {})}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the command must quiet TensorFlow itself
    return subprocess.run([sys.executable, "-m", "ae_zoo", *argv], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=timeout)


@pytest.fixture(scope="module")
def without_tensorflow(tmp_path_factory):
    """PYTHONPATH putting a broken ``tensorflow`` and ``keras`` before the real ones."""
    root = tmp_path_factory.mktemp("no_tf")
    for name in ("tensorflow", "keras"):
        (root / name).mkdir()
        (root / name / "__init__.py").write_text(BROKEN.format(name))
    package_root = os.path.dirname(os.path.dirname(ae_zoo.__file__))
    return {"PYTHONPATH": os.pathsep.join([str(root), package_root])}


@pytest.mark.parametrize("argv", [["--help"], ["list"], ["train", "--help"]])
def test_help_and_list_run_without_tensorflow(argv, without_tensorflow):
    result = _command(argv, env=without_tensorflow)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "usage: ae-zoo" in result.stdout or "Models:" in result.stdout


def test_list_shows_every_model_and_dataset_in_one_plain_line(without_tensorflow):
    lines = _command(["list"], env=without_tensorflow).stdout.splitlines()
    for name in [*_catalog.MODELS, *_catalog.DATASETS]:
        assert any(line.split()[0] == name for line in lines if line.startswith("  "))
    assert not [line for line in lines if ":class:" in line or "``" in line]


def test_the_listing_is_the_registry_and_the_data_catalog():
    builtin = [n for n in models.names() if models.get(n).__module__.startswith("ae_zoo.models")]
    assert sorted(_catalog.MODELS) == builtin
    assert sorted(_catalog.DATASETS) == data.names()
    for name, summary in _catalog.MODELS.items():
        assert summary.startswith(models.get(name).__name__ + ": ")


def test_import_ae_zoo_still_registers_everything_at_once():
    """Outside the command, ``import ae_zoo`` is complete: the models are registered for
    keras.models.load_model and the training engine installed, before any attribute use."""
    code = ("import ae_zoo, keras, sys; "
            "print(keras.saving.get_registered_object('ae_zoo>VAE').__name__, "
            "type(sys.modules['ae_zoo.models'].Autoencoder.engine).__name__)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["VAE", "FastEngine"]


@pytest.fixture(scope="module")
def tiny_train(tmp_path_factory):
    """One ``ae-zoo train`` in a fresh interpreter, shared by the tests of its console."""
    out = tmp_path_factory.mktemp("console") / "run"
    result = _command(["train", "vae", "--dataset", "digits", "--steps", "7", "--batch-size",
                       "64", "--latent-dim", "2", "--iwae-samples", "2", "--out", str(out)],
                      timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result, out


def test_a_run_prints_no_tensorflow_or_absl_log_line(tiny_train):
    result, _ = tiny_train
    assert [line for line in result.stderr.splitlines() if LOG_LINE.match(line)] == []
    assert result.stderr.strip() == ""


def test_a_run_trains_exactly_the_steps_asked_and_names_every_file_it_wrote(tiny_train):
    result, out = tiny_train
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 7  # one epoch holds 21 batches of 64 here
    with open(out / "history.csv") as f:
        assert len(list(csv.DictReader(f))) == metrics["epochs"] == 1
    wrote = next(line for line in result.stdout.splitlines() if line.startswith("Wrote "))
    listed = wrote.split(": ", 1)[1].split(", ")
    assert listed == sorted(p.name + "/" * p.is_dir() for p in out.iterdir()
                            if not p.name.startswith("."))
    assert {"model.keras", "run.json", "metrics.json", "history.csv", "samples.png"} <= set(listed)


def test_a_run_shows_the_steps_after_training_and_closes_naming_its_figures(tiny_train):
    result, out = tiny_train
    lines = result.stdout.splitlines()
    steps = [line.strip() for line in lines if line.endswith(" ...")]
    assert steps == ["test metrics on 360 examples (-log p(x): 2 importance samples) ...",
                     "saving model.keras and metrics.json ...", "drawing the figures ..."]
    timed = next(line for line in lines if line.startswith("  after training: "))
    assert [part.split()[0] for part in timed.split(": ", 1)[1].split(", ")] == [
        "test", "saving", "figures"]  # each with its seconds
    figures = sorted(p.name for p in out.iterdir() if p.suffix in (".png", ".gif"))
    assert figures == ["reconstructions.png", "samples.png", "traversal_animation.gif"]
    start = next(i for i, line in enumerate(lines) if line.startswith("Figures (3) in "))
    closing = " ".join(line.strip() for line in lines[start:])  # the last lines, wrapped
    assert closing == f"Figures (3) in {out}/: {', '.join(figures)}"


@pytest.mark.parametrize("steps, epoch, plan", [(50, 29, (2, 25)), (7, 21, (1, 7)),
                                                (1000, 282, (4, 250)), (13, 5, (13, 1))])
def test_step_plan_makes_exactly_the_steps_in_whole_epochs(steps, epoch, plan):
    epochs, per_epoch = step_plan(steps, epoch)
    assert (epochs, per_epoch) == plan and epochs * per_epoch == steps and per_epoch <= epoch
