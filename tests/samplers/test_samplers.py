"""Samplers: their draws against independent references (scikit-learn's mixture, the
change of variables, causality by autodiff), saved and exported with their model."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.datasets import load_digits

from ae_zoo import cli, models, samplers
from ae_zoo.export import export_saved_model, load_pretrained
from ae_zoo.samplers import build_gated_pixelcnn, build_made

X = (load_digits().images[:200] / 16.0).astype("float32")[..., None]
SMALL = {"normal": {}, "gmm": {"n_components": 3},
         "two_stage": {"epochs": 2, "hidden_units": (16,)},
         "maf": {"epochs": 2, "num_flows": 2, "hidden_units": (8,)},
         "pixelcnn": {"epochs": 2, "filters": 8, "num_layers": 2}}


def trained(name, **kwargs):
    keras.utils.set_random_seed(0)
    options = dict(latent_dim=4, input_shape=(8, 8, 1), hidden_units=(16,), seed=0)
    options.update(kwargs)
    model = models.create(name, **options)
    model.compile(jit_compile=False)
    model.fit(X, epochs=2, batch_size=50, verbose=0)
    return model


@pytest.fixture(scope="module")
def ae():
    return trained("ae")


@pytest.fixture(scope="module")
def vq():
    return trained("vq_vae", embedding_dim=1, num_embeddings=8)


def fitted(name, ae, vq):
    model = vq if name == "pixelcnn" else ae
    return samplers.create(name, **SMALL[name]).fit(model, X), model


def test_gmm_draws_have_the_mixtures_moments(ae):
    sampler = samplers.GaussianMixtureSampler(n_components=3).fit(ae, X, seed=0)
    mixture = sampler.mixture  # scikit-learn's fitted estimator
    w, mu, cov = mixture.weights_, mixture.means_, mixture.covariances_
    mean = np.sum(w[:, None] * mu, axis=0)
    second = np.sum(w[:, None, None] * (cov + mu[:, :, None] * mu[:, None, :]), axis=0)
    covariance = second - np.outer(mean, mean)
    n = 20000
    z = sampler.sample_codes(tf.range(n, dtype=tf.int64)).numpy().astype(np.float64)
    std = np.sqrt(np.diag(covariance))
    np.testing.assert_allclose(z.mean(axis=0), mean, atol=5 * np.max(std) / np.sqrt(n))
    np.testing.assert_allclose(np.cov(z.T), covariance, atol=0.05 * np.max(np.diag(covariance)))
    np.testing.assert_allclose(sampler.means.numpy(), mu, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.einsum("kij,klj->kil", sampler.scale_tril.numpy(),
                                         sampler.scale_tril.numpy()), cov, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", list(SMALL))
def test_saved_exported_and_in_memory_samples_agree(name, ae, vq, tmp_path):
    sampler, model = fitted(name, ae, vq)
    assert model.sampler is sampler and model.can_sample
    images = np.asarray(sampler.sample(6, seed=11))
    # model.sample draws through one compiled graph: the eager draws up to float32 rounding
    np.testing.assert_allclose(np.asarray(model.sample(6, seed=11)), images, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(sampler.sample(6, seed=11)), images)  # stateless
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert type(loaded.sampler) is type(sampler) and loaded.sampler_name == name
    np.testing.assert_allclose(np.asarray(loaded.sample(6, seed=11)), images, atol=1e-6)
    path = export_saved_model(model, tmp_path / "serving", version=1, warmup=False)
    exported = tf.saved_model.load(path).signatures["sample"](
        seed=tf.constant(np.arange(11, 17), tf.int64))["image"].numpy()
    np.testing.assert_allclose(exported, images, atol=1e-5)
    pretrained = load_pretrained(tmp_path / "serving", require_card=False)
    assert pretrained.can_sample and pretrained.sampler_name == name
    assert pretrained.generative == model.generative


def test_fitted_parameters_never_train_with_the_model(ae):
    model = trained("ae")
    sampler = samplers.TwoStageSampler(**SMALL["two_stage"]).fit(model, X)
    frozen = [w.numpy().copy() for w in sampler.weights]
    assert sampler.weights and not sampler.trainable_weights
    assert not {id(w) for w in sampler.weights} & {id(w) for w in model.trainable_weights}
    model.fit(X, epochs=1, batch_size=50, verbose=0)
    for a, b in zip(frozen, sampler.weights):
        np.testing.assert_array_equal(a, b.numpy())
    assert model.detach_sampler() is sampler and not model.can_sample
    assert not {id(w) for w in sampler.weights} & {id(w) for w in model.weights}
    with pytest.raises(TypeError, match="not generative"):
        model.sample(2)


def test_pixelcnn_is_causal_in_raster_order():
    """d logits(i) / d inputs(j) is zero for every j >= i (mask A: i itself included) and
    not for the neighbours to the left and above."""
    h, w, k = 3, 4, 3
    keras.utils.set_random_seed(1)
    network = build_gated_pixelcnn((h, w), k, filters=4, num_layers=3)
    for layer in network.layers:  # non-zero biases, so no gradient vanishes by accident
        if getattr(layer, "bias", None) is not None:
            layer.bias.assign(np.random.default_rng(0).normal(size=layer.bias.shape))
    x = tf.constant(np.random.default_rng(2).uniform(size=(1, h, w, k)).astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = network(x)
    jacobian = tape.jacobian(logits, x).numpy().reshape(h * w, k, h * w, k)
    influence = np.abs(jacobian).sum(axis=(1, 3))  # [output position, input position]
    for i in range(h * w):
        assert np.all(influence[i, i:] == 0), i
        if i % w:
            assert influence[i, i - 1] > 0, i
        if i >= w:
            assert influence[i, i - w] > 0, i


def test_made_is_autoregressive():
    """Output i (shift and log-scale of z_i) depends on z_1..z_{i-1} only."""
    d = 4
    keras.utils.set_random_seed(3)
    made = build_made(d, (16, 16), "made")
    z = tf.constant(np.random.default_rng(4).normal(size=(1, d)).astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(z)
        out = made(z)
    jacobian = tape.jacobian(out, z).numpy().reshape(2 * d, d)
    for part in (jacobian[:d], jacobian[d:]):
        assert np.all(np.triu(part) == 0)
        assert np.all(np.abs(np.diag(part, k=-1)) > 0)


def test_maf_density_is_the_change_of_variables(ae):
    """log p(f(u)) = log N(u; 0, I) - log |det J_f(u)| (autodiff Jacobian), for the flow on
    standardized codes."""
    sampler = samplers.MAFSampler(**SMALL["maf"]).fit(ae, X)
    d = 4
    u = tf.constant(np.random.default_rng(5).normal(size=(6, d)).astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(u)
        z = sampler.flow().forward(u)
    log_det = np.linalg.slogdet(tape.batch_jacobian(z, u).numpy().astype(np.float64))[1]
    log_normal = -0.5 * np.sum(u.numpy().astype(np.float64) ** 2, axis=1) - 0.5 * d * np.log(2 * np.pi)
    log_p = -sampler.loss(z, None).numpy()  # the batch mean of log p
    assert log_p == pytest.approx(np.mean(log_normal - log_det), rel=1e-4, abs=1e-4)
    assert sampler.history[-1] < sampler.history[0]


def test_samplers_refuse_the_wrong_kind_of_codes(ae, vq):
    with pytest.raises(ValueError, match="discrete"):
        samplers.PixelCNNSampler(**SMALL["pixelcnn"]).fit(ae, X)
    with pytest.raises(ValueError, match="continuous"):
        samplers.GaussianMixtureSampler().fit(vq, X)
    cvae = models.create("cvae", latent_dim=2, input_shape=(8, 8, 1), num_classes=3)
    with pytest.raises(TypeError, match="conditional"):
        samplers.NormalSampler().fit(cvae, X)
    with pytest.raises(ValueError, match="no model"):
        samplers.NormalSampler().sample(2)
    with pytest.raises(ValueError, match="n_components"):
        samplers.GaussianMixtureSampler(n_components=0)
    with pytest.raises(ValueError, match="Unknown sampler"):
        samplers.create("vae")


def test_default_samplers():
    def default(name, **kwargs):
        return samplers.default_for(models.create(name, latent_dim=2, input_shape=(8, 8, 1),
                                                  **kwargs))
    assert default("ae") == default("rae_gp") == "gmm"
    assert default("vae") is None and default("wae_mmd") is None
    assert default("vq_vae", embedding_dim=1) == "pixelcnn"
    assert default("cvae", num_classes=3) is None


def test_train_fits_and_saves_the_recipes_sampler(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", "ae", "--dataset", "digits", "--steps", "3", "--latent-dim", "2",
                     "--xla", "off", "--out", str(out), "--set", "sampler.name=maf",
                     "--set", "sampler.options={epochs: 1, num_flows: 1}"]) == 0
    model = keras.models.load_model(out / "model.keras")
    assert model.sampler_name == "maf" and model.sampler.num_flows == 1
    assert (out / "samples.png").exists()
    assert json.loads((out / "metrics.json").read_text())["sampler_seconds"] > 0
    assert cli.main(["train", "ae", "--dataset", "digits", "--out", str(tmp_path / "bad"),
                     "--set", "sampler.name=gaussian"]) == 2
    assert "sampler.name: unknown sampler 'gaussian'" in capsys.readouterr().err
