"""`ae-zoo study`: 2 models x 2 seeds on a dSprites subset, a few steps, tiny metrics."""

import csv
import json
import os
import shutil
import struct

import numpy as np
import pytest
from scipy.stats import f_oneway

import ae_zoo.experiments.study as study_module
from ae_zoo import cli
from ae_zoo.evaluation import HEADLINE_SCORES, compute_all
from ae_zoo.evaluation.disentanglement import ALL_METRICS
from ae_zoo.experiments import run_study, study_recipe, variance_shares
from ae_zoo.experiments.study import HEADLINE_LABELS, steps_per_epoch
from ae_zoo.experiments.study_report import RESULTS_FILE
from tests.experiments._tiny import PNG, TINY_METRICS
from tests.experiments.test_lifecycle import killed

MODELS, SEEDS = ["vae", "beta_vae"], [0, 1]
# the dSprites recipes' conv networks, shrunk; 128 examples per split
TINY_RECIPE = ["data.options.num_samples=128", "model.options.filters=[4,4]",
               "model.options.dense_units=[16]", "model.latent_dim=3", "training.batch_size=16",
               "training.jit_compile=false"]


def study(out, log=None, **kwargs):
    options = dict(models=MODELS, seeds=SEEDS, dataset="dsprites", steps=2, out=out,
                   metric_settings=TINY_METRICS, overrides=TINY_RECIPE, log=log,
                   hparam_points=None)
    options.update(kwargs)
    return run_study(**options)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    lines = []
    result = study(out, log=lines.append)
    return out, result, lines


def read_rows(out):
    with open(out / "results.csv", newline="") as f:
        return list(csv.DictReader(f))


def scores(rows):
    """Each row's run and scores (every column but the times)."""
    return [{k: v for k, v in r.items() if "." in k or k in ("model", "seed", "setup", "udr")}
            for r in rows]


def test_results_csv_has_a_row_per_run_with_every_metric(finished):
    out, result, lines = finished
    rows = read_rows(out)
    assert [(r["model"], int(r["seed"])) for r in rows] == [
        ("vae", 0), ("vae", 1), ("beta_vae", 0), ("beta_vae", 1)]
    prefixes = {c.split(".")[0] for c in rows[0] if "." in c}
    assert prefixes == set(ALL_METRICS)
    assert {"mig.mig", "dci.disentanglement", "sap.sap", "beta_vae_score.eval_accuracy",
            "factor_vae_score.eval_accuracy", "modularity_explicitness.modularity",
            "unsupervised_scores.gaussian_total_correlation"} <= set(rows[0])
    for row in rows:
        run_dir = out / f"{row['model']}_seed{row['seed']}"
        assert (run_dir / "model.keras").is_file()
        saved = json.loads((run_dir / "disentanglement.json").read_text())
        assert saved["steps"] == int(row["steps"]) == 2
        for key, value in saved["scores"].items():
            assert float(row[key]) == pytest.approx(value, rel=1e-12)
        run_json = json.loads((run_dir / "run.json").read_text())
        assert run_json["recipe"]["training"]["seed"] == int(row["seed"])
        assert run_json["recipe"]["training"]["iwae_samples"] == 0
        assert run_json["recipe"]["export"] is None
    # progress: which run, and an ETA
    assert any(line.startswith("[1/4] vae seed 0: training 2 steps") for line in lines)
    assert any("[4/4] beta_vae seed 1:" in line and "ETA" in line for line in lines)


def test_scores_are_those_of_compute_all_on_the_saved_model(finished):
    import keras

    from ae_zoo import data

    out, result, _ = finished
    model = keras.models.load_model(out / "beta_vae_seed1" / "model.keras", compile=False)
    settings = {k: v for k, v in TINY_METRICS.items() if k != "batch_size"}
    again = compute_all(data.load("dsprites", "test", num_samples=128).ground_truth,
                        lambda x: np.asarray(model.encode(x)), 0, metrics=["mig", "sap"],
                        batch_size=64, **settings)
    saved = json.loads((out / "beta_vae_seed1" / "disentanglement.json").read_text())["scores"]
    for key, value in again.items():
        assert saved[key] == pytest.approx(value, rel=1e-6, abs=1e-9), key


def test_summary_is_mean_and_std_over_seeds(finished):
    out, result, _ = finished
    rows = read_rows(out)
    saved = json.loads((out / "study.json").read_text())
    assert saved["summary"] == result["summary"]
    for model in MODELS:
        for column in result["headline_columns"] + ["dci.completeness"]:
            values = np.array([float(r[column]) for r in rows if r["model"] == model])
            entry = saved["summary"][model][column]
            assert entry["n"] == 2
            assert entry["mean"] == pytest.approx(values.mean(), rel=1e-9, abs=1e-12)
            assert entry["std"] == pytest.approx(values.std(ddof=1), rel=1e-9, abs=1e-12)
    markdown = (out / "results.md").read_text()
    mean, std = (saved["summary"]["vae"]["mig.mig"][k] for k in ("mean", "std"))
    assert f"{mean:.3f} +- {std:.3f}" in markdown
    assert saved["conclusion"] in markdown


