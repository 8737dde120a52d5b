"""`ae-zoo benchmark`: 2 models x 2 seeds on mnist5k, tiny networks, 3 steps each; the
leaderboard's numbers recomputed from the saved models, resuming, and the run locks."""

import csv
import json
import os
import shutil
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest

import ae_zoo
import ae_zoo.experiments.benchmark as benchmark_module
from ae_zoo import cli, data, models
from ae_zoo.evaluation import feature_networks
from ae_zoo.evaluation.generation import frechet_distance, kernel_distance, precision_recall
from ae_zoo.evaluation.measures import draw_samples
from ae_zoo.experiments import leaderboard
from ae_zoo.experiments.benchmark import benchmark_recipe, claim, parse_budget, release, run_benchmark
from ae_zoo.experiments.figures import bar_chart

from tests.experiments._tiny import PNG

MODELS, SEEDS = ["vae", "ae"], [0, 1]
TINY = ["model.options.hidden_units=[16]", "model.latent_dim=2", "training.steps_per_epoch=3",
        "training.jit_compile=false"]
SAMPLES = 200


def bench(out, log=None, **kwargs):
    """The tiny benchmark; only the first one draws the charts (they take seconds)."""
    options = dict(dataset="mnist5k", models=MODELS, budget="steps=3", seeds=SEEDS, out=out,
                   num_samples=SAMPLES, iwae_samples=2, overrides=TINY, figures=False, log=log)
    options.update(kwargs)
    return run_benchmark(**options)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("benchmark")
    lines = []
    return out, bench(out, log=lines.append, figures=True), lines


@pytest.fixture(scope="module")
def test_set():
    return data.load("mnist5k", "test")


