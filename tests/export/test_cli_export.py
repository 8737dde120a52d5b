"""`ae-zoo export` and `ae-zoo serving-config`."""

import json
import os
import re

import keras
import numpy as np
import pytest

import ae_zoo

from ae_zoo import cli
from ae_zoo._io import save_model, write_json
from ae_zoo.export import load_pretrained, serving_config_text
from tests.export.helpers import SHAPE, batch

RECIPE_RUN = {  # run.json as the recipe runner writes it
    "recipe": {"name": "vae_tiny", "model": {"name": "vae", "latent_dim": 2, "options": {"beta": 1.0}},
               "data": {"name": "digits", "options": {}},
               "training": {"epochs": 3, "batch_size": 16, "seed": 5,
                            "optimizer": {"name": "adam", "learning_rate": 0.001}}},
    "command": "ae-zoo train --recipe recipes/vae_tiny.yaml",
    "epochs": 3, "registry_name": "vae", "versions": {"ae_zoo": "0.1.0", "tensorflow": "2.21.0"},
}
METRICS = {"test_reconstruction_mse": 0.0123, "test_elbo": -45.6, "test_iwae_nll": 44.4,
           "test_kl": 3.2, "test_loss": 45.6, "test_reconstruction_loss": 42.4, "iwae_samples": 5,
           "iwae_examples": 360, "num_train_examples": 1437, "num_test_examples": 360, "epochs": 3}


@pytest.fixture
def run_dir(tmp_path, exported):
    """A run directory as `ae-zoo train` leaves it (model.keras, run.json, metrics.json)."""
    model, _ = exported("vae")
    run = tmp_path / "runs" / "vae_tiny"
    save_model(model, run / "model.keras")
    write_json(run / "run.json", RECIPE_RUN)
    write_json(run / "metrics.json", METRICS)
    return run


def test_export_writes_the_version_and_its_card(run_dir, tmp_path, capsys):
    out = tmp_path / "saved_models" / "vae_tiny"
    assert cli.main(["export", str(run_dir), "--out", str(out)]) == 0
    assert "serving_default" in capsys.readouterr().out
    assert (out / "1" / "saved_model.pb").is_file() and (out / "1" / "variables").is_dir()
    assert sorted(p.name for p in out.iterdir()) == ["1", "README.md", "card.json"]

    card = json.loads((out / "card.json").read_text())
    assert card["name"] == "vae_tiny" and card["model"] == "vae"
    assert card["capabilities"] == ae_zoo.models.VAE.capabilities()
    assert card["recipe"] == "recipes/vae_tiny.yaml"
    assert card["command"] == RECIPE_RUN["command"]
    assert card["dataset"] == "digits" and card["split"]["test"] == "test"
    assert card["split"]["num_test_examples"] == 360
    assert card["epochs"] == 3 and card["seed"] == 5 and card["batch_size"] == 16
    assert card["metrics"]["test_iwae_nll"] == 44.4 and card["metrics"]["test_elbo"] == -45.6
    assert card["version"] == 1 and card["input_shape"] == list(SHAPE) and card["latent_dim"] == 2
    assert card["signatures"]["sample"] == {
        "method_name": "tensorflow/serving/predict",
        "inputs": {"seed": {"dtype": "int64", "shape": [None]}},
        "outputs": {"image": {"dtype": "float32", "shape": [None, *SHAPE]}}}
    import tensorflow as tf

    assert card["versions"]["tensorflow"] == tf.__version__ and card["versions"]["ae_zoo"]

    readme = (out / "README.md").read_text()
    for text in ("# vae_tiny", "ae-zoo train --recipe recipes/vae_tiny.yaml", "recipes/vae_tiny.yaml",
                 "`test_reconstruction_mse` | 0.0123", "`test_iwae_nll` | 44.4000", "`test_elbo`",
                 "| `sample` | `seed` int64 [None] | `image` float32 [None, 8, 8, 1] |",
                 f"TensorFlow {tf.__version__}", "seed: 5", "epochs: 3",
                 f"ae-zoo export {run_dir} --out exports/vae_tiny"):
        assert text in readme, text

    # the exported model is the run's model
    loaded = keras.models.load_model(run_dir / "model.keras")
    x = batch()["x"]
    np.testing.assert_allclose(load_pretrained(out).reconstruct(x), loaded.reconstruct(x), atol=1e-5)


def test_export_versions_and_errors(run_dir, tmp_path, capsys):
    out = tmp_path / "zoo" / "vae_tiny"
    assert cli.main(["export", str(run_dir), "--out", str(out), "--no-warmup"]) == 0
    assert cli.main(["export", str(run_dir), "--out", str(out), "--no-warmup"]) == 0
    assert sorted(p.name for p in out.iterdir() if p.name.isdigit()) == ["1", "2"]
    assert json.loads((out / "card.json").read_text())["version"] == 2
    assert not (out / "2" / "assets.extra" / "tf_serving_warmup_requests").exists()
    capsys.readouterr()
    assert cli.main(["export", str(run_dir), "--out", str(out), "--version", "2"]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert cli.main(["export", str(tmp_path / "nothing"), "--out", str(out)]) == 2
    assert "neither a run directory nor a .keras file" in capsys.readouterr().err
    os.makedirs(tmp_path / "empty_run")
    assert cli.main(["export", str(tmp_path / "empty_run"), "--out", str(out)]) == 2
    assert "has no model.keras" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir() if p.name.isdigit()) == ["1", "2"]