def test_variance_shares_equal_a_numpy_anova(finished):
    out, result, _ = finished
    rows = read_rows(out)
    assert set(result["variance_shares"]) == set(result["headline_columns"])
    for column, shares in result["variance_shares"].items():
        y = np.array([float(r[column]) for r in rows])
        groups = [y[[r["model"] == m for r in rows]] for m in MODELS]
        total = np.sum((y - y.mean()) ** 2)
        between = sum(len(g) * (g.mean() - y.mean()) ** 2 for g in groups)
        if total == 0:
            assert shares["model_share"] is None
            continue
        assert shares["model_share"] == pytest.approx(between / total, rel=1e-9, abs=1e-12)
        assert shares["seed_share"] == pytest.approx(1 - between / total, rel=1e-9, abs=1e-12)


def test_plots_are_pngs_named_in_the_closing_lines(finished):
    out, result, lines = finished
    assert len(result["figures"]) == len(result["headline_columns"]) + 1
    for file in result["figures"].values():
        assert (out / file).read_bytes()[:8] == PNG
    assert "box_mig.png" in result["figures"].values()
    width = {f: struct.unpack(">I", (out / f).read_bytes()[16:20])[0]
             for f in ("box_mig.png", "box_modularity_explicitness.png")}
    assert width["box_modularity_explicitness.png"] > 1.5 * width["box_mig.png"]  # two panels
    start = next(i for i, line in enumerate(lines) if line.startswith("Figures ("))
    listed = " ".join(line.strip() for line in lines[start:-1]).split(": ", 1)[1].split(", ")
    assert sorted(listed) == sorted(p.name for p in out.iterdir() if p.suffix == ".png")
    run_dir = out / "vae_seed0"  # and the last line names what each run drew in its folder
    assert lines[-1] == (f"Each run's folder ({run_dir}/, ...) holds its own figures: "
                         "reconstructions.png, samples.png, traversal_animation.gif")


def test_resuming_skips_finished_runs(finished, monkeypatch):
    out, result, _ = finished
    files = [out / f"{m}_seed{s}" / n for m in MODELS for s in SEEDS
             for n in ("model.keras", "disentanglement.json")]
    before = [f.stat().st_mtime_ns for f in files]

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(study_module, "run", no_training)
    lines = []
    again = study(out, log=lines.append)
    assert [f.stat().st_mtime_ns for f in files] == before
    assert sum("finished earlier, skipped" in line for line in lines) == 4
    assert again["summary"] == result["summary"]
    # (a trained run without its scores is only scored: the study killed while scoring, below)


