"""ae_zoo.tuning: HyperModels for every model, search spaces, objectives, and `ae-zoo tune`."""

import contextlib
import io
import json
import math
import os
import re
import shutil

import keras
import keras_tuner
import numpy as np
import pytest
import yaml

from ae_zoo import cli, data
from ae_zoo._io import write_json
from ae_zoo.training import recipes
from ae_zoo.tuning import (
    AutoencoderHyperModel,
    default_objective,
    default_search_space,
    make_objective,
    make_tuner,
    resolve_search_space,
    tune,
)
from tests.experiments.test_lifecycle import killed

# keras-tuner 1.4.8's oracle calls threading.currentThread().getName(): its warnings, not ours.
pytestmark = [pytest.mark.filterwarnings("ignore:currentThread:DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:getName:DeprecationWarning")]

SHAPE = (8, 8, 1)
def _hypermodel(name, **kwargs):
    base = {"filters" if name == "conv_ae" else "hidden_units": [8, 4]}
    return AutoencoderHyperModel(name, SHAPE, base_options=base, num_classes=10,
                                 compile_options={"jit_compile": False}, **kwargs)


def test_the_default_space_is_centred_on_the_base_values():
    # every model's space holds these and its own (the shared battery: check_tuner)
    space = default_search_space("vae", latent_dim=10, learning_rate=1e-4)
    assert space["latent_dim"]["values"] == [5, 10, 20] and space["latent_dim"]["default"] == 10
    lr = space["learning_rate"]
    assert lr["sampling"] == "log" and lr["min"] == pytest.approx(1e-5) and lr["max"] == pytest.approx(1e-3)
    assert space["width_multiplier"]["values"] == [0.5, 1.0, 2.0]
    assert space["beta"] == {"type": "float", "min": 0.25, "max": 4.0, "sampling": "log",
                             "default": 1.0}


def test_recipe_tuning_section_overrides_the_default_space():
    overrides = {
        "latent_dim": [4, 8],                                        # a list: a choice
        "beta": {"type": "float", "min": "1e-1", "max": 2, "sampling": "log"},  # YAML's 1e-1 string
        "learning_rate": ["1e-4", "1e-3"],                           # YAML strings, parsed
        "likelihood": "gaussian",                                    # a scalar: fixed
        "hidden_units": [[16, 8], [32, 16]],                         # lists of sizes
    }
    space = resolve_search_space("vae", overrides)
    assert space["latent_dim"] == {"type": "choice", "values": [4, 8]}
    assert space["beta"]["min"] == 0.1 and space["beta"]["max"] == 2.0
    assert space["learning_rate"]["values"] == [1e-4, 1e-3]
    assert "beta" not in resolve_search_space("vae", {"beta": None})  # null: not searched
    assert space["likelihood"] == {"type": "fixed", "value": "gaussian"}
    assert space["hidden_units"]["values"] == ["16-8", "32-16"]
    assert "width_multiplier" not in space  # explicit widths replace the multiplier
    hypermodel = AutoencoderHyperModel("vae", SHAPE, search_space=overrides,
                                       compile_options={"jit_compile": False})
    hp = keras_tuner.HyperParameters()
    hypermodel.declare_hyperparameters(hp)
    hp.values["hidden_units"] = "32-16"
    model = hypermodel.build(hp)
    assert model.network_options["hidden_units"] == (32, 16) and model.likelihood == "gaussian"


@pytest.mark.parametrize("overrides, message", [
    ({"gamma": [1.0, 2.0]}, "tuning.gamma: vae has no hyperparameter"),
    ({"beta": {"type": "grid"}}, "tuning.beta.type"),
    ({"beta": {"type": "float", "min": 2, "max": 1}}, "must be below max"),
    ({"beta": {"type": "float", "min": 0, "max": 1, "sampling": "log"}}, "needs min > 0"),
    ({"latent_dim": []}, "non-empty list"),
    ({"latent_dim": {"type": "int", "min": 2}}, "tuning.latent_dim.max: required"),
    ({"beta": {"type": "choice", "values": [1, 2], "default": 3}}, "not one of the values"),
    ({"latent_dim": {"type": "choice", "values": [2, 4], "step": 1}}, "tuning.latent_dim.step"),
])
def test_bad_search_spaces_name_the_key(overrides, message):
    with pytest.raises(recipes.RecipeError, match=message):
        resolve_search_space("vae", overrides)


