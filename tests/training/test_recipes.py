"""Recipes: validation that names the key, overrides, shipped recipes, resumable runs."""

import os

import keras
import numpy as np
import pytest
import yaml

from ae_zoo.training import recipes
from ae_zoo.training.recipes import RecipeError
from ae_zoo.experiments.train import run

TINY = {
    "model": {"name": "ae", "latent_dim": 2, "options": {"hidden_units": [16]}},
    "data": {"name": "digits"},
    "training": {"epochs": 1, "batch_size": 64, "jit_compile": False, "iwae_samples": 0},
    "callbacks": {"backup": False},
}


def tiny(**changes):
    return recipes.apply_overrides(TINY, [(k.split("."), v) for k, v in changes.items()])


def test_defaults_are_filled_in():
    r = recipes.validate(TINY)
    assert r["training"]["optimizer"] == {
        "name": "adam", "learning_rate": 1e-3, "beta_1": None, "beta_2": None,
        "momentum": None, "weight_decay": None, "clipnorm": None}
    assert r["name"] == "ae_digits" and r["out"] == os.path.join("runs", "ae_digits")
    assert r["callbacks"]["early_stopping"] is None and r["callbacks"]["terminate_on_nan"] is True


@pytest.mark.parametrize("change, key", [
    ({"trainig": {}}, "trainig"),
    ({"training.epoch": 3}, "training.epoch"),
    ({"training.batch_size": 0}, "training.batch_size"),
    ({"training.batch_size": "64"}, "training.batch_size"),
    ({"training.batch_size": True}, "training.batch_size"),
    ({"training.optimizer.learning_rate": -0.1}, "training.optimizer.learning_rate"),
    ({"training.optimizer.name": "adamax"}, "training.optimizer.name"),
    ({"training.mixed_precision": "float16"}, "training.mixed_precision"),
    ({"training.steps_per_execution": 0}, "training.steps_per_execution"),
    ({"training.jit_compile": "yes"}, "training.jit_compile"),
    ({"model.name": "no_such_model"}, "model.name"),
    ({"model.latent_dim": -2}, "model.latent_dim"),
    ({"model.architecture": "resnet"}, "model.architecture"),
    ({"model.options.beta": 4.0}, "model.options.beta"),
    ({"model.options.filters": [8]}, "model.options"),
    ({"model.options.latent_dim": 3}, "model.options.latent_dim"),
    ({"data.name": "imagenet"}, "data.name"),
    ({"callbacks.early_stopping.patience": -1}, "callbacks.early_stopping.patience"),
    ({"callbacks.tensorboard.every": 2}, "callbacks.tensorboard.every"),
])
def test_bad_recipes_name_the_key(change, key):
    raw = TINY
    for path, value in change.items():
        if isinstance(value, dict) and not value:
            raw = {**raw, path: value}
        else:
            raw = recipes.apply_overrides(raw, [(path.split("."), value)])
    with pytest.raises(RecipeError) as err:
        recipes.validate(raw)
    assert str(err.value).startswith(key), str(err.value)


def test_overrides_parse_yaml_values():
    r = recipes.apply_overrides(TINY, ["training.epochs=7", "model.options.hidden_units=[8, 4]",
                                       "callbacks.early_stopping.patience=2", "out=/tmp/x"])
    assert r["training"]["epochs"] == 7 and r["model"]["options"]["hidden_units"] == [8, 4]
    assert r["callbacks"]["early_stopping"] == {"patience": 2} and r["out"] == "/tmp/x"
    with pytest.raises(RecipeError, match="KEY=VALUE"):
        recipes.parse_override("training.epochs")


def test_every_shipped_recipe_validates():
    names = recipes.names()
    assert {"vae_mnist5k", "ae_mnist5k", "cvae_mnist5k"} <= set(names)
    for name in names:
        r = recipes.load(recipes.find(name))
        assert r["name"] == name


