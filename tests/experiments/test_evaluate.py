"""`ae-zoo evaluate`: evaluation.json against independent computations, on a tiny run,
its SavedModel, and a tiny model on a dSprites subset."""

import contextlib
import io
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from ae_zoo import cli, data, models, samplers
from ae_zoo.evaluation import HEADLINE_LABELS, compute_all, feature_networks, resolve_metrics
from ae_zoo.evaluation.generation import frechet_distance, kernel_distance, precision_recall
from ae_zoo.experiments import evaluate_run
from ae_zoo.experiments.train import run
from ae_zoo.export import export_saved_model
from ae_zoo.training import recipes

from tests.experiments._tiny import PNG, TINY_METRICS

GIF = b"GIF89a"


def tiny_run(name, out, sampler="default", **model):
    recipe = recipes.validate({
        "model": {"name": name, "latent_dim": 2, "architecture": "mlp",
                  "options": {"hidden_units": [16]}, **model},
        "data": {"name": "digits"},
        "training": {"epochs": 1, "batch_size": 64, "jit_compile": False, "iwae_samples": 5},
        "sampler": {"name": sampler},
        "out": str(out),
    })
    run(recipe, verbose=0)
    return out


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    return tiny_run("vae", tmp_path_factory.mktemp("runs") / "vae")


@pytest.fixture(scope="module")
def vae_cli(vae_run):
    """``ae-zoo evaluate RUN --iwae-samples 5``: its evaluation and what it printed."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert cli.main(["evaluate", str(vae_run), "--iwae-samples", "5"]) == 0
    return json.loads((vae_run / "evaluation" / "evaluation.json").read_text()), printed.getvalue()


@pytest.fixture(scope="module")
def vae_eval(vae_cli):
    return vae_cli[0]


@pytest.fixture(scope="module")
def vae_model(vae_run):
    return keras.models.load_model(vae_run / "model.keras", compile=False)


@pytest.fixture(scope="module")
def test_split():
    return data.load("digits", "test")


def test_writes_evaluation_json_and_figures(vae_run, vae_eval):
    out = vae_run / "evaluation"
    assert vae_eval["out"] == str(out)
    assert json.loads((out / "evaluation.json").read_text()) == vae_eval
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no partial files
    assert set(vae_eval["figures"]) == {"reconstructions", "samples", "interpolations",
                                        "traversals", "latent_scatter", "manifold",
                                        "latent_ranges", "traversal_animation"}
    for name in vae_eval["figures"].values():
        assert (out / name).read_bytes()[:6] == (GIF if name.endswith(".gif") else PNG[:6])
    assert vae_eval["dataset"] == {"name": "digits", "split": "test", "options": {},
                                   "num_examples": 360, "has_labels": True, "has_factors": False}
    assert vae_eval["source"]["capabilities"] == models.VAE.capabilities()
    assert vae_eval["source"]["kind"] == "run"
    assert vae_eval["disentanglement"] is None and "disentanglement" in vae_eval["unavailable"]



def test_the_command_closes_naming_every_figure_it_wrote(vae_run, vae_cli):
    _, printed = vae_cli
    lines = printed.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Figures (8) in "))
    closing = " ".join(line.strip() for line in lines[start:])  # the last lines
    files = sorted(p.name for p in (vae_run / "evaluation").iterdir() if p.suffix in (".png", ".gif"))
    assert sorted(closing.split(": ", 1)[1].split(", ")) == files and len(files) == 8


def test_reconstruction_error_is_recomputed_from_the_model(vae_eval, vae_model, test_split):
    recon = np.asarray(vae_model.reconstruct(test_split.x), np.float64)
    assert vae_eval["reconstruction"]["mse"] == pytest.approx(
        np.mean((recon - test_split.x) ** 2), rel=1e-5)
    assert vae_eval["reconstruction"]["loss"] == vae_eval["losses"]["reconstruction_loss"] > 0


def test_latent_stats_match_numpy(vae_eval, vae_model, test_split):
    mean, scale = (np.asarray(t, np.float64) for t in
                   vae_model.encode(test_split.x, return_distribution=True))
    latent = vae_eval["latent"]
    np.testing.assert_allclose(latent["min"], mean.min(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(latent["max"], mean.max(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(latent["mean"], mean.mean(0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(latent["std"], mean.std(0), rtol=1e-4, atol=1e-6)
    assert latent["value_range"] == pytest.approx([mean.min(), mean.max()], rel=1e-5)
    assert latent["active_units"] == int(np.sum(mean.var(0) > 0.01))
    kl = np.mean(0.5 * (scale ** 2 + mean ** 2 - 2 * np.log(scale) - 1), axis=0)
    np.testing.assert_allclose(latent["kl_per_dim"], kl, rtol=1e-4, atol=1e-6)
    assert latent["total_kl"] == pytest.approx(kl.sum(), rel=1e-4)


def test_vae_likelihood(vae_eval, vae_model, test_split):
    lik = vae_eval["likelihood"]
    assert lik["iwae_samples"] == 5 and lik["iwae_examples"] == 360
    assert lik["elbo"] == pytest.approx(-(lik["reconstruction_loss"] + lik["kl"]), rel=1e-4)
    # IWAE with 5 samples is a tighter bound than the one-sample ELBO (up to MC noise)
    assert lik["iwae_nll"] <= -lik["elbo"] + 1.0
    log_px = vae_model.log_likelihood(test_split.x, num_samples=5, batch_size=100)
    assert lik["iwae_nll"] == pytest.approx(-np.mean(log_px), rel=1e-5)


def pixels(images):
    """A feature network of our own: the flattened pixels."""
    return np.asarray(images).reshape(len(images), -1)


class HalfScaleSampler:
    """A sampler of our own: N(0, I) draws at half their scale, decoded."""

    def __init__(self, model):
        self.model = model

    def sample(self, n, seed=0):
        codes = np.random.default_rng(seed).normal(size=(n, self.model.latent_dim))
        return np.asarray(self.model.decode(0.5 * codes.astype("float32")))


@pytest.fixture(scope="module")
def vae_generation(vae_run, vae_model, tmp_path_factory):
    """The VAE run's generation metrics on our own features, with our own sampler too."""
    return evaluate_run(vae_run, out=tmp_path_factory.mktemp("generation"), feature_network=pixels,
                        figures=False, iwae_samples=0, seed=4, generation_samples=300,
                        samplers={"half": HalfScaleSampler(vae_model)})["generation"]


