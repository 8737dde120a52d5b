"""`ae-zoo compare`: tiny models on digits side by side."""

import json
import re
import shutil

import keras
import numpy as np
import pytest

from ae_zoo import cli, data
from ae_zoo.experiments import compare_models, matched_recipes
from ae_zoo.experiments.compare import _nearest_mse
from ae_zoo.experiments.train import run

PNG = b"\x89PNG\r\n\x1a\n"
TINY = ["model.options.hidden_units=[16]", "training.jit_compile=false",
        "training.iwae_samples=0", "training.batch_size=64"]


NAMES = ["ae", "vae", "rae_l2"]


def compare(out, **kwargs):
    options = dict(epochs=1, latent_dim=2, out=out, overrides=TINY)
    options.update(kwargs)
    return compare_models(NAMES, "digits", **options)


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare")
    lines = []
    result = compare(out, log=lines.append)
    # the files as written now (test_finished_runs_are_reused rewrites them)
    return out, result, {n: (out / n).read_text() for n in ("compare.json", "report.md")}, lines


@pytest.fixture(scope="module")
def test_split():
    return data.load("digits", "test")


def test_report_and_figures(compared):
    out, result, written, _ = compared
    assert json.loads(written["compare.json"]) == {k: v for k, v in result.items() if k != "out"}
    report = written["report.md"]
    linked = re.findall(r"\]\(([^)]+\.png)\)", report)
    for name in ("latent_ranges.png", "samples_ae.png", "samples_vae.png", "samples_rae_l2.png",
                 "normal_samples_ae.png", "normal_samples_rae_l2.png",
                 "interpolations_ae.png", "interpolations_vae.png", "traversals_ae.png",
                 "traversals_vae.png", "latent_scatter_ae.png", "latent_scatter_vae.png"):
        assert name in linked
    assert "normal_samples_vae.png" not in linked  # a VAE samples its prior: N(0, I)
    for name in linked:
        assert (out / name).read_bytes()[:8] == PNG
    assert set(result["figures"].values()) == set(linked)
    for name in NAMES:  # and each run trained here drew its own, in its folder
        drawn = result["run_figures"][name]
        assert drawn["out"] == str(out / name)
        assert sorted(drawn["figures"].values()) == sorted(
            p.name for p in (out / name).iterdir() if p.suffix in (".png", ".gif"))
    assert result["order"] == NAMES and result["same_architecture"]
    assert all(s in report for s in result["summary"])


def test_each_model_shows_its_epochs_as_it_trains(compared):
    *_, lines = compared
    for name in NAMES:
        training = lines.index(next(line for line in lines if line.startswith(f"{name}: training")))
        assert re.fullmatch(rf"  {name}: epoch 1/1: loss [-0-9.e]+(, val_loss [-0-9.e]+)? \([0-9.]+ s\)",
                            lines[training + 1]), lines[training + 1]
        assert lines[training + 2].startswith(f"{name}: trained in")


def test_deterministic_models_sample_with_and_without_their_sampler(compared, test_split):
    out, result, _, _ = compared
    for name in ("ae", "rae_l2"):
        entry = result["models"][name]
        assert entry["sampler"] == "gmm" and entry["samples"]["source"] == "its gmm sampler"
        model = keras.models.load_model(out / name / "model.keras", compile=False)
        draws = np.asarray(model.sample(64, seed=0))  # what the report decoded
        assert entry["samples"]["nearest_test_mse"] == pytest.approx(
            np.mean(_nearest_mse(draws, test_split.x)), rel=1e-5)
        assert entry["normal_samples"]["nearest_test_mse"] > 0
        assert any(f"{name} without a prior" in line for line in result["summary"])
    vae = result["models"]["vae"]
    assert vae["sampler"] is None and vae["samples"]["source"] == "its prior"
    assert vae["normal_samples"] is None


