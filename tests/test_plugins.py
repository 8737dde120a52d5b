"""Models from other packages, found through the ``ae_zoo.models`` entry-point group.

The test writes a tiny plugin package, installs it into a temporary directory (pip,
offline: ``--no-deps --no-build-isolation``) and runs a fresh interpreter with it on the
path: the plugin's model is listed, trains, tunes and exports through the CLI, and
``keras.models.load_model`` restores it; a plugin that fails to import and one that takes
a built-in's name are skipped with a warning naming them, and the built-ins keep working.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

PLUGIN = '''
"""A plugin model: a plain autoencoder with an L2 penalty on its codes."""

from keras import ops

import ae_zoo
from ae_zoo.models import Autoencoder, hparams


@ae_zoo.register("code_penalty_ae")
class CodePenaltyAE(Autoencoder):
    """Minimizes rec + weight * mean |z|^2."""

    loss_terms = ("loss", "reconstruction_loss", "code_penalty")
    tuning_objective = "val_reconstruction_loss"

    @classmethod
    def search_space(cls, options):
        return {"weight": hparams.log_uniform(1e-3, 1.0, options.get("weight", 0.01))}

    def __init__(self, weight=0.01, **kwargs):
        super().__init__(**kwargs)
        self.weight = float(weight)

    def objective(self, x, y=None, *, labels=None, training=False):
        code, logits = self.forward(x, training)
        rec = self.reconstruction_loss_value(x, logits)
        penalty = self.weight * ops.mean(ops.sum(ops.square(code), axis=-1))
        return {"loss": rec + penalty, "reconstruction_loss": rec, "code_penalty": penalty}

    def get_config(self):
        return {**super().get_config(), "weight": self.weight}
'''

BROKEN = 'raise ImportError("this plugin is broken on purpose")\n'

CLASH = '''
from ae_zoo.models import Autoencoder


class NotTheVAE(Autoencoder):
    """Claims a built-in's name through its entry point."""
'''

SETUP = '''
from setuptools import setup

setup(
    name="ae-zoo-plugin-demo",
    version="0.1",
    py_modules=["demo_plugin", "broken_plugin", "clash_plugin"],
    entry_points={"ae_zoo.models": [
        "code_penalty_ae = demo_plugin",
        "broken = broken_plugin",
        "vae = clash_plugin:NotTheVAE",
    ]},
)
'''

SCRIPT = '''
import contextlib, io, json, sys, warnings

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import ae_zoo
import keras
from ae_zoo import cli, models

out = sys.argv[1]
listing = io.StringIO()
with contextlib.redirect_stdout(listing):
    cli.main(["list"])
train = cli.main(["train", "code_penalty_ae", "--dataset", "digits", "--steps", "3",
                  "--latent-dim", "2", "--out", out + "/run"])
export = cli.main(["export", out + "/run", "--out", out + "/zoo/plugin", "--no-warmup"])
with open(out + "/recipe.yaml", "w") as f:
    f.write("model: {name: code_penalty_ae, latent_dim: 2, options: {hidden_units: [8]}}\\n"
            "data: {name: digits}\\ntraining: {epochs: 1, batch_size: 64}\\n")
tune = cli.main(["tune", "--recipe", out + "/recipe.yaml", "--max-trials", "1",
                 "--no-retrain", "--out", out + "/tune", "--verbose", "0"])
loaded = keras.models.load_model(out + "/run/model.keras")
print(json.dumps({
    "names": models.names(), "listing": listing.getvalue(), "codes": [train, export, tune],
    "loaded": type(loaded).__name__, "weight": loaded.weight,
    "vae": models.get("vae").__name__, "plugins": models.plugins(),
    "warnings": [str(w.message) for w in caught],
}))
'''


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The plugin package, pip-installed into a directory of its own."""
    source = tmp_path_factory.mktemp("plugin_source")
    for name, text in {"demo_plugin.py": PLUGIN, "broken_plugin.py": BROKEN,
                       "clash_plugin.py": CLASH, "setup.py": SETUP}.items():
        (source / name).write_text(textwrap.dedent(text))
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--no-index", "--target", str(target), str(source)],
                   check=True, capture_output=True, timeout=300)
    return target


def test_a_plugin_model_gets_every_command_and_broken_ones_are_skipped(installed, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(installed), os.getcwd()]),
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert "code_penalty_ae" in result["names"] and "broken" not in result["names"]
    assert "code_penalty_ae" in result["listing"]
    assert result["codes"] == [0, 0, 0]
    assert (result["loaded"], result["weight"]) == ("CodePenaltyAE", 0.01)
    assert result["vae"] == "VAE"  # the built-in keeps its name
    failed = result["plugins"]["failed"]
    assert any(k.startswith("broken = broken_plugin") and "broken on purpose" in v
               for k, v in failed.items())
    assert any(k.startswith("vae = clash_plugin") and "built-in" in v for k, v in failed.items())
    warned = "\n".join(result["warnings"])
    assert "broken = broken_plugin" in warned and "vae = clash_plugin:NotTheVAE" in warned
    card = json.loads((tmp_path / "zoo" / "plugin" / "card.json").read_text())
    # not generative, but its run fitted its default sampler (a GMM) to its codes
    assert card["model"] == "code_penalty_ae" and "sample" in card["signatures"]
    assert (tmp_path / "tune" / "best_recipe.yaml").exists()
