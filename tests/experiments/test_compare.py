"""`ae-zoo compare`: two tiny models on digits side by side."""

import json
import re

import keras
import numpy as np
import pytest

from ae_zoo import cli, data
from ae_zoo.experiments import compare_models, matched_recipes
from ae_zoo.experiments.compare import _nearest_mse

PNG = b"\x89PNG\r\n\x1a\n"
TINY = ["model.options.hidden_units=[16]", "training.jit_compile=false",
        "training.iwae_samples=0", "training.batch_size=64"]


def compare(out, **kwargs):
    options = dict(epochs=1, latent_dim=2, out=out, overrides=TINY)
    options.update(kwargs)
    return compare_models("ae", "vae", "digits", **options)


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare")
    result = compare(out)
    # the files as written now (test_finished_runs_are_reused rewrites them)
    return out, result, {n: (out / n).read_text() for n in ("compare.json", "report.md")}


@pytest.fixture(scope="module")
def test_split():
    return data.load("digits", "test")


def test_report_and_figures(compared):
    out, result, written = compared
    assert json.loads(written["compare.json"]) == {k: v for k, v in result.items() if k != "out"}
    report = written["report.md"]
    linked = re.findall(r"\]\(([^)]+\.png)\)", report)
    for name in ("latent_ranges.png", "samples_ae.png", "samples_vae.png",
                 "interpolations_ae.png", "interpolations_vae.png", "traversals_ae.png",
                 "traversals_vae.png", "latent_scatter_ae.png", "latent_scatter_vae.png"):
        assert name in linked
    for name in linked:
        assert (out / name).read_bytes()[:8] == PNG
    assert set(result["figures"].values()) == set(linked)
    assert result["order"] == ["ae", "vae"] and result["same_architecture"]
    assert "ae" in report and result["summary"][0] in report


def test_ranges_equal_the_numpy_ranges_of_the_codes(compared, test_split):
    out, result, _ = compared
    for name in ("ae", "vae"):
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
    out, result, _ = compared
    recipes = [json.loads((out / n / "run.json").read_text())["recipe"] for n in ("ae", "vae")]
    for key in ("latent_dim", "architecture"):
        assert recipes[0]["model"][key] == recipes[1]["model"][key]
    assert recipes[0]["model"]["latent_dim"] == 2
    assert recipes[0]["model"]["options"]["hidden_units"] == [16]
    assert recipes[1]["model"]["options"]["hidden_units"] == [16]
    assert recipes[0]["training"]["epochs"] == recipes[1]["training"]["epochs"] == 1
    assert recipes[0]["export"] is None and result["models"]["vae"]["obtained"] == "trained"


def test_finished_runs_are_reused(compared):
    out, _, _ = compared
    before = {n: (out / n / "model.keras").stat().st_mtime_ns for n in ("ae", "vae")}
    again = compare(out, figures=False)
    assert {e["obtained"] for e in again["models"].values()} == {"reused"}
    assert again["models"]["vae"]["codes"] == compared[1]["models"]["vae"]["codes"]
    assert before == {n: (out / n / "model.keras").stat().st_mtime_ns for n in ("ae", "vae")}
    with pytest.raises(FileExistsError, match="latent_dim.*--overwrite"):
        compare(out, latent_dim=3, figures=False)


def test_given_runs_through_the_cli(compared, tmp_path, capsys):
    out, result, _ = compared
    target = tmp_path / "given"
    assert cli.main(["compare", "--runs", str(out / "ae"), str(out / "vae"),
                     "--out", str(target)]) == 0
    given = json.loads((target / "compare.json").read_text())
    assert given["order"] == ["ae", "vae"]  # labelled by the runs' model names
    assert {e["obtained"] for e in given["models"].values()} == {"loaded"}
    assert given["models"]["vae"]["codes"] == result["models"]["vae"]["codes"]
    assert "codes lie in" in capsys.readouterr().out
    assert cli.main(["compare", "ae", "--out", str(target)]) == 2


def test_matched_recipes_for_any_two_models(tmp_path):
    a, b = matched_recipes("conv_ae", "beta_vae", "mnist5k", epochs=3, out=str(tmp_path))
    assert a["model"]["architecture"] == b["model"]["architecture"] == "conv"
    assert a["model"]["options"]["filters"] == b["model"]["options"]["filters"]
    assert "hidden_units" not in b["model"]["options"]
    assert b["model"]["options"]["beta"] == 4.0  # each keeps its own objective
    assert a["model"]["latent_dim"] == b["model"]["latent_dim"] == 16
    assert a["training"]["epochs"] == b["training"]["epochs"] == 3
    assert b["out"] == str(tmp_path / "beta_vae")
    a, b = matched_recipes("ae", "vae", "mnist5k", architecture="conv", latent_dim=8)
    assert b["model"]["architecture"] == "conv" and "hidden_units" not in b["model"]["options"]
    with pytest.raises(ValueError, match="Unknown model"):
        matched_recipes("ae", "vea", "mnist5k")


def test_nearest_mse():
    rng = np.random.default_rng(0)
    images, reference = rng.uniform(size=(5, 4, 4, 1)), rng.uniform(size=(7, 4, 4, 1))
    brute = [min(np.mean((im - ref) ** 2) for ref in reference) for im in images]
    np.testing.assert_allclose(_nearest_mse(images, reference, chunk=2), brute, rtol=1e-9)