def test_objectives_have_explicit_directions():
    assert make_objective("val_loss") == keras_tuner.Objective("val_loss", "min")
    assert make_objective("val_reconstruction_loss").direction == "min"
    assert make_objective("val_elbo", "vae").direction == "max"
    assert make_objective("val_tc", "beta_tcvae").direction == "min"
    assert default_objective("factor_vae") == keras_tuner.Objective("val_elbo", "max")
    assert default_objective("sparse_ae").name == "val_reconstruction_loss"
    assert default_objective("denoising_ae").name == "val_loss"
    with pytest.raises(ValueError, match="ae logs: val_loss, val_reconstruction_loss"):
        make_objective("val_elbo", "ae")
    with pytest.raises(ValueError, match="Unknown objective 'val_capacity'"):
        make_objective("val_capacity", "annealed_vae")  # a schedule, not a quality


def test_cvae_hypermodel_trains_on_images_and_labels():
    train = data.load("digits", "train")
    hypermodel = _hypermodel("cvae", search_space={"latent_dim": [2]}, batch_size=64)
    hp = keras_tuner.HyperParameters()
    model = hypermodel.build(hp)
    history = hypermodel.fit(hp, model, train.x[:256], train.y[:256],
                             validation_data=(train.x[256:384], train.y[256:384]), epochs=1,
                             verbose=0)
    assert np.isfinite(history.history["val_elbo"][0]) and model.num_classes == 10
    with pytest.raises(ValueError, match="needs labels"):
        hypermodel.fit(hp, model, train.x[:256], epochs=1, verbose=0)


def test_hyperband_is_capped_by_max_trials(tmp_path):
    hypermodel = _hypermodel("ae")
    tuner = make_tuner("hyperband", hypermodel, make_objective("val_loss"), 3, epochs=3,
                       directory=str(tmp_path), project_name="hb")
    assert tuner.oracle.max_trials == 3 and tuner.oracle.max_epochs == 3


# --------------------------------------------------------------- ae-zoo tune
TINY_RECIPE = {
    "name": "tiny_vae",
    "model": {"name": "vae", "latent_dim": 2, "options": {"hidden_units": [8, 4]}},
    "data": {"name": "digits"},
    "training": {"epochs": 1, "batch_size": 64, "jit_compile": False, "iwae_samples": 0},
    "callbacks": {"backup": False, "csv_log": False},
    "tuning": {"latent_dim": [2, 3], "width_multiplier": [1.0, 2.0]},
}


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    root = tmp_path_factory.mktemp("tune")
    path = root / "tiny_vae.yaml"
    path.write_text(yaml.safe_dump(TINY_RECIPE))
    out = root / "search"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = cli.main(["tune", "--recipe", str(path), "--tuner", "random", "--max-trials", "2",
                         "--epochs", "1", "--out", str(out)])
    return code, path, out, printed.getvalue()


def _reloaded_tuner(recipe_path, out):
    recipe = recipes.load(recipe_path)
    hypermodel = AutoencoderHyperModel.from_recipe(recipe, SHAPE)
    return make_tuner("random", hypermodel, make_objective("val_elbo", "vae"), 2,
                      directory=str(out), project_name="search")


def test_two_trial_search_writes_retrains_and_exports_the_best(tuned):
    code, path, out, _ = tuned
    assert code == 0
    best = _reloaded_tuner(path, out).get_best_hyperparameters(1)[0].values
    written = recipes.load(out / "best_recipe.yaml")  # validates
    assert written["name"] == "tiny_vae_tuned"
    assert written["model"]["latent_dim"] == best["latent_dim"]
    assert written["model"]["options"]["beta"] == pytest.approx(best["beta"])
    assert written["training"]["optimizer"]["learning_rate"] == pytest.approx(best["learning_rate"])
    assert written["model"]["options"]["hidden_units"] == [round(w * best["width_multiplier"])
                                                           for w in (8, 4)]
    assert written["data"] == recipes.validate(TINY_RECIPE)["data"]  # the rest is the recipe's
    summary = json.loads((out / "tune.json").read_text())
    assert len(summary["trials"]) == 2 and summary["best"]["values"] == pytest.approx(best)
    assert summary["objective"] == "val_elbo" and summary["direction"] == "max"
    scores = [t["score"] for t in summary["trials"]]
    assert summary["best"]["score"] == max(scores)
    run = out / "best"
    run_info = json.loads((run / "run.json").read_text())
    assert run_info["recipe"]["model"] == written["model"]
    assert (run / "model.keras").exists() and (run / "metrics.json").exists()
    versions = [p for p in (run / "serving").iterdir() if p.name.isdigit()]
    assert len(versions) == 1 and (versions[0] / "saved_model.pb").exists()
    assert summary["export_path"] == str(versions[0])
    assert math.isfinite(summary["test_metrics"]["test_elbo"])


