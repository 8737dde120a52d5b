"""The extension point: a model declares what it can do, and the whole package asks it.

A model written here on the base class alone (no VAE class in its ancestry), declaring
itself generative with a likelihood, trains through the CLI, exports a ``sample``
signature, gets its ELBO, -log p(x) and samples figure from ``ae-zoo evaluate`` and a
search space from the tuner. Outside ``ae_zoo/models/`` no code tests a model's class,
and imports run one way through the layers.
"""

import ast
import json
import pathlib

import keras
import keras_tuner
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

import ae_zoo
from ae_zoo import cli, models
from ae_zoo.models import registry
from ae_zoo.tuning import AutoencoderHyperModel, default_objective

PACKAGE = pathlib.Path(ae_zoo.__file__).parent


class ScratchVAE(models.Autoencoder):
    """A Gaussian VAE on the base class alone: minimizes -ELBO = -log p(x|z) + KL(q || N(0, I))."""

    loss_terms = ("loss", "reconstruction_loss", "kl", "elbo")
    generative = True
    has_likelihood = True
    prior_type = "standard_normal"
    maximized_terms = ("elbo",)
    tuning_objective = "val_elbo"

    @property
    def code_dim(self):
        return 2 * self.latent_dim

    def gaussian(self, x, condition=None, training=False):
        head = self._encoder_head(x, training, condition)[0]
        mean, log_var = ops.split(ops.cast(head, "float32"), 2, axis=-1)
        return mean, ops.clip(log_var, -20.0, 10.0)

    def codes(self, x, condition=None, training=False, return_distribution=False):
        return self.gaussian(x, condition, training)[0]

    def forward(self, x, training=False, condition=None):
        mean = self.codes(x, condition, training)
        return mean, self._decoder_logits(self.decoder_input(mean, condition), None, training)

    def log_px_given_z(self, x, z):
        logits = ops.cast(self._decoder_logits(z), "float32")
        bce = ops.binary_crossentropy(ops.cast(x, "float32"), logits, from_logits=True)
        return -ops.sum(ops.reshape(bce, (ops.shape(bce)[0], -1)), axis=-1)

    def objective(self, x, y=None, *, labels=None, training=False):
        mean, log_var = self.gaussian(x, training=training)
        z = mean + ops.exp(0.5 * log_var) * keras.random.normal(ops.shape(mean),
                                                                seed=self.seed_generator)
        rec = -ops.mean(self.log_px_given_z(x, z))
        kl = ops.mean(0.5 * ops.sum(ops.exp(log_var) + ops.square(mean) - 1.0 - log_var, axis=-1))
        return {"loss": rec + kl, "reconstruction_loss": rec, "kl": kl, "elbo": -(rec + kl)}

    def sample_codes(self, seeds, *, labels=None):
        return tf.map_fn(lambda s: tf.random.stateless_normal((self.latent_dim,), [s, 0]),
                         tf.cast(seeds, tf.int64), fn_output_signature=tf.float32)

    def log_likelihood(self, x, *, labels=None, num_samples=50, batch_size=64, seed=0):
        """log p(x) ~= logsumexp_k [log p(x|z_k) + log N(z_k) - log q(z_k|x)] - log K."""
        x = tf.constant(np.asarray(x, "float32"))
        mean, log_var = self.gaussian(x)
        std = ops.exp(0.5 * log_var)
        log_w = []
        for k in range(int(num_samples)):
            eps = tf.random.stateless_normal(ops.shape(mean), [seed, k])
            z = mean + std * eps
            log_q = ops.sum(-0.5 * ops.square(eps) - ops.log(std), axis=-1)
            log_p = ops.sum(-0.5 * ops.square(z), axis=-1)
            log_w.append(self.log_px_given_z(x, z) + log_p - log_q)
        return (ops.logsumexp(ops.stack(log_w), axis=0) - np.log(num_samples)).numpy()