def test_generation_metrics_of_samples_and_reconstructions(vae_eval, vae_generation, vae_model,
                                                           test_split):
    # digits has no shipped feature network: skipped, saying what to pass
    assert vae_eval["generation"] is None and "InceptionV3" in vae_eval["unavailable"]["generation"]
    generation = vae_generation
    assert (generation["num_samples"], generation["seed"]) == (300, 4)
    assert generation["feature_network"]["source"] == "callable"
    real, fake = pixels(test_split.x), pixels(vae_model.sample(300, seed=4))
    scores = generation["samples"]["default"]
    assert scores["source"] == "prior"
    assert (scores["num_real"], scores["num_generated"], scores["feature_dim"]) == (360, 300, 64)
    assert scores["fid"] == pytest.approx(frechet_distance(real, fake), rel=1e-4)
    assert scores["kid"] == pytest.approx(kernel_distance(real, fake, seed=4).value, rel=1e-4)
    assert (scores["precision"], scores["recall"]) == pytest.approx(precision_recall(real, fake))
    halved = pixels(HalfScaleSampler(vae_model).sample(300, seed=4))  # each given sampler too
    assert generation["samples"]["half"]["source"] == "sampler"
    assert generation["samples"]["half"]["fid"] == pytest.approx(frechet_distance(real, halved),
                                                                 rel=1e-4)
    recon = pixels(vae_model.reconstruct(test_split.x))
    assert generation["reconstructions"]["fid"] == pytest.approx(frechet_distance(real, recon),
                                                                 rel=1e-4)


def test_autoencoder_run(tmp_path, test_split):
    out = tiny_run("ae", tmp_path / "ae", sampler="none")  # no sampler: it cannot sample
    result = evaluate_run(out, out=tmp_path / "ev", figures=True)
    assert result["likelihood"] is None and not result["source"]["capabilities"]["generative"]
    assert "samples" not in result["figures"] and "samples" in " ".join(result["unavailable"])
    assert result["source"]["sampler"] is None
    model = keras.models.load_model(out / "model.keras", compile=False)
    codes = np.asarray(model.encode(test_split.x), np.float64)
    assert result["latent"]["value_range"] == pytest.approx([codes.min(), codes.max()], rel=1e-5)
    assert result["latent"]["kl_per_dim"] is None
    assert "BCE" in result["reconstruction"]["loss_definition"]
    assert (tmp_path / "ev" / "traversals.png").read_bytes()[:8] == PNG
    # no prior: the generation metrics score N(0, I) draws decoded, as the AE-vs-VAE story does
    result = evaluate_run(out, out=tmp_path / "g", figures=False, feature_network=pixels,
                          generation_samples=50, seed=2)
    draws = np.stack([tf.random.stateless_normal((model.latent_dim,), seed=[2 + i, 0]).numpy()
                      for i in range(50)])  # z_i from seed 2 + i
    fake = pixels(model.decode(draws))
    scores = result["generation"]["samples"]["default"]
    assert scores["source"] == "normal" and "not generative" in scores["description"]
    assert scores["fid"] == pytest.approx(frechet_distance(pixels(test_split.x), fake), rel=1e-4)