def test_writes_the_leaderboard_files(finished):
    out, board, lines = finished
    for name in ("leaderboard.md", "leaderboard.csv", "leaderboard.json"):
        assert (out / name).is_file()
    for name in ("bars.png", "bar_fid.png", "bar_nll.png", "bar_parameters.png", "samples.png"):
        assert (out / name).read_bytes()[:8] == PNG, name
    assert not [p for p in out.rglob(".*") if p.name.startswith((".tmp", ".benchmark"))]
    with open(out / "leaderboard.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["model"], int(r["seed"])) for r in rows] == [("vae", 0), ("vae", 1), ("ae", 0), ("ae", 1)]
    for row in rows:
        saved = json.loads((out / f"{row['model']}_seed{row['seed']}" / "benchmark.json").read_text())
        assert int(row["steps"]) == saved["steps"] == 3
        for key in ("fid", "kid", "precision", "recall", "reconstruction_mse", "parameters"):
            assert float(row[key]) == pytest.approx(saved[key], rel=1e-12)
    # the AE samples through the sampler its run fitted to its codes (ae-zoo train's default)
    assert {r["sample_source"] for r in rows} == {"prior", "sampler"}
    assert board["ranking"] == sorted(board["models"], key=lambda m: board["summary"][m]["fid"]["mean"])
    markdown = (out / "leaderboard.md").read_text()
    assert "| 1 | " + board["ranking"][0] in markdown and "| sampler |" in markdown
    assert any(line.startswith("[1/4] vae seed 0: training") for line in lines)
    assert any(line.startswith("[4/4] ae seed 1: trained 3 steps") and "ETA" in line for line in lines)
    start = next(i for i, line in enumerate(lines) if line.startswith("Figures ("))
    listed = " ".join(line.strip() for line in lines[start:]).split(": ", 1)[1].split(", ")
    assert sorted(listed) == sorted(p.name for p in out.iterdir() if p.suffix == ".png")


def test_scores_are_recomputed_from_the_saved_models(finished, test_set):
    out, board, _ = finished
    network = feature_networks.load("mnist5k")
    real = network.features(test_set.x)
    for model_name, seed in [("vae", 1), ("ae", 0)]:
        run_dir = out / f"{model_name}_seed{seed}"
        saved = json.loads((run_dir / "benchmark.json").read_text())
        metrics = json.loads((run_dir / "metrics.json").read_text())
        model = keras.models.load_model(run_dir / "model.keras", compile=False)
        images, source = draw_samples(model, SAMPLES, seed=0)
        fake = network.features(images)
        assert saved["sample_source"] == source == ("prior" if model.generative else "sampler")
        assert saved["fid"] == pytest.approx(frechet_distance(real, fake), rel=1e-4)
        assert saved["kid"] == pytest.approx(kernel_distance(real, fake, seed=0).value, rel=1e-4)
        assert (saved["precision"], saved["recall"]) == pytest.approx(precision_recall(real, fake))
        recon = network.features(model.reconstruct(test_set.x, batch_size=256))
        assert saved["reconstruction_fid"] == pytest.approx(frechet_distance(real, recon), rel=1e-4)
        assert saved["reconstruction_mse"] == metrics["test_reconstruction_mse"]
        assert saved["nll"] == metrics.get("test_iwae_nll")
        assert saved["parameters"] == model.count_params()
        generation = saved["generation"]
        assert generation["num_samples"] == SAMPLES and generation["seed"] == 0
        assert generation["feature_network"]["name"] == "mnist5k"
        assert generation["samples"]["default"]["num_real"] == len(test_set)
    assert board["summary"]["vae"]["nll"]["n"] == 2 and board["summary"]["ae"]["nll"]["n"] == 0


def test_summary_is_mean_and_std_over_seeds(finished):
    out, board, _ = finished
    for model in MODELS:
        rows = [r for r in board["rows"] if r["model"] == model]
        for key in ("fid", "reconstruction_mse", "recall"):
            values = np.array([r[key] for r in rows])
            assert board["summary"][model][key]["mean"] == pytest.approx(values.mean(), rel=1e-12)
            assert board["summary"][model][key]["std"] == pytest.approx(values.std(ddof=1),
                                                                        rel=1e-9, abs=1e-15)


def test_resuming_skips_finished_runs_and_scores_trained_ones(finished, monkeypatch):
    out, board, _ = finished
    files = sorted(out.glob("*_seed*/model.keras"))
    before = [f.stat().st_mtime_ns for f in files]
    monkeypatch.setattr(benchmark_module, "run", lambda *a, **k: pytest.fail("trained again"))
    lines = []
    again = bench(out, log=lines.append)
    assert sum("finished earlier, skipped" in line for line in lines) == 4
    assert again["summary"] == board["summary"]
    os.remove(out / "ae_seed1" / "benchmark.json")
    lines = []
    bench(out, log=lines.append)
    assert (out / "ae_seed1" / "benchmark.json").is_file()
    assert [f.stat().st_mtime_ns for f in files] == before
    assert not any("training" in line for line in lines)
    # other sample counts are other settings: every run is scored again, none trained
    lines = []
    bench(out, log=lines.append, num_samples=100, models=["ae"], seeds=[0])
    assert json.loads((out / "ae_seed0" / "benchmark.json").read_text())["generation"][
        "num_samples"] == 100


def test_a_run_locked_by_a_live_process_is_left_to_it(finished, tmp_path, monkeypatch):
    out, _, _ = finished
    run_dir = out / "vae_seed0"
    os.remove(run_dir / "benchmark.json")
    monkeypatch.setattr(benchmark_module, "run", lambda *a, **k: pytest.fail("trained again"))
    assert claim(run_dir) is None  # this process holds it
    lines = []
    board = bench(out, log=lines.append, models=["vae"], seeds=[0])
    assert any("being run by" in line for line in lines) and board["num_runs"] == 0
    release(run_dir)
    # a lock left by a process that has exited is taken over
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (run_dir / ".benchmark.lock").write_text(json.dumps({"host": socket.gethostname(),
                                                         "pid": int(dead)}))
    board = bench(out, models=["vae"], seeds=[0])
    assert board["num_runs"] == 1 and not (run_dir / ".benchmark.lock").exists()


def test_bad_requests_fail_before_training(tmp_path, monkeypatch):
    monkeypatch.setattr(benchmark_module, "run", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(ValueError, match="Unknown model 'nope'"):
        bench(tmp_path / "a", models="vae,nope")
    with pytest.raises(ValueError, match="budget"):
        bench(tmp_path / "b", budget="minutes=3")
    with pytest.raises(ValueError, match="duplicates"):
        bench(tmp_path / "c", seeds="0,0")
    with pytest.raises(ValueError, match="InceptionV3"):
        bench(tmp_path / "d", dataset="digits")
    assert cli.main(["benchmark", "--models", "vae", "--budget", "soon", "--out",
                     str(tmp_path / "e")]) == 2
    assert not any((tmp_path / n).exists() for n in "abcde")


def test_recipes_budgets_and_the_model_list(monkeypatch):
    assert parse_budget("steps=500") == parse_budget("500") == {"steps": 500}
    assert parse_budget("epochs=3") == {"epochs": 3} and parse_budget("recipe") == {}
    recipe = benchmark_recipe("vae", 2, budget="epochs=4", out="runs/b")
    assert (recipe["training"]["epochs"], recipe["training"]["steps"]) == (4, None)
    assert recipe["training"]["seed"] == 2 and recipe["out"] == os.path.join("runs/b", "vae_seed2")
    assert recipe["export"] is None and recipe["callbacks"]["checkpoint"] is None
    assert recipe["callbacks"]["early_stopping"] is None  # every run trains the whole budget
    assert recipe["model"]["options"]["hidden_units"] == [512, 256]  # from recipes/vae_mnist5k.yaml
    assert benchmark_recipe("mmd_vae", 0)["training"]["steps"] == 500  # no recipe: its defaults
    as_written = benchmark_recipe("vae", 0, budget="recipe")
    assert as_written["training"]["epochs"] == 50 and as_written["callbacks"]["early_stopping"]
    # "all" is every registered model, plugins included
    monkeypatch.setattr(models.registry, "_REGISTRY", dict(models.registry._REGISTRY))
    ae_zoo.register("late_plugin")(type("LatePlugin", (models.VAE,), {}))
    assert benchmark_module._models("all") == models.names() and "late_plugin" in models.names()


def test_cli_prints_the_ranking(finished, capsys):
    out, board, _ = finished
    args = ["benchmark", "--models", ",".join(MODELS), "--seeds", "0,1", "--budget", "3",
            "--num-samples", str(SAMPLES), "--iwae-samples", "2", "--no-figures", "--out", str(out)]
    for item in TINY:
        args += ["--set", item]
    assert cli.main(args) == 0
    printed = capsys.readouterr().out
    assert f"1. {board['ranking'][0]}" in printed and "leaderboard.md" in printed


def test_another_sample_source_is_named_by_its_own_name(finished, tmp_path):
    # a model scored on a fitted sampler's draws (a source the leaderboard does not know)
    out, _, _ = finished
    row = json.loads((out / "ae_seed0" / "benchmark.json").read_text())
    run_dir = tmp_path / "plugin_seed0"
    run_dir.mkdir()
    (run_dir / "benchmark.json").write_text(json.dumps({**row, "model": "plugin",
                                                        "sample_source": "sampler"}))
    board = leaderboard.write(str(tmp_path), ["plugin"], [0], {**finished[1]["settings"]},
                              [str(run_dir)], figures=False)
    assert "| 1 | plugin | sampler | " in (tmp_path / "leaderboard.md").read_text()
    figure = bar_chart(board["rows"], ["plugin"], [0], "fid", "FID", board["sources"])
    assert [t.get_text() for t in figure.axes[0].get_legend().get_texts()][-1] == "samples: sampler"


def test_a_run_trained_otherwise_is_replaced_only_with_overwrite(finished, tmp_path, capsys,
                                                                  monkeypatch):
    out = tmp_path / "bench"
    shutil.copytree(finished[0], out, ignore=shutil.ignore_patterns("*.png"))
    before = {p: p.stat().st_mtime_ns for p in out.glob("*_seed*/*") if p.is_file()}
    args = ["benchmark", "--models", "ae", "--seeds", "0", "--budget", "4", "--num-samples",
            str(SAMPLES), "--iwae-samples", "2", "--no-figures", "--out", str(out)]
    for item in TINY:
        args += ["--set", item]
    assert cli.main(args) == 2  # refused as every command refuses, before anything trains
    assert capsys.readouterr().err.strip() == (
        f"ae-zoo benchmark: error: {out / 'ae_seed0'} already exists: it holds a finished "
        "benchmark run trained with training.steps = 3, not 4. Pass --overwrite to replace it, "
        "or choose another output.")
    assert {p: p.stat().st_mtime_ns for p in before} == before
    assert cli.main(args + ["--overwrite"]) == 0
    assert "ae seed 0: retraining (--overwrite)" in capsys.readouterr().out
    run_dir = out / "ae_seed0"
    saved = json.loads((run_dir / "benchmark.json").read_text())
    recipe = json.loads((run_dir / "run.json").read_text())["recipe"]
    assert saved["trained_now"] and recipe["training"]["steps"] == 4 and saved["steps"] > 3
    changed = {p.relative_to(out) for p in before if p.stat().st_mtime_ns != before[p]}
    assert {p.parent.name for p in changed} == {"ae_seed0"}  # the other runs are untouched
    assert (run_dir / "model.keras") in {out / p for p in changed}
    # the replaced run is now the finished one: a rerun resumes, with or without --overwrite
    monkeypatch.setattr(benchmark_module, "run", lambda *a, **k: pytest.fail("trained again"))
    assert cli.main(args) == 0 and cli.main(args + ["--overwrite"]) == 0
    assert "finished earlier, skipped" in capsys.readouterr().out