@pytest.fixture
def scratch_vae(monkeypatch):
    """ScratchVAE registered as ``scratch_vae`` for this test only."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    ae_zoo.register("scratch_vae")(ScratchVAE)
    return "scratch_vae"


def test_a_model_that_only_declares_itself_generative_gets_everything(scratch_vae, tmp_path):
    assert not issubclass(ScratchVAE, models.VAE)
    run_dir = tmp_path / "run"
    assert cli.main(["train", scratch_vae, "--dataset", "digits", "--epochs", "2",
                     "--latent-dim", "2", "--iwae-samples", "5", "--out", str(run_dir)]) == 0
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert np.isfinite(metrics["test_elbo"]) and np.isfinite(metrics["test_iwae_nll"])
    assert (run_dir / "samples.png").exists()
    # -log p(x) estimated by importance sampling is at most the negative ELBO (MC noise aside)
    assert metrics["test_iwae_nll"] <= -metrics["test_elbo"] + 1.0

    assert cli.main(["export", str(run_dir), "--out", str(tmp_path / "zoo" / "scratch"),
                     "--no-warmup"]) == 0
    exported = ae_zoo.load_pretrained(tmp_path / "zoo" / "scratch")
    assert {"sample", "encode", "decode", "reconstruct"} <= set(exported.signatures)
    model = keras.models.load_model(run_dir / "model.keras")
    np.testing.assert_allclose(exported.sample(4, seed=3), model.sample(4, seed=3), atol=1e-5)

    out = tmp_path / "evaluation"
    assert cli.main(["evaluate", str(run_dir), "--out", str(out), "--iwae-samples", "5",
                     "--metrics", "none"]) == 0
    evaluation = json.loads((out / "evaluation.json").read_text())
    assert np.isfinite(evaluation["likelihood"]["elbo"])
    assert np.isfinite(evaluation["likelihood"]["iwae_nll"])
    assert evaluation["figures"]["samples"] == "samples.png" and (out / "samples.png").exists()

    hypermodel = AutoencoderHyperModel(scratch_vae, input_shape=(8, 8, 1),
                                       base_options={"hidden_units": (16,)})
    assert {"latent_dim", "learning_rate", "width_multiplier"} <= set(hypermodel.search_space)
    assert isinstance(hypermodel.build(keras_tuner.HyperParameters()), ScratchVAE)
    objective = default_objective(scratch_vae)
    assert (objective.name, objective.direction) == ("val_elbo", "max")


def test_objective_terms_must_match_the_declared_ones():
    class Extra(models.Autoencoder):
        def objective(self, x, y=None, *, labels=None, training=False):
            terms = super().objective(x, y, labels=labels, training=training)
            return {**terms, "sharpness": terms["loss"]}

    class Missing(models.Autoencoder):
        loss_terms = ("loss", "reconstruction_loss", "sparsity")

    x = np.random.default_rng(0).uniform(size=(8, 4, 4, 1)).astype("float32")
    for cls, named in ((Extra, "not declared \\['sharpness'\\]"), (Missing, "missing \\['sparsity'\\]")):
        model = cls(latent_dim=2, input_shape=(4, 4, 1), hidden_units=(4,))
        model.compile(jit_compile=False)
        with pytest.raises(ValueError, match=named):
            model.fit(x, epochs=1, batch_size=4, verbose=0)


def test_register_rejects_what_is_not_a_model_and_a_taken_name(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    with pytest.raises(TypeError, match="ae_zoo model class"):
        ae_zoo.register("thing")(dict)
    with pytest.raises(ValueError, match="already registered as 'vae'"):
        ae_zoo.register("vae")(ScratchVAE)
    assert models.get("vae") is models.VAE


# ------------------------------------------------------------ code structure
#: The layers, lowest first: a module imports only from its own layer or lower ones. The
#: package root (``import ae_zoo``) is the composition root above them all.
LAYERS = [
    {"_io", "_random", "_version", "_catalog", "_zoo", "optimizers"}, {"data"}, {"layers"},
    {"nets"}, {"models"}, {"samplers"}, {"training"}, {"export"}, {"evaluation"}, {"viz"},
    {"experiments"}, {"tuning"},
    {"cli", "__main__", "examples", "ae_zoo"},
]


def _package_of(path):
    relative = path.relative_to(PACKAGE)
    return relative.parts[0].removesuffix(".py")


def _layer(name):
    return next(i for i, layer in enumerate(LAYERS) if name in layer)


def _sources():
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name != "__init__.py" or path.parent != PACKAGE:  # the composition root
            yield path, path.read_text(), ast.parse(path.read_text())


def _imported(node):
    if isinstance(node, ast.ImportFrom):
        return [node.module or ""]
    return [alias.name for alias in node.names]


def _targets(node):
    """The top-level ae_zoo modules an import statement reaches (``"ae_zoo"``: the root)."""
    if isinstance(node, ast.Import):
        return [a.name.split(".")[1] if a.name.startswith("ae_zoo.") else "ae_zoo"
                for a in node.names if a.name.split(".")[0] == "ae_zoo"]
    module = node.module or ""
    if module == "ae_zoo":
        return [a.name for a in node.names]
    return [module.split(".")[1]] if module.startswith("ae_zoo.") else []


def test_imports_run_one_way_through_the_layers():
    upward = []
    for path, _, tree in _sources():
        own = _layer(_package_of(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                upward += [f"{path.relative_to(PACKAGE)}:{node.lineno} imports {target}"
                           for target in _targets(node) if _layer(target) > own]
    assert upward == []


def test_function_level_imports_only_where_they_save_a_real_cost():
    """Inside functions: no ae_zoo module (but in cli.py, which starts without TensorFlow),
    and a third-party one only with its reason on the line."""
    found = []
    for path, text, tree in _sources():
        lines = text.splitlines()
        for function in ast.walk(tree):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(function):
                if not isinstance(node, (ast.Import, ast.ImportFrom)):
                    continue
                internal = any(m.startswith("ae_zoo") for m in _imported(node))
                reason = "#" in lines[node.lineno - 1]
                if (internal and path.name != "cli.py") or not (internal or reason):
                    found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert found == []


def test_no_code_outside_models_tests_a_model_class():
    classes = {name for name in models.__all__ if isinstance(getattr(models, name), type)}
    found = []
    for path, _, tree in _sources():
        if _package_of(path) == "models":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in (
                    "isinstance", "issubclass") and len(node.args) == 2:
                names = {n.attr if isinstance(n, ast.Attribute) else getattr(n, "id", None)
                         for n in ast.walk(node.args[1])}
                if names & classes:
                    found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert found == []


def test_the_readme_example_is_the_shipped_example_file():
    readme = (pathlib.Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("## Add your own model")[1]
    block = section.split("```python\n")[1].split("```")[0]
    assert block.strip() == (PACKAGE / "examples" / "mmd_vae.py").read_text().strip()
    assert "mmd_vae" in models.names()  # the test suite imports it (tests/conftest.py)