def test_bad_requests_fail_before_training(finished, tmp_path, monkeypatch):
    out, _, _ = finished
    monkeypatch.setattr(study_module, "run", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(ValueError, match="no recipe recipes/cvae_dsprites.yaml"):
        study(tmp_path / "a", models="vae,cvae")
    with pytest.raises(ValueError, match="no ground-truth factors"):
        run_study(["vae"], [0], "mnist5k", steps=2, out=tmp_path / "b")
    with pytest.raises(FileExistsError, match="training.steps = 2, not 3.*--overwrite"):
        study(out, steps=3)
    with pytest.raises(ValueError, match="duplicates"):
        study(tmp_path / "c", seeds="0,0")
    with pytest.raises(ValueError, match="no recipe recipes/vae_digits.yaml"):
        study(tmp_path / "c", dataset="dsprites,digits")  # every dataset checked first
    assert cli.main(["study", "--models", "vae,nope", "--out", str(tmp_path / "d")]) == 2
    assert not any((tmp_path / n).exists() for n in "abcd")


def test_overwrite_through_the_cli_retrains_only_the_run_trained_otherwise(finished, tmp_path,
                                                                           capsys):
    out = tmp_path / "study"
    shutil.copytree(finished[0] / "vae_seed0", out / "vae_seed0")  # trained with 2 steps
    trained = (out / "vae_seed0" / "model.keras").stat().st_mtime_ns
    args = ["study", "--models", "vae", "--seeds", "0", "--dataset", "dsprites", "--steps", "3",
            "--hparam-points", "none", "--metrics", "mig", "--metric-setting", "mig.num_train=64",
            "--out", str(out), *(a for item in TINY_RECIPE for a in ("--set", item))]
    assert cli.main(args) == 2
    assert "trained with training.steps = 2, not 3. Pass --overwrite" in capsys.readouterr().err
    assert (out / "vae_seed0" / "model.keras").stat().st_mtime_ns == trained
    assert cli.main(args + ["--overwrite"]) == 0
    assert json.loads((out / "vae_seed0" / "run.json").read_text())["recipe"]["training"][
        "steps"] == 3
    assert (out / "vae_seed0" / "model.keras").stat().st_mtime_ns != trained
    assert [(r["model"], r["steps"]) for r in read_rows(out)] == [("vae", "3")]


def test_study_recipes():
    recipe = study_recipe("annealed_vae", 2, steps=600, out="runs/s")
    assert recipe["training"]["steps"] == 600 and recipe["training"]["seed"] == 2
    # the capacity is annealed over the whole (shortened) run, as in the recipe
    assert recipe["model"]["options"]["anneal_steps"] == 600
    assert recipe["out"] == os.path.join("runs/s", "annealed_vae_seed2")
    assert recipe["training"]["iwae_samples"] == 0 and recipe["export"] is None
    assert [steps_per_epoch(n) for n in (2, 250, 251, 1000, 1001)] == [2, 250, 126, 250, 201]


def test_variance_shares_against_scipy():
    y = [0.1, 0.2, 0.15, 0.5, 0.55, 0.6, 0.3, 0.2, 0.25]
    groups = ["a"] * 3 + ["b"] * 3 + ["c"] * 3
    shares = variance_shares(y, groups)
    expected = f_oneway(y[:3], y[3:6], y[6:])
    assert shares["f"] == pytest.approx(expected.statistic, rel=1e-9)
    assert shares["p"] == pytest.approx(expected.pvalue, rel=1e-9)
    assert shares["model_share"] + shares["seed_share"] == pytest.approx(1.0)


def test_every_headline_score_has_a_label():
    assert set(HEADLINE_LABELS) == set(HEADLINE_SCORES.values())


@pytest.mark.slow
def test_two_datasets_and_the_hyperparameter_transfer(tmp_path):
    """A study per dataset in its own folder, then the transfer of the setups between them
    (two grid points of beta_vae, one seed, on dSprites and Noisy-dSprites)."""
    result = study(tmp_path, models="beta_vae", seeds=[0], hparam_points=2,
                   dataset="dsprites,noisy_dsprites")
    assert set(result["studies"]) == {"dsprites", "noisy_dsprites"}
    for name in ("dsprites", "noisy_dsprites"):
        rows = read_rows(tmp_path / name)
        assert [r["setup"] for r in rows] == ["beta_vae beta=1", "beta_vae beta=16"]
        assert json.loads((tmp_path / name / "study.json").read_text())["settings"][
            "dataset"] == name
    saved = json.loads((tmp_path / "transfer.json").read_text())
    assert saved["datasets"] == ["dsprites", "noisy_dsprites"]
    assert all(p["num_setups"] == 2 for pairs in saved["transfer"].values() for p in pairs)
    assert saved["verdict"] in (tmp_path / "transfer.md").read_text()


def test_a_study_killed_while_replacing_a_run_resumes_to_the_uninterrupted_results(
        finished, tmp_path, monkeypatch):
    """The vae runs of the study, the second one trained otherwise (its run.json says 3
    steps, its scores are not this recipe's): refused with refuse_to_replace's message;
    with --overwrite, killed (SIGKILL) while scoring the retrained run. The same command
    again takes over the dead worker's claim, scores that run without retraining it, and
    ends with the scores of the uninterrupted study; nothing else was touched."""
    out = tmp_path / "study"
    for name in ("vae_seed0", "vae_seed1"):
        shutil.copytree(finished[0] / name, out / name)
    run_dir = out / "vae_seed1"
    for name, path, value in (("run.json", ("recipe", "training", "steps"), 3),
                              (RESULTS_FILE, ("scores", "mig.mig"), 123.0)):
        saved = json.loads((run_dir / name).read_text())
        target = saved
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        (run_dir / name).write_text(json.dumps(saved))
    first = {p: p.stat().st_mtime_ns for p in out.glob("vae_seed0/*")}
    monkeypatch.setattr(study_module, "run", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(FileExistsError) as refused:
        study(out, models=["vae"])
    assert str(refused.value) == (
        f"{run_dir} already exists: it holds a finished run trained with training.steps = 3, "
        "not 2. Pass --overwrite to replace it, or choose another output.")
    monkeypatch.undo()
    killed("--study", out, "score:1", "vae", "--overwrite")  # the retrained run's scoring
    assert json.loads((run_dir / "run.json").read_text())["recipe"]["training"]["steps"] == 2
    assert not (run_dir / RESULTS_FILE).exists()  # the replaced run's scores went first
    assert (out / ".claims" / "vae_seed1").exists()  # the dead worker's
    trained = (run_dir / "model.keras").stat().st_mtime_ns
    lines = []
    study(out, models=["vae"], overwrite=True, log=lines.append)  # the same command again
    assert "[1/2] vae seed 0: finished earlier, skipped" in lines
    assert any(line.startswith("[2/2] vae seed 1: metrics in") for line in lines), lines
    assert (run_dir / "model.keras").stat().st_mtime_ns == trained  # scored, not retrained
    assert {p: p.stat().st_mtime_ns for p in first} == first
    assert scores(read_rows(out)) == scores(r for r in read_rows(finished[0]) if r["model"] == "vae")
    assert not list((out / ".claims").iterdir())