def test_export_a_keras_file_and_an_old_style_run(exported, tmp_path):
    model, _ = exported("cvae")
    path = tmp_path / "my_cvae.keras"
    save_model(model, path)
    out = tmp_path / "zoo" / "cvae_tiny"
    assert cli.main(["export", str(path), "--out", str(out), "--recipe", "recipes/cvae_tiny.yaml"]) == 0
    card = json.loads((out / "card.json").read_text())
    assert card["capabilities"]["conditional"] and card["num_classes"] == model.num_classes
    assert card["recipe"] == "recipes/cvae_tiny.yaml" and card["command"] is None and card["metrics"] == {}
    assert "generate" in card["signatures"] and "sample" not in card["signatures"]

    old = tmp_path / "old_run"  # run.json of the first runner: flat keys
    save_model(model, old / "model.keras")
    write_json(old / "run.json", {"model": "cvae", "dataset": "digits", "epochs": 2, "seed": 3,
                                  "batch_size": 8, "command": "ae-zoo train cvae --dataset digits"})
    assert cli.main(["export", str(old / "model.keras"), "--out", str(tmp_path / "zoo" / "old")]) == 0
    card = json.loads((tmp_path / "zoo" / "old" / "card.json").read_text())
    assert (card["dataset"], card["epochs"], card["seed"]) == ("digits", 2, 3)
    assert card["command"] == "ae-zoo train cvae --dataset digits"


def _parse_config(text):
    """``[(name, base_path, platform)]``, checking the text structure line by line."""
    lines = [line.strip() for line in text.strip().splitlines()]
    assert lines[0] == "model_config_list {" and lines[-1] == "}"
    body = lines[1:-1]
    assert len(body) % 5 == 0
    configs = []
    for i in range(0, len(body), 5):
        block = body[i:i + 5]
        assert block[0] == "config {" and block[4] == "}"
        fields = dict(re.fullmatch(r'(\w+): "(.*)"', line).groups() for line in block[1:4])
        configs.append((fields["name"], fields["base_path"], fields["model_platform"]))
    return configs


def test_serving_config_serves_every_model_folder(exported, tmp_path, capsys):
    import shutil

    zoo = tmp_path / "saved_models"
    for name, case in (("vae_tiny", "vae"), ("ae_tiny", "ae")):
        shutil.copytree(exported(case)[1], zoo / name / "1")
    os.makedirs(zoo / "half_done" / ".export-x")  # no numeric version: not served
    assert cli.main(["serving-config", str(zoo)]) == 0
    captured = capsys.readouterr()
    assert "half_done/ has no numeric SavedModel version" in captured.err
    text = (zoo / "models.config").read_text()
    assert _parse_config(text) == [("ae_tiny", str(zoo / "ae_tiny"), "tensorflow"),
                                   ("vae_tiny", str(zoo / "vae_tiny"), "tensorflow")]
    try:  # the real proto, when tensorflow-serving-api is installed
        from google.protobuf import text_format
        from tensorflow_serving.config import model_server_config_pb2
    except ImportError:
        pass
    else:
        config = text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
        assert [c.name for c in config.model_config_list.config] == ["ae_tiny", "vae_tiny"]
        assert config.model_config_list.config[1].base_path == str(zoo / "vae_tiny")

    out = tmp_path / "docker.config"
    assert cli.main(["serving-config", str(zoo), "--out", str(out), "--base-path", "/models"]) == 0
    assert [c[1] for c in _parse_config(out.read_text())] == ["/models/ae_tiny", "/models/vae_tiny"]
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".tmp-")]  # written atomically


def test_serving_config_errors(tmp_path, capsys):
    assert cli.main(["serving-config", str(tmp_path / "missing")]) == 2
    assert "No such directory" in capsys.readouterr().err
    assert cli.main(["serving-config", str(tmp_path)]) == 2
    assert "no model folder" in capsys.readouterr().err
    assert not (tmp_path / "models.config").exists()
    with pytest.raises(ValueError):
        serving_config_text(tmp_path)


def test_quotes_in_paths_are_escaped(exported, tmp_path):
    import shutil

    zoo = tmp_path / 'we"ird\\zoo'
    shutil.copytree(exported("ae")[1], zoo / "ae" / "1")
    text = serving_config_text(zoo)
    assert 'base_path: "' + str(zoo / "ae").replace("\\", "\\\\").replace('"', '\\"') + '"' in text


def test_export_lands_in_exports_by_default_never_in_the_zoo(run_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["export", str(run_dir), "--no-warmup"]) == 0
    assert (tmp_path / "exports" / "vae_tiny" / "1" / "saved_model.pb").is_file()
    assert (tmp_path / "exports" / "vae_tiny" / "card.json").is_file()


def test_control_characters_in_names_are_escaped(exported, tmp_path):
    import re
    import shutil

    from google.protobuf import text_encoding  # protobuf's own text-format unescaping

    zoo = tmp_path / "zoo"
    name = 'a\nb\tc\x01d"e'
    shutil.copytree(exported("ae")[1], zoo / name / "1")
    text = serving_config_text(zoo)
    quoted = re.search(r'\n    name: "((?:[^"\\\n]|\\.)*)"\n', text)
    assert quoted, text
    assert text_encoding.CUnescape(quoted.group(1)).decode() == name
