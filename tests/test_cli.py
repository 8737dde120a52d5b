"""The `ae-zoo` command end to end, on the embedded mnist5k data."""

import csv
import json
import subprocess
import sys

import keras
import numpy as np
import pytest

from ae_zoo import cli, data


@pytest.fixture(scope="module")
def ae_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "ae"
    code = cli.main(["train", "ae", "--epochs", "1", "--latent-dim", "4", "--out", str(out),
                     "--seed", "3"])
    return code, out


def test_train_writes_the_run_directory(ae_run):
    code, out = ae_run
    assert code == 0
    assert {p.name for p in out.iterdir()} >= {
        "model.keras", "history.csv", "metrics.json", "reconstructions.png", "run.json"}
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no partial files
    with open(out / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and {"loss", "val_loss", "reconstruction_loss"} <= set(rows[0])
    run = json.loads((out / "run.json").read_text())
    recipe = run["recipe"]
    assert recipe["model"]["name"] == "ae" and recipe["data"]["name"] == "mnist5k"
    assert recipe["training"]["seed"] == 3 and recipe["model"]["latent_dim"] == 4
    assert run["command"].startswith("ae-zoo train ae")
    png = (out / "reconstructions.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_train_metrics_match_the_saved_model(ae_run):
    _, out = ae_run
    metrics = json.loads((out / "metrics.json").read_text())
    model = keras.models.load_model(out / "model.keras")
    test = data.load("mnist5k", "test")
    recon = np.asarray(model.reconstruct(test.x, batch_size=250))
    # The metric is recomputed independently from the saved model and the test split.
    assert metrics["test_reconstruction_mse"] == pytest.approx(np.mean((recon - test.x) ** 2), rel=1e-4)
    assert metrics["num_test_examples"] == len(test) == 1000
    assert model.latent_dim == 4


# Opt-in (--run-slow): the same checks run on every suite elsewhere, the IWAE bound of a
# CLI-trained VAE in tests/test_extension.py, the ELBO identity and the bound against
# log_likelihood in tests/experiments/test_evaluate.py::test_vae_likelihood; the denoising
# figure in tests/experiments/test_figures.py.
@pytest.mark.slow
def test_denoising_figure_and_vae_metrics(tmp_path):
    out = tmp_path / "vae"
    code = cli.main(["train", "vae", "--dataset", "digits", "--epochs", "1", "--latent-dim", "2",
                     "--iwae-samples", "5", "--xla", "off", "--out", str(out)])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    # -log p(x) from importance sampling is at most the negative ELBO (up to MC noise).
    assert metrics["test_iwae_nll"] <= -metrics["test_elbo"] + 1.0
    assert metrics["test_elbo"] == pytest.approx(
        -(metrics["test_reconstruction_loss"] + metrics["test_kl"]), rel=1e-5)


@pytest.mark.parametrize("argv, message", [
    (["train", "no_such_model"], "available models"),
    (["train", "ae", "--dataset", "no_such_data"], "valid names"),
    (["train", "ae", "--epochs", "0"], "epochs"),
    (["train", "ae", "--learning-rate", "nan"], "training.optimizer.learning_rate: must be a finite"),
    (["train", "ae", "--set", "training.epochs=[1"], "--set 'training.epochs=[1': the value is not valid YAML"),
    (["train", "ae", "--set", "model.options.hidden_units=sixteen"], "model.options.hidden_units"),
    (["train", "denoising_ae", "--set", "model.options.noise_level=.nan"], "model.options.noise_level"),
    (["train", "sparse_ae", "--set", "model.options.sparsity_weight=.inf"], "model.options.sparsity_weight"),
    (["evaluate", "x", "--metric-setting", "mig.num_train=[1"], "--metric-setting 'mig.num_train=[1'"),
])
def test_bad_names_and_values_get_a_one_line_error(argv, message, capsys, tmp_path):
    code = cli.main([*argv, "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()


def test_list_and_module_entry_point():
    result = subprocess.run([sys.executable, "-m", "ae_zoo", "list"], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for name in ("ae", "conv_ae", "denoising_ae", "sparse_ae", "vae", "cvae", "mnist5k", "dsprites"):
        assert f"  {name}" in result.stdout