def test_load_reports_the_file_and_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**TINY, "training": {"batch_size": -1}}))
    with pytest.raises(RecipeError, match=r"bad.yaml: training.batch_size: must be >= 1"):
        recipes.load(path)
    with pytest.raises(FileNotFoundError, match="vae_mnist5k"):
        recipes.load(tmp_path / "missing.yaml")


class Interrupt(Exception):
    pass


class InterruptAfter(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise Interrupt()


@pytest.mark.parametrize("model, xla, steps_per_execution", [
    ("ae", False, 1),
    ("vae", True, 4),  # several steps in one XLA program (ae_zoo.training.fused)
])
def test_an_interrupted_run_resumes_to_the_same_weights(tmp_path, model, xla, steps_per_execution):
    base = tiny(**{"model.name": model, "training.epochs": 3, "training.jit_compile": xla,
                   "callbacks.backup": True, "training.steps_per_execution": steps_per_execution})
    straight = run({**base, "out": str(tmp_path / "straight")}, verbose=0)
    out = str(tmp_path / "resumed")
    with pytest.raises(Interrupt):
        run({**base, "out": out}, verbose=0, callbacks=[InterruptAfter(1)])
    assert os.path.isdir(os.path.join(out, "backup")) and not os.path.exists(
        os.path.join(out, "model.keras"))
    resumed = run({**base, "out": out}, verbose=0)
    assert int(resumed["model"].optimizer.iterations.numpy()) == int(
        straight["model"].optimizer.iterations.numpy())
    for a, b in zip(straight["model"].weights, resumed["model"].weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=a.path)
    with open(os.path.join(out, "history.csv")) as f:
        assert [line.split(",")[0] for line in f.read().splitlines()[1:]] == ["0", "1", "2"]


def test_steps_and_callbacks_from_the_recipe(tmp_path):
    r = tiny(**{"training.steps": 30, "training.steps_per_epoch": 10, "out": str(tmp_path / "r"),
                "callbacks.checkpoint": True,
                "callbacks.early_stopping": {"patience": 5, "monitor": "val_reconstruction_loss"}})
    result = run(r, verbose=0)  # a term Keras has no direction for: the recipe's mode, min
    assert result["metrics"]["steps"] == 30 and len(result["history"]["loss"]) == 3
    assert os.path.exists(tmp_path / "r" / "best.keras")


def test_validation_is_held_out_of_the_train_split_not_the_test_split(tmp_path):
    r = tiny(**{"out": str(tmp_path / "v"), "data.validation_split": 0.25,
                "callbacks.early_stopping": {"patience": 3}})
    result = run(r, verbose=0)
    metrics = result["metrics"]
    # digits: 1,437 train examples -> 25% (359) held out for validation; the test split
    # (360) is only used by the final evaluation.
    assert metrics["num_validation_examples"] == 359 and metrics["num_train_examples"] == 1078
    assert metrics["num_test_examples"] == 360 and "val_loss" in result["history"]
    with pytest.raises(RecipeError, match="callbacks.early_stopping.monitor"):
        recipes.validate(tiny(**{"data.validation_split": 0.0,
                                 "callbacks.early_stopping": {"patience": 3}}))


def test_image_dataset_hold_out_is_seeded_and_disjoint():
    from ae_zoo import data

    digits = data.load("digits")
    a, b = digits.hold_out(0.2, seed=3)
    a2, b2 = digits.hold_out(0.2, seed=3)
    np.testing.assert_array_equal(b.x, b2.x)
    assert len(a) + len(b) == len(digits) and len(b) == round(0.2 * len(digits))
    rows = {row.tobytes() for row in digits.x}
    assert {row.tobytes() for row in a.x} | {row.tobytes() for row in b.x} == rows
    assert not {row.tobytes() for row in a.x} & {row.tobytes() for row in b.x} or len(rows) < len(digits)
    np.testing.assert_array_equal(np.sort(np.concatenate([a.y, b.y])), np.sort(digits.y))
