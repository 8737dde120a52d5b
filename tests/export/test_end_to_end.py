"""Slow end-to-end checks (``pytest --run-slow``): a real run into the zoo, and packaging."""

import glob
import json
import os
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from ae_zoo import cli, data
from ae_zoo.export import load_pretrained

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.slow
def test_train_export_load_matches_the_card(tmp_path):
    run, out = tmp_path / "runs" / "vae_digits", tmp_path / "saved_models" / "vae_digits"
    assert cli.main(["train", "vae", "--dataset", "digits", "--steps", "3", "--latent-dim", "2",
                     "--iwae-samples", "5", "--xla", "off", "--out", str(run)]) == 0
    assert cli.main(["export", str(run), "--out", str(out)]) == 0
    model = load_pretrained(out)
    card = model.card
    assert card["dataset"] == "digits" and card["command"].startswith("ae-zoo train vae")
    test = data.load(card["dataset"], card["split"]["test"])
    mse = float(np.mean((model.reconstruct(test.x) - test.x) ** 2))
    assert mse == pytest.approx(card["metrics"]["test_reconstruction_mse"], rel=1e-3, abs=1e-6)
    assert {"test_elbo", "test_iwae_nll"} <= set(card["metrics"])


@pytest.mark.slow
def test_the_wheel_ships_saved_models_and_recipes(tmp_path, exported):
    """`pip install .` (non-editable) must carry saved_models/ as ae_zoo/_pretrained, and the
    feature networks of the generation metrics."""
    src = tmp_path / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(".git", "build", "*.egg-info", "__pycache__",
                                                              "runs", "saved_models"))
    shutil.copytree(exported("vae")[1], src / "saved_models" / "vae_tiny" / "1")
    (src / "saved_models" / "vae_tiny" / "card.json").write_text(json.dumps({"name": "vae_tiny"}))
    os.makedirs(src / "saved_models" / "vae_tiny" / ".export-partial")  # never shipped
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                             "-q", "-w", str(tmp_path / "dist"), str(src)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    (wheel,) = glob.glob(str(tmp_path / "dist" / "*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for path in ("card.json", "1/saved_model.pb", "1/variables/variables.index",
                 "1/assets.extra/tf_serving_warmup_requests"):
        if path.startswith("1/assets.extra") and not os.path.exists(src / "saved_models" / "vae_tiny" / path):
            continue
        assert f"ae_zoo/_pretrained/vae_tiny/{path}" in names, path
    assert not [n for n in names if ".export-" in n]
    for name in ("mnist5k", "dsprites"):  # the generation metrics' feature networks
        for suffix in (".keras", ".json", ".md"):
            assert f"ae_zoo/evaluation/feature_networks/{name}{suffix}" in names
    if os.path.isdir(os.path.join(REPO, "recipes")):
        assert [n for n in names if n.startswith("ae_zoo/recipes/") and n.endswith(".yaml")]