def test_saved_model(vae_run, vae_eval, vae_model, vae_generation, tmp_path):
    path = export_saved_model(vae_model, tmp_path / "sm", warmup=False)
    with pytest.raises(ValueError, match="--dataset"):  # no card: nothing records the data
        evaluate_run(path, out=tmp_path / "none")
    with pytest.raises(ValueError, match="--sampler .* is a SavedModel: pass its Keras model"):
        evaluate_run(path, dataset="digits", out=tmp_path / "none", sampler_names=["gmm"])
    result = evaluate_run(path, dataset="digits", out=tmp_path / "ev")
    assert result["source"]["kind"] == "saved_model"
    assert result["source"]["capabilities"] == {**models.VAE.capabilities(), "has_likelihood": False}
    assert result["reconstruction"]["mse"] == pytest.approx(vae_eval["reconstruction"]["mse"],
                                                            rel=1e-5)
    for key in ("min", "max", "mean", "std", "kl_per_dim"):
        np.testing.assert_allclose(result["latent"][key], vae_eval["latent"][key], rtol=1e-4,
                                   atol=1e-6)
    assert result["likelihood"] is None and result["losses"] is None
    assert {"elbo", "iwae_nll", "losses"} <= set(result["unavailable"])
    assert set(result["figures"]) == set(vae_eval["figures"])
    for name in result["figures"].values():
        assert (tmp_path / "ev" / name).read_bytes()[:6] == (GIF if name.endswith(".gif") else PNG[:6])
    # the exported sample signature draws the same images: the same generation scores
    exported = evaluate_run(path, dataset="digits", out=tmp_path / "g", figures=False,
                            feature_network=pixels, seed=4, generation_samples=300)["generation"]
    for source in ("samples", "reconstructions"):
        theirs = (vae_generation[source]["default"] if source == "samples"
                  else vae_generation[source])
        ours = exported[source]["default"] if source == "samples" else exported[source]
        assert ours["fid"] == pytest.approx(theirs["fid"], rel=1e-3)


def test_dsprites_disentanglement_metrics(tmp_path, saved):
    keras.utils.set_random_seed(0)
    model = models.create("vae", latent_dim=2, input_shape=(64, 64, 1), hidden_units=(8,), seed=0)
    model.save(tmp_path / "tiny.keras")
    result = evaluate_run(tmp_path / "tiny.keras", dataset="dsprites", out=tmp_path / "ev",
                          data_options={"num_samples": 64}, metric_settings=TINY_METRICS,
                          iwae_samples=0, seed=3)
    scores = result["disentanglement"]["scores"]
    assert {k.split(".")[0] for k in scores} == set(resolve_metrics(None))
    assert result["disentanglement"]["settings"]["mig"]["num_train"] == 64
    assert result["disentanglement"]["settings"]["beta_vae_score"]["group_size"] == 4
    # the same scores from compute_all with the model's encoder mean (and, for the sampled
    # codes, its posterior) as numpy
    settings = {k: v for k, v in TINY_METRICS.items() if k != "batch_size"}
    again = compute_all(data.load("dsprites", "test", num_samples=64).ground_truth,
                        lambda x: np.asarray(model.encode(x)), 3, batch_size=64,
                        posterior_function=lambda x: tuple(
                            np.asarray(t) for t in model.encode(x, return_distribution=True)),
                        **settings)
    assert again.keys() == scores.keys()
    for key, value in again.items():
        assert scores[key] == pytest.approx(value, rel=1e-6, abs=1e-9), key
    # dSprites has no labels: the scatter is coloured by its first factor, its shapes named
    assert result["figures"]["latent_scatter"] == "latent_scatter.png"
    scatter = next(f for f in saved if "coloured by shape" in f.axes[0].get_title())
    legend = scatter.axes[0].get_legend()
    assert legend.get_title().get_text() == "shape"
    assert [t.get_text() for t in legend.get_texts()] == ["square", "ellipse", "heart"]
    assert "iwae_nll" in result["unavailable"]
    # a bar per metric's headline score (explicitness beside modularity), as scored
    assert result["figures"]["disentanglement"] == "disentanglement.png"
    bars = next(f for f in saved if "disentanglement scores" in f.get_suptitle())
    shown = {}
    for ax in bars.axes:
        names = [t.get_text() for t in ax.get_yticklabels()]
        widths = [p.get_width() for p in ax.patches]
        shown.update(zip(names, widths))
    labels = {**HEADLINE_LABELS, "modularity_explicitness.explicitness_test": "Explicitness (test AUC)"}
    keys = [*result["disentanglement"]["headline"], "modularity_explicitness.explicitness_test"]
    assert shown == pytest.approx({labels[k]: scores[k] for k in keys})