def test_the_best_trial_is_numbered_as_keras_tuner_showed_it_and_its_retrain_announced(tuned):
    _, _, out, printed = tuned
    shown = re.findall(r"Running Trial #(\d+)", printed)
    scores = dict(re.findall(r"Trial (\d+) Complete \[[^]]*\]\nval_elbo: (\S+)", printed))
    assert shown == ["1", "2"] and sorted(scores) == shown
    best = max(scores, key=lambda k: float(scores[k]))  # val_elbo: higher is better
    summary = json.loads((out / "tune.json").read_text())
    assert summary["best"]["trial"] == int(best)
    assert f"\nBest trial {best} of 2: val_elbo = " in printed
    assert f"# Trial {best}: val_elbo" in (out / "best_recipe.yaml").read_text()
    announced = printed.index(f"Retraining trial {best}'s values from scratch")
    assert announced < printed.index("test metrics on") < printed.index("Retrained in")


def test_a_finished_search_is_not_retrained_again(tuned, capsys):
    _, path, out, _ = tuned
    before = {p: p.stat().st_mtime_ns for p in (out / "best").rglob("*") if p.is_file()}
    code = cli.main(["tune", "--recipe", str(path), "--max-trials", "2", "--epochs", "1",
                     "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0 and "holds this search finished" in printed and "--overwrite" in printed
    assert f"Retrained in {out / 'best'}/" in printed
    assert "traversal_animation.gif" in printed.splitlines()[-1]  # its figures, written before
    assert {p: p.stat().st_mtime_ns for p in (out / "best").rglob("*") if p.is_file()} == before
    # more trials would replace the retrained best: refused, as any finished output (also
    # when not retraining: its best recipe would no longer be the one in best/)
    for flags in ([], ["--no-retrain"]):
        code = cli.main(["tune", "--recipe", str(path), "--max-trials", "3", "--epochs", "1",
                         "--out", str(out), *flags])
        err = capsys.readouterr().err
        assert code == 2 and "Pass --overwrite" in err and "2 trials, which 3" in err


def test_rerun_resumes_and_other_settings_are_refused(tuned, capsys):
    _, path, out, _ = tuned
    trials = sorted(p.name for p in (out / "search").glob("trial_*"))
    code = cli.main(["tune", "--recipe", str(path), "--max-trials", "2", "--epochs", "1",
                     "--out", str(out), "--no-retrain", "--verbose", "0"])
    assert code == 0 and sorted(p.name for p in (out / "search").glob("trial_*")) == trials
    code = cli.main(["tune", "--recipe", str(path), "--max-trials", "2", "--epochs", "2",
                     "--out", str(out), "--no-retrain"])
    assert code == 2 and "epochs differ" in capsys.readouterr().err


@pytest.mark.parametrize("kwargs, message", [
    ({"tuner": "grid"}, "Unknown tuner 'grid'; expected one of random, bayesian, hyperband"),
    ({"max_trials": 0}, "`max_trials` must be an integer >= 1"),
    ({"objective": "val_accuracy"}, "Unknown objective 'val_accuracy'; vae logs: val_loss"),
    ({"validation_split": 1.0}, "`validation_split` must be in"),
])
def test_bad_arguments_fail_before_searching(kwargs, message, tmp_path):
    out = tmp_path / "never"
    with pytest.raises(ValueError, match=message):
        tune(TINY_RECIPE, out=str(out), **kwargs)
    assert not out.exists()


def test_cli_rejects_bad_input_with_one_line(tmp_path, capsys):
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(TINY_RECIPE))
    with pytest.raises(SystemExit):
        cli.main(["tune", "--recipe", str(path), "--tuner", "grid"])
    assert "invalid choice: 'grid'" in capsys.readouterr().err
    code = cli.main(["tune", "--recipe", str(path), "--objective", "val_kl_typo",
                     "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2 and "Unknown objective 'val_kl_typo'" in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()


@pytest.mark.slow  # a subprocess (TensorFlow's import) and a search: keras-tuner's own resume
@pytest.mark.parametrize("mode", [
    "fit:2:0:3",      # inside the second trial (the first one saved)
    "trial_begin:2",  # between the two trials
])
def test_a_killed_search_resumes_to_the_uninterrupted_result(tuned, tmp_path, mode):
    _, path, reference, _ = tuned
    out = tmp_path / "search"
    command = ["tune", "--recipe", str(path), "--tuner", "random", "--max-trials", "2",
               "--epochs", "1", "--out", str(out), "--verbose", "0", "--no-retrain"]
    killed("--cli", mode, *command)  # (the retraining is a run: test_lifecycle kills those)
    assert not (out / "tune.json").exists()
    assert cli.main(command) == 0  # the same command again
    ours, theirs = (json.loads((o / "tune.json").read_text()) for o in (out, reference))
    assert [t["status"] for t in ours["trials"]] == ["COMPLETED", "COMPLETED"]
    assert [t["values"] for t in ours["trials"]] == [t["values"] for t in theirs["trials"]]
    assert [t["score"] for t in ours["trials"]] == pytest.approx(
        [t["score"] for t in theirs["trials"]], rel=1e-6)
    assert ours["best"]["trial_id"] == theirs["best"]["trial_id"]
    recipe, expected = (recipes.load(o / "best_recipe.yaml") for o in (out, reference))
    assert {**recipe, "out": None} == {**expected, "out": None}


def _finished_search(tuned, tmp_path, best=False):
    """A copy of the tuned search (with its retrained best/, not exported, if ``best``) and the
    command that made it."""
    _, path, reference, _ = tuned
    out = tmp_path / "search"
    shutil.copytree(reference / "search", out / "search")
    shutil.copy(reference / "tune_settings.json", out)
    if best:  # as a kill in its export leaves it (the hidden folder aside)
        shutil.copy(reference / "best_recipe.yaml", out)
        shutil.copytree(reference / "best", out / "best", ignore=shutil.ignore_patterns("serving"))
    return out, ["tune", "--recipe", str(path), "--tuner", "random", "--max-trials", "2",
                 "--epochs", "1", "--out", str(out), "--verbose", "0"]


def test_a_larger_max_trials_extends_a_search_not_retrained_yet(tuned, tmp_path):
    out, command = _finished_search(tuned, tmp_path)
    command[command.index("--max-trials") + 1] = "3"
    assert cli.main(command + ["--no-retrain"]) == 0
    ours, theirs = (json.loads((o / "tune.json").read_text()) for o in (out, tuned[2]))
    assert [t["trial"] for t in ours["trials"]] == [1, 2, 3]
    assert ours["trials"][:2] == theirs["trials"]  # kept, not searched again


def test_a_tune_killed_while_exporting_its_best_only_exports_it(tuned, tmp_path, capsys):
    out, command = _finished_search(tuned, tmp_path, best=True)
    best, trials = out / "best", sorted(os.listdir(out / "search"))
    stamp = (best / "model.keras").stat().st_mtime_ns
    for _ in range(2):  # the same command: exported, not trained again; then nothing to do
        assert cli.main(command) == 0
        assert sorted(os.listdir(best / "serving")) == ["1", "README.md", "card.json"]
    assert (best / "model.keras").stat().st_mtime_ns == stamp
    assert sorted(os.listdir(out / "search")) == trials  # not searched again
    summary = json.loads((out / "tune.json").read_text())
    assert summary["export_path"] == str(best / "serving" / "1")
    card = json.loads((best / "serving" / "1" / "card.json").read_text())
    assert card["recipe_config"] == json.loads((best / "run.json").read_text())["recipe"]
    # A best/ that is not this search's is refused, before searching, naming what differs.
    info = json.loads((best / "run.json").read_text())
    info["recipe"]["training"]["seed"] += 1
    write_json(best / "run.json", info)
    assert cli.main(command) == 2
    err = capsys.readouterr().err
    assert f"{best} holds the retrained best of another search (training.seed: was " in err
    assert "--overwrite" in err and "Traceback" not in err


@pytest.mark.slow  # a subprocess (TensorFlow's import), a retraining and an export
@pytest.mark.parametrize("mode", [
    "export_write",  # best/ retrained whole; its SavedModel half written
    "run_metrics",   # best/model.keras saved, its metrics.json not: best/ trained again
])
def test_a_tune_killed_after_its_search_ends_with_the_uninterrupted_result(tuned, tmp_path, mode):
    out, command = _finished_search(tuned, tmp_path)
    best, reference = out / "best", tuned[2] / "best"
    killed("--cli", mode, *command)
    assert (best / "model.keras").exists()
    assert "export_path" not in json.loads((out / "tune.json").read_text())
    assert (best / "metrics.json").exists() == (mode == "export_write")
    assert cli.main(command) == 0  # the same command again
    assert sorted(n for n in os.listdir(best / "serving") if not n.startswith(".")) == [
        "1", "README.md", "card.json"]
    for a, b in zip(*(keras.models.load_model(r / "model.keras").weights for r in (best, reference))):
        np.testing.assert_array_equal(a, b)