def test_ranges_equal_the_numpy_ranges_of_the_codes(compared, test_split):
    out, result, _, _ = compared
    for name in NAMES:
        model = keras.models.load_model(out / name / "model.keras", compile=False)
        codes = np.asarray(model.encode(test_split.x), np.float64)
        stats = result["models"][name]["codes"]
        assert stats["value_range"] == pytest.approx([codes.min(), codes.max()], rel=1e-5)
        np.testing.assert_allclose(stats["min"], codes.min(0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(stats["max"], codes.max(0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(stats["std_per_dim"], codes.std(0), rtol=1e-4, atol=1e-6)
        assert stats["std"] == pytest.approx(codes.std(), rel=1e-4)
        assert stats["within_3"] == pytest.approx(np.mean(np.abs(codes) <= 3))
        recon = np.asarray(model.reconstruct(test_split.x), np.float64)
        assert result["models"][name]["reconstruction_mse"] == pytest.approx(
            np.mean((recon - test_split.x) ** 2), rel=1e-5)
    assert result["models"]["ae"]["codes"]["kl_per_dim"] is None
    assert len(result["models"]["vae"]["codes"]["kl_per_dim"]) == 2


def test_both_runs_share_networks_latent_size_and_epochs(compared):
    out, result, _, _ = compared
    recipes = [json.loads((out / n / "run.json").read_text())["recipe"] for n in NAMES]
    for key in ("latent_dim", "architecture"):
        assert len({r["model"][key] for r in recipes}) == 1
    assert recipes[0]["model"]["latent_dim"] == 2
    assert all(r["model"]["options"]["hidden_units"] == [16] for r in recipes)
    assert all(r["training"]["epochs"] == 1 for r in recipes)
    assert recipes[0]["export"] is None and result["models"]["vae"]["obtained"] == "trained"


def test_finished_runs_are_reused(compared):
    out, _, _, _ = compared
    before = {n: (out / n / "model.keras").stat().st_mtime_ns for n in NAMES}
    again = compare(out, figures=False)
    assert {e["obtained"] for e in again["models"].values()} == {"reused"}
    assert again["models"]["vae"]["codes"] == compared[1]["models"]["vae"]["codes"]
    assert again["models"]["ae"]["samples"] == compared[1]["models"]["ae"]["samples"]
    assert before == {n: (out / n / "model.keras").stat().st_mtime_ns for n in NAMES}
    with pytest.raises(FileExistsError, match="latent_dim.*--overwrite"):
        compare(out, latent_dim=3, figures=False)


def test_given_runs_through_the_cli(compared, tmp_path, capsys):
    out, result, _, _ = compared
    target = tmp_path / "given"
    assert cli.main(["compare", "--runs", str(out / "ae"), str(out / "vae"),
                     "--out", str(target)]) == 0
    given = json.loads((target / "compare.json").read_text())
    assert given["order"] == ["ae", "vae"]  # labelled by the runs' model names
    assert not given["models"]["ae"]["sampler_fitted_here"]  # its run saved its sampler
    assert {e["obtained"] for e in given["models"].values()} == {"loaded"}
    assert given["models"]["vae"]["codes"] == result["models"]["vae"]["codes"]
    lines = capsys.readouterr().out.splitlines()
    assert any("codes lie in" in line for line in lines)
    start = next(i for i, line in enumerate(lines) if line.startswith("Figures ("))
    closing = " ".join(line.strip() for line in lines[start:]).split(": ", 1)[1].split(", ")
    assert sorted(closing) == sorted(p.name for p in target.iterdir() if p.suffix == ".png")
    assert cli.main(["compare", "ae", "--out", str(target)]) == 2


def test_a_run_without_a_sampler_gets_its_default_one(compared, tmp_path):
    out, _, _, _ = compared
    recipe = matched_recipes(["ae", "vae"], "digits", epochs=1, latent_dim=2, out=str(tmp_path),
                             overrides=TINY + ["sampler.name=none"])[0]
    run(recipe, verbose=0)
    again = compare_models(None, runs=[tmp_path / "ae", out / "vae"], out=tmp_path / "given",
                           figures=False)
    assert again["models"]["ae"]["sampler_fitted_here"] and again["models"]["ae"]["sampler"] == "gmm"
    assert not again["models"]["vae"]["sampler_fitted_here"]


def test_matched_recipes_for_any_models(tmp_path):
    a, b = matched_recipes(["conv_ae", "beta_vae"], "mnist5k", epochs=3, out=str(tmp_path))
    assert a["model"]["architecture"] == b["model"]["architecture"] == "conv"
    assert a["model"]["options"]["filters"] == b["model"]["options"]["filters"]
    assert "hidden_units" not in b["model"]["options"]
    assert b["model"]["options"]["beta"] == 4.0  # each keeps its own objective
    assert a["model"]["latent_dim"] == b["model"]["latent_dim"] == 16
    assert a["training"]["epochs"] == b["training"]["epochs"] == 3
    assert b["out"] == str(tmp_path / "beta_vae")
    a, b, c = matched_recipes(["ae", "vae", "vq_vae"], "mnist5k", architecture="conv", latent_dim=8)
    assert c["model"]["latent_dim"] == 8 and c["model"]["architecture"] == "conv"
    assert b["model"]["architecture"] == "conv" and "hidden_units" not in b["model"]["options"]
    with pytest.raises(ValueError, match="Unknown model"):
        matched_recipes(["ae", "vea"], "mnist5k")
    with pytest.raises(ValueError, match="at least two"):
        compare_models(["ae"], "digits")


def test_nearest_mse():
    rng = np.random.default_rng(0)
    images, reference = rng.uniform(size=(5, 4, 4, 1)), rng.uniform(size=(7, 4, 4, 1))
    brute = [min(np.mean((im - ref) ** 2) for ref in reference) for im in images]
    np.testing.assert_allclose(_nearest_mse(images, reference, chunk=2), brute, rtol=1e-9)


def test_a_run_trained_otherwise_is_retrained_only_with_overwrite(compared, tmp_path, capsys):
    out = tmp_path / "compare"
    for name in ("ae", "vae"):
        shutil.copytree(compared[0] / name, out / name)
    (out / "notes.txt").write_text("mine")
    info = json.loads((out / "vae" / "run.json").read_text())
    info["recipe"]["training"]["epochs"] = 2  # as if trained for 2 epochs
    (out / "vae" / "run.json").write_text(json.dumps(info))
    kept = {n: (out / n / "model.keras").stat().st_mtime_ns for n in ("ae", "vae")}
    args = ["compare", "ae", "vae", "--dataset", "digits", "--epochs", "1", "--latent-dim", "2",
            "--out", str(out)]
    for item in TINY:
        args += ["--set", item]
    assert cli.main(args) == 2
    assert capsys.readouterr().err.strip() == (
        f"ae-zoo compare: error: {out / 'vae'} already exists: it holds a finished vae run, but "
        "it was trained with training.epochs = 2, not 1. Pass --overwrite to replace it, or "
        "choose another output.")
    assert {n: (out / n / "model.keras").stat().st_mtime_ns for n in kept} == kept
    assert not (out / "compare.json").exists()
    assert cli.main(args + ["--overwrite", "--no-figures"]) == 0
    assert not list(out.glob("*.png"))
    result = json.loads((out / "compare.json").read_text())
    assert {n: e["obtained"] for n, e in result["models"].items()} == {"ae": "reused",
                                                                      "vae": "trained"}
    assert (out / "ae" / "model.keras").stat().st_mtime_ns == kept["ae"]
    assert (out / "vae" / "model.keras").stat().st_mtime_ns != kept["vae"]
    assert json.loads((out / "vae" / "run.json").read_text())["recipe"]["training"]["epochs"] == 1
    # retrained as the fixture's run was: the same codes; nothing else in OUT was lost
    assert result["models"]["vae"]["codes"] == compared[1]["models"]["vae"]["codes"]
    assert (out / "notes.txt").read_text() == "mine"