def test_bad_requests_fail_before_any_work(vae_run, tmp_path):
    with pytest.raises(ValueError, match="no ground-truth factors"):
        evaluate_run(vae_run, metrics="mig", out=tmp_path / "a")
    with pytest.raises(ValueError, match="unknown metric"):
        evaluate_run(vae_run, metrics="mig,jemmig", out=tmp_path / "b")
    with pytest.raises(ValueError, match="no metric takes"):
        evaluate_run(vae_run, metric_settings={"num_trian": 5}, out=tmp_path / "c")
    with pytest.raises(ValueError, match="shape"):
        evaluate_run(vae_run, dataset="mnist5k", out=tmp_path / "d")
    with pytest.raises(FileNotFoundError):
        evaluate_run(tmp_path / "nothing-here", out=tmp_path / "e")
    assert not any((tmp_path / n).exists() for n in "abcd")


def test_cli(vae_run, tmp_path, capsys):
    out = tmp_path / "cli"
    assert cli.main(["evaluate", str(vae_run), "--out", str(out), "--iwae-samples", "0",
                     "--metrics", "none", "--no-figures"]) == 0
    result = json.loads((out / "evaluation.json").read_text())
    assert result["likelihood"]["iwae_nll"] is None and result["figures"] == {}
    assert [p.name for p in out.iterdir()] == ["evaluation.json"]
    assert "evaluation.json" in capsys.readouterr().out
    assert cli.main(["evaluate", str(vae_run), "--metrics", "mig", "--out", str(out)]) == 2
    assert "no ground-truth factors" in capsys.readouterr().err
    assert cli.main(["evaluate", str(vae_run), "--feature-network", "nope", "--out", str(out)]) == 2
    assert "no feature network 'nope'" in capsys.readouterr().err


def test_cli_scores_every_sampler_given(vae_run, vae_model, test_split, tmp_path, capsys):
    keras.utils.set_random_seed(0)
    network = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                                keras.layers.Dense(16, activation="relu")])
    network.save(tmp_path / "features.keras")
    out = tmp_path / "ev"
    args = ["evaluate", str(vae_run), "--out", str(out), "--iwae-samples", "0", "--metrics",
            "none", "--no-figures", "--feature-network", str(tmp_path / "features.keras"),
            "--generation-samples", "100", "--seed", "3"]
    assert cli.main(args + ["--sampler", "gmm", "--sampler", "normal"]) == 0
    printed = capsys.readouterr().out
    assert "gmm_fid" in printed and "normal_fid" in printed
    generation = json.loads((out / "evaluation.json").read_text())["generation"]
    assert generation["feature_network"]["source"] == "file"
    assert (generation["num_samples"], generation["seed"]) == (100, 3)
    samples = generation["samples"]
    assert set(samples) == {"default", "gmm", "normal"}
    train = data.load("digits", "train")
    assert samples["gmm"]["fitted"] == {**samples["gmm"]["fitted"], "class": "GaussianMixtureSampler",
                                        "dataset": "digits", "split": "train",
                                        "num_codes": len(train), "seed": 3}
    # the same sampler fitted to the same codes by a copy of the model draws what was scored
    features = feature_networks.load(tmp_path / "features.keras").features
    copy = keras.models.load_model(vae_run / "model.keras", compile=False)
    gmm = samplers.create("gmm").fit(copy, train.x, seed=3)
    real = features(test_split.x)
    assert samples["gmm"]["fid"] == pytest.approx(
        frechet_distance(real, features(gmm.sample(100, seed=3))), rel=1e-4)
    # N(0, I) draws are the VAE's prior draws: the model's own samples score the same
    for key in ("fid", "kid", "precision", "recall"):
        assert samples["normal"][key] == pytest.approx(samples["default"][key], rel=1e-6)
    assert vae_model.sampler is None  # the model's own samples stay its prior's
    # an unknown name lists the available ones; a sampler for other codes is refused, first
    assert cli.main(args + ["--sampler", "gmn"]) == 2
    assert ("Unknown sampler 'gmn'; available samplers: normal, gmm, two_stage, maf, pixelcnn"
            in capsys.readouterr().err)
    assert cli.main(args + ["--out", str(tmp_path / "b"), "--sampler", "pixelcnn"]) == 2
    assert "discrete codes" in capsys.readouterr().err and not (tmp_path / "b").exists()
