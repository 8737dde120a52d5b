"""AnnealedVAE, beta-TCVAE, FactorVAE and DIP-VAE, each against an independent reference."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy.special import logsumexp

from ae_zoo import models
from ae_zoo.models import (
    DIPVAE,
    DIPVAEI,
    DIPVAEII,
    AnnealedVAE,
    BetaTCVAE,
    FactorVAE,
    dip_covariance_penalty,
    minibatch_weighted_tc,
)

SHAPE = (8, 8, 1)
TINY = dict(latent_dim=3, input_shape=SHAPE, hidden_units=(32,), seed=0)
# Registry name -> options that keep each model's loss on a tiny problem informative.
MODELS = {
    "annealed_vae": dict(gamma=10.0, c_max=2.0, anneal_steps=100000),
    "beta_tcvae": dict(beta=6.0, dataset_size=32),
    "factor_vae": dict(gamma=10.0, discriminator_units=(16,)),
    "dip_vae_i": dict(lambda_od=2.0),
    "dip_vae_ii": dict(lambda_od=2.0),
}
EXTRA_TERMS = {
    "annealed_vae": {"capacity"},
    "beta_tcvae": {"tc"},
    "factor_vae": {"tc", "discriminator_loss", "discriminator_accuracy"},
    "dip_vae_i": {"dip_penalty"},
    "dip_vae_ii": {"dip_penalty"},
}


@pytest.fixture(scope="module")
def x():
    """32 binary 8x8 images: a random bar pattern plus a little noise, in [0, 1]."""
    rng = np.random.default_rng(0)
    rows = rng.integers(0, 2, size=(32, 8, 1, 1)).astype("float32")
    cols = rng.integers(0, 2, size=(32, 1, 8, 1)).astype("float32")
    return np.clip(np.maximum(rows, cols) * 0.9 + 0.05 * rng.random((32, *SHAPE)), 0, 1).astype("float32")


@pytest.fixture(scope="module")
def fitted(x):
    """Each model fitted for 6 epochs of 4 steps: (model, history). (That every model
    trains, with XLA on and off, and round-trips: the shared battery.)"""
    out = {}
    for name, options in MODELS.items():
        model = models.create(name, **TINY, **options)
        model.compile(optimizer=keras.optimizers.Adam(3e-3), jit_compile=False)
        history = model.fit(x, epochs=6, batch_size=8, shuffle=False, verbose=0)
        out[name] = model, history.history
    return out


# ------------------------------------------------------------- the estimators
def _numpy_mws_tc(z, mean, log_var, n):
    """The MWS estimator with explicit loops over i, j, d."""
    m, d = z.shape

    def log_normal(v, mu, lv):
        return -0.5 * (np.log(2 * np.pi) + lv + (v - mu) ** 2 / np.exp(lv))

    tc = 0.0
    for i in range(m):
        joint = [sum(log_normal(z[i, k], mean[j, k], log_var[j, k]) for k in range(d)) for j in range(m)]
        log_qz = logsumexp(joint) - np.log(n * m)
        log_prod = 0.0
        for k in range(d):
            marginal = [log_normal(z[i, k], mean[j, k], log_var[j, k]) for j in range(m)]
            log_prod += logsumexp(marginal) - np.log(n * m)
        tc += log_qz - log_prod
    return tc / m


@pytest.mark.parametrize("m,d,n", [(6, 3, 100), (9, 1, 5000), (4, 5, 60000)])
def test_minibatch_weighted_tc_matches_brute_force(m, d, n):
    rng = np.random.default_rng(m * d)
    mean = rng.normal(size=(m, d))
    log_var = rng.normal(scale=0.7, size=(m, d))
    z = mean + np.exp(0.5 * log_var) * rng.normal(size=(m, d))
    expected = _numpy_mws_tc(z, mean, log_var, n)
    got = minibatch_weighted_tc(*(tf.constant(a, tf.float32) for a in (z, mean, log_var)), n)
    np.testing.assert_allclose(float(got), expected, rtol=1e-5, atol=1e-4)
    if d == 1:  # one dimension: no correlation, q(z) and prod_d q(z_d) are the same estimate
        assert abs(float(got)) < 1e-5


def _numpy_dip(mean, log_var, kind, lambda_od, lambda_d):
    cov = np.cov(mean, rowvar=False, ddof=0)  # population covariance E[mu mu^T] - E[mu] E[mu]^T
    if kind == "ii":
        cov = cov + np.diag(np.exp(log_var).mean(axis=0))
    off = cov[~np.eye(len(cov), dtype=bool)]
    return lambda_od * np.sum(off ** 2) + lambda_d * np.sum((np.diag(cov) - 1) ** 2)


@pytest.mark.parametrize("kind", ["i", "ii"])
def test_dip_covariance_penalty_matches_numpy(kind):
    rng = np.random.default_rng(1)
    mean = rng.normal(size=(20, 4)) @ rng.normal(size=(4, 4))  # correlated means
    log_var = rng.normal(scale=0.5, size=(20, 4))
    got = dip_covariance_penalty(tf.constant(mean, tf.float32), tf.constant(log_var, tf.float32),
                                 kind, 3.0, 7.0)
    np.testing.assert_allclose(float(got), _numpy_dip(mean, log_var, kind, 3.0, 7.0), rtol=1e-5)


@pytest.mark.parametrize("name,kind,lambda_d", [("dip_vae_i", "i", 20.0), ("dip_vae_ii", "ii", 2.0)])
def test_dip_models_use_their_kind_and_penalize_the_encoder_means(x, name, kind, lambda_d):
    model = models.create(name, lambda_od=2.0, **TINY)
    assert model.kind == kind and model.lambda_d == lambda_d and model.registry_name == name
    mean, scale = (np.asarray(a, "float64") for a in model.encode(x, return_distribution=True))
    losses = model.objective(tf.constant(x))
    expected = _numpy_dip(mean, 2 * np.log(scale), kind, 2.0, lambda_d)
    np.testing.assert_allclose(float(losses["dip_penalty"]), expected, rtol=1e-4)
    assert DIPVAE(kind="ii").lambda_d == DIPVAE(kind="ii").lambda_od == 10.0


# ----------------------------------------------------------------- AnnealedVAE
def test_annealed_capacity_follows_schedule_under_xla(x):
    c_max, steps = 5.0, 4
    model = AnnealedVAE(gamma=3.0, c_max=c_max, anneal_steps=steps, **TINY)
    model.compile(jit_compile=True)
    for t in range(7):  # the capacity of step t is C(t), t = optimizer steps done before it
        logs = model.train_on_batch(x[:8], return_dict=True)
        np.testing.assert_allclose(logs["capacity"], c_max * min(1.0, t / steps), rtol=1e-6)
        np.testing.assert_allclose(
            logs["loss"], logs["reconstruction_loss"] + 3.0 * abs(logs["kl"] - logs["capacity"]), rtol=1e-5
        )
    assert int(model.optimizer.iterations) == 7
    assert float(model.objective(tf.constant(x))["capacity"]) == pytest.approx(c_max)


# ------------------------------------------------------------------- FactorVAE
def _train_discriminator(correlated, steps=100, batch=256, latent_dim=4):
    model = FactorVAE(discriminator_units=(32, 32), discriminator_learning_rate=3e-3,
                      latent_dim=latent_dim, input_shape=SHAPE, hidden_units=(8,), seed=0)
    rng = np.random.default_rng(int(correlated))

    def draw(n):
        eps = rng.normal(size=(n, latent_dim))
        if correlated:  # corr(z_i, z_j) = 0.9: one shared factor
            eps = np.sqrt(0.9) * rng.normal(size=(n, 1)) + np.sqrt(0.1) * eps
        return tf.constant(eps, tf.float32)

    step = tf.function(model.discriminator_step, jit_compile=True)
    for _ in range(steps):
        step(draw(batch))
    return float(model.discriminator_loss(draw(8192))[1])


def test_discriminator_detects_correlated_latents():
    assert _train_discriminator(correlated=True) > 0.8  # the Bayes classifier gets ~0.91


def test_discriminator_stays_at_chance_for_independent_latents():
    assert abs(_train_discriminator(correlated=False) - 0.5) < 0.05


def _snapshot(weights):
    return [np.array(w) for w in weights]


def _changed(before, weights):
    return any(not np.array_equal(b, np.array(w)) for b, w in zip(before, weights))


def test_factor_vae_updates_each_network_with_its_own_optimizer(x):
    model = FactorVAE(gamma=50.0, discriminator_units=(16,), **TINY)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=False)  # XLA: test_training_*
    encoder, disc = model.encoder.trainable_weights, model.discriminator.trainable_weights
    assert {id(w) for w in model.optimized_weights} & {id(w) for w in disc} == set()
    assert len(model.optimized_weights) + len(disc) == len(model.trainable_weights)

    # The model's optimizer (the VAE step) alone: D unchanged although the VAE loss reads it.
    model.discriminator_optimizer.learning_rate.assign(0.0)
    e0, d0 = _snapshot(encoder), _snapshot(disc)
    model.fit(x, epochs=1, batch_size=16, verbose=0)
    assert _changed(e0, encoder) and not _changed(d0, disc)

    # The discriminator's optimizer alone: the encoder is unchanged.
    model.discriminator_optimizer.learning_rate.assign(1e-2)
    model.optimizer.learning_rate.assign(0.0)
    e0, d0 = _snapshot(encoder), _snapshot(disc)
    model.fit(x, epochs=1, batch_size=16, verbose=0)
    assert _changed(d0, disc) and not _changed(e0, encoder)
    model.discriminator_step(model.encode(x))
    assert not _changed(e0, encoder)
    assert int(model.discriminator_optimizer.iterations) == 5  # 4 fit steps + 1


# --------------------------------------------------- the loss of every model
@pytest.mark.parametrize("name", list(MODELS))
def test_evaluate_reports_every_term_and_the_loss_adds_up(fitted, x, name):
    model, _ = fitted[name]
    r = model.evaluate(x, batch_size=len(x), verbose=0, return_dict=True)  # one batch
    assert set(r) == {"loss", "reconstruction_loss", "kl", "elbo"} | EXTRA_TERMS[name]
    assert r["elbo"] == pytest.approx(-(r["reconstruction_loss"] + r["kl"]), rel=1e-5)
    rec, kl = r["reconstruction_loss"], r["kl"]
    expected = {
        "annealed_vae": lambda: rec + model.gamma * abs(kl - r.get("capacity", 0)),
        "beta_tcvae": lambda: rec + kl + (6.0 - 1.0) * r.get("tc", 0),
        "factor_vae": lambda: rec + kl + model.gamma * r.get("tc", 0),
        "dip_vae_i": lambda: rec + kl + r.get("dip_penalty", 0),
        "dip_vae_ii": lambda: rec + kl + r.get("dip_penalty", 0),
    }[name]()
    assert r["loss"] == pytest.approx(expected, rel=1e-5, abs=1e-4)


def test_factor_vae_round_trip_restores_the_discriminator_and_its_optimizer(fitted, x, tmp_path):
    model, _ = fitted["factor_vae"]
    path = os.path.join(tmp_path, "factor_vae.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    z = model.encode(x)
    np.testing.assert_array_equal(loaded.discriminator(z), model.discriminator(z))
    assert int(loaded.discriminator_optimizer.iterations) == 24
    for a, b in zip(model.discriminator_optimizer.variables,
                    loaded.discriminator_optimizer.variables, strict=True):
        np.testing.assert_array_equal(np.array(a), np.array(b))
    loaded.fit(x, epochs=1, batch_size=16, verbose=0)  # recompiled, optimizers restored


def _user_networks():
    encoder = keras.Sequential([keras.Input(SHAPE), keras.layers.Flatten(), keras.layers.Dense(6)])
    decoder = keras.Sequential([keras.Input((3,)), keras.layers.Dense(64), keras.layers.Reshape(SHAPE)])
    return dict(encoder=encoder, decoder=decoder)


# Every model on one of the other networks (MLP: the tests above).
ARCHITECTURE_CASES = [
    ("annealed_vae", "conv"), ("beta_tcvae", "user"), ("factor_vae", "conv_unpool"),
    ("dip_vae_i", "conv_unpool"), ("dip_vae_ii", "conv"),
]


@pytest.mark.parametrize("name,architecture", ARCHITECTURE_CASES)
def test_other_architectures_train(x, name, architecture):
    if architecture == "user":
        nets = _user_networks()
    else:
        nets = dict(architecture=architecture, filters=(4,), input_shape=SHAPE)
    model = models.create(name, latent_dim=3, seed=0, **nets, **MODELS[name])
    model.compile()
    logs = model.train_step(tf.constant(x[:8]))  # eagerly: graph and XLA steps are tested above
    assert set(logs) >= EXTRA_TERMS[name] and np.all(np.isfinite([float(v) for v in logs.values()]))


# ---------------------------------------------------------- registry and args
def test_registry_names():
    expected = {"annealed_vae": AnnealedVAE, "beta_tcvae": BetaTCVAE, "factor_vae": FactorVAE,
                "dip_vae_i": DIPVAEI, "dip_vae_ii": DIPVAEII}
    for name, cls in expected.items():
        assert models.get(name) is cls and name in models.names()
    assert models.create("dip_vae_ii", **TINY).kind == "ii"
    assert BetaTCVAE(**TINY).beta.numpy() == 6.0 and FactorVAE(**TINY).beta.numpy() == 1.0


@pytest.mark.parametrize("cls,kwargs", [
    (AnnealedVAE, dict(gamma=-1.0)),
    (AnnealedVAE, dict(c_max=-0.5)),
    (AnnealedVAE, dict(anneal_steps=0)),
    (AnnealedVAE, dict(anneal_steps=-10)),
    (BetaTCVAE, dict(dataset_size=0)),
    (BetaTCVAE, dict(beta=-1.0)),
    (FactorVAE, dict(gamma=-1.0)),
    (FactorVAE, dict(discriminator_units=(0,))),
    (FactorVAE, dict(discriminator_learning_rate=0.0)),
    (DIPVAE, dict(kind="iii")),
    (DIPVAE, dict(lambda_od=-1.0)),
    (DIPVAEI, dict(kind="ii")),
])
def test_bad_hyperparameters_raise_before_training(cls, kwargs):
    with pytest.raises(ValueError):
        cls(**TINY, **kwargs)


def test_dip_penalty_rejects_unknown_kind():
    with pytest.raises(ValueError, match="kind"):
        dip_covariance_penalty(tf.zeros((4, 2)), tf.zeros((4, 2)), "iii", 1.0, 1.0)


def test_annealed_vae_has_no_beta():
    with pytest.raises(TypeError, match="gamma"):
        AnnealedVAE(beta=2.0, **TINY)
