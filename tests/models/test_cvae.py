"""Correctness of the ConditionalVAE, each part against an independent reference.

The toy data has two classes whose label determines the image (class 0: top
half on, class 1: bottom half on, a few pixels flipped), so a trained model's
generated images can be checked against the class templates.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from ae_zoo.models import ConditionalVAE
from ae_zoo.models.vae import prior_draws
from tests.models.test_vae import grid_quadrature, np_kl_per_dim, np_log_bernoulli

SHAPE = (6, 6, 1)
C = 2  # classes
L = 2  # latent dimensions


# ----------------------------------------------------------------------- data
def templates():
    t = np.zeros((C, *SHAPE), "float32")
    t[0, :3] = 1.0
    t[1, 3:] = 1.0
    return t


def toy(n, seed, flip=0.05):
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % C)
    x = templates()[y]
    x = np.where(rng.random(x.shape) < flip, 1.0 - x, x).astype("float32")
    return x, y


@pytest.fixture(scope="module")
def train_data():
    return toy(64, seed=0)


@pytest.fixture(scope="module")
def val_data():
    return toy(32, seed=1)


def make_cvae(seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    kwargs.setdefault("hidden_units", (32,))
    return ConditionalVAE(num_classes=C, latent_dim=L, input_shape=SHAPE, seed=seed, **kwargs)


def onehot(labels):
    return np.eye(C, dtype="float32")[np.asarray(labels).reshape(-1)]


def raw_posterior(model, x, labels):
    """(mu, log sigma^2) straight off the encoder fed [x, one-hot label]."""
    out = model.encoder([np.asarray(x), onehot(labels)], training=False)
    if isinstance(out, dict):
        out = out["code"]
    out = np.asarray(out, np.float64)
    return out[:, :L], out[:, L:]


def decoder_logits(model, z, labels):
    """The decoder fed [z, one-hot label] concatenated, as the model promises."""
    return np.asarray(model.decoder(np.concatenate([np.asarray(z, "float32"), onehot(labels)], 1)))


@pytest.fixture(scope="module")
def trained(train_data, val_data):
    """A CVAE fit (XLA off) on a tf.data dataset of (x, label) pairs; returns (model, history)."""
    x, y = train_data
    model = make_cvae(seed=0)
    model.compile(optimizer=keras.optimizers.Adam(2e-2), jit_compile=False)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(64, seed=0).batch(16)
    val = tf.data.Dataset.from_tensor_slices(val_data).batch(16)
    history = model.fit(ds, epochs=15, validation_data=val, validation_freq=5, verbose=0)
    return model, history.history


def _check_terms(logs, beta=1.0, prefix=""):
    rec, kl = np.asarray(logs[prefix + "reconstruction_loss"]), np.asarray(logs[prefix + "kl"])
    np.testing.assert_allclose(logs[prefix + "elbo"], -(rec + kl), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(logs[prefix + "loss"], rec + beta * kl, rtol=1e-5, atol=1e-4)
    assert np.all(kl >= 0)


KEYS = {"loss", "reconstruction_loss", "kl", "elbo"}


# ====================================================================== fit
@pytest.mark.parametrize("jit", [False, True], ids=["xla_off", "xla_on"])
def test_fit_on_arrays_and_evaluate(jit, train_data, val_data):
    (x, y), (xv, yv) = train_data, val_data
    model = make_cvae(seed=1)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=jit)
    assert model.jit_compile is jit
    history = model.fit(x, y, epochs=4, batch_size=16, validation_data=(xv, yv), verbose=0).history
    assert set(history) == KEYS | {f"val_{k}" for k in KEYS}
    assert all(np.all(np.isfinite(v)) for v in history.values())
    _check_terms(history)
    _check_terms(history, prefix="val_")
    assert history["loss"][-1] < history["loss"][0]
    result = model.evaluate(xv, yv, batch_size=16, return_dict=True, verbose=0)
    assert set(result) == KEYS
    _check_terms(result)
    mu, log_var = raw_posterior(model, xv, yv)  # the KL does not depend on the draw of z
    np.testing.assert_allclose(result["kl"], np_kl_per_dim(mu, log_var).sum(1).mean(), rtol=1e-4)


def test_fit_on_a_dataset_of_pairs(trained):
    _, history = trained
    assert set(history) == KEYS | {f"val_{k}" for k in KEYS}
    assert len(history["loss"]) == 15 and len(history["val_loss"]) == 3  # validation_freq=5
    assert all(np.all(np.isfinite(v)) for v in history.values())
    _check_terms(history)
    _check_terms(history, prefix="val_")
    assert history["loss"][-1] < 0.7 * history["loss"][0]


# ============================================================ ELBO terms
def test_elbo_terms_match_numpy_given_the_label(trained, val_data):
    model, _ = trained
    x, y = val_data
    terms = model.elbo_terms(tf.constant(x), labels=tf.constant(y), training=False)
    mu, log_var = raw_posterior(model, x, y)
    np.testing.assert_allclose(np.asarray(terms["z_mean"]), mu, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(float(terms["kl"]), np_kl_per_dim(mu, log_var).sum(1).mean(), rtol=1e-5)
    logits = decoder_logits(model, terms["z"], y)
    np.testing.assert_allclose(float(terms["reconstruction"]), -np_log_bernoulli(x, logits).mean(),
                               rtol=1e-5)


def test_kl_per_dim_and_encode_given_the_label(trained, val_data):
    model, _ = trained
    x, y = val_data
    mu, log_var = raw_posterior(model, x, y)
    per_dim = model.kl_per_dim(x, labels=y)
    np.testing.assert_allclose(per_dim, np_kl_per_dim(mu, log_var).mean(0), rtol=1e-5)
    kl = float(model.elbo_terms(tf.constant(x), labels=tf.constant(y))["kl"])
    np.testing.assert_allclose(per_dim.sum(), kl, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(model.encode(x, labels=y)), mu, rtol=1e-5, atol=1e-6)
    mean, scale = model.encode(x, labels=y, return_distribution=True)
    np.testing.assert_allclose(np.asarray(mean), mu, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(scale), np.exp(0.5 * log_var), rtol=1e-5)
    assert np.all(np.asarray(scale) > 0)


# ======================================================= the label is used
def test_encoder_and_decoder_see_the_label(trained, val_data):
    model, _ = trained
    x, _ = val_data
    assert model.decoder.inputs[0].shape[-1] == L + C  # z and the one-hot label
    z = np.random.default_rng(0).normal(size=(6, L)).astype("float32")
    labels = np.array([0, 1, 1, 0, 1, 0])
    expected = 1 / (1 + np.exp(-decoder_logits(model, z, labels).astype(np.float64)))
    np.testing.assert_allclose(np.asarray(model.decode(z, labels=labels)), expected, rtol=1e-5, atol=1e-6)
    under_0 = np.asarray(model.decode(z, labels=np.zeros(6, int)))
    under_1 = np.asarray(model.decode(z, labels=np.ones(6, int)))
    assert np.all(np.abs(under_0 - under_1).reshape(6, -1).max(1) > 0.1)
    enc_0 = np.asarray(model.encode(x[:6], labels=np.zeros(6, int)))
    enc_1 = np.asarray(model.encode(x[:6], labels=np.ones(6, int)))
    # The label changes the code (a tiny ReLU encoder may ignore it for the odd example
    # whose label path runs into dead units, so most rows, not all).
    assert np.mean(np.abs(enc_0 - enc_1).max(1) > 1e-3) >= 0.5
    recon = np.asarray(model.reconstruct(x[:6], labels=labels))
    mu, _ = raw_posterior(model, x[:6], labels)
    np.testing.assert_allclose(recon, 1 / (1 + np.exp(-decoder_logits(model, mu, labels).astype(np.float64))),
                               rtol=1e-5, atol=1e-6)


def test_generate_shape_determinism_and_labels(trained):
    model, _ = trained
    labels = [0, 1, 1, 0]
    images = np.asarray(model.generate(labels, seed=5))
    assert images.shape == (4, *SHAPE) and np.all((images > 0) & (images < 1))
    np.testing.assert_array_equal(images, np.asarray(model.generate(labels, seed=5)))
    assert not np.allclose(images, np.asarray(model.generate(labels, seed=6)))
    for i, label in enumerate(labels):  # image i: z from seed + i, decoded under label i
        z = prior_draws([5 + i], L)
        np.testing.assert_allclose(images[i], np.asarray(model.decode(z, labels=[label]))[0], rtol=1e-6, atol=1e-7)
    # same seed, other labels: the z are the same and the images differ
    flipped = np.asarray(model.generate([1 - l for l in labels], seed=5))
    assert np.all(np.abs(images - flipped).reshape(4, -1).max(1) > 0.1)
    # sample() cycles through the classes
    np.testing.assert_array_equal(np.asarray(model.sample(4, seed=9)),
                                  np.asarray(model.generate([0, 1, 0, 1], seed=9)))


def test_generated_images_resemble_their_class(trained):
    model, _ = trained
    tmpl = templates().reshape(C, -1)
    for label in range(C):
        images = np.asarray(model.generate([label] * 40, seed=100 * label)).reshape(40, -1)
        dist = ((images[:, None, :] - tmpl[None]) ** 2).mean(-1)  # (40, C)
        assert np.mean(dist.argmin(1) == label) >= 0.9, dist
        assert dist[:, label].mean() < 0.25 * dist[:, 1 - label].mean()


# =========================================================== log-likelihood
def _references(model, x, y):
    """Per-example log p(x|y) and ELBO by grid quadrature with the numpy KL."""
    mu, log_var = raw_posterior(model, x, y)
    log_px, elbo = np.empty(len(x)), np.empty(len(x))
    for c in range(C):
        rows = y == c
        lp, ell = grid_quadrature(lambda g, c=c: decoder_logits(model, g, np.full(len(g), c)),
                                  x[rows], mu[rows], log_var[rows])
        log_px[rows], elbo[rows] = lp, ell - np_kl_per_dim(mu[rows], log_var[rows]).sum(1)
    return log_px, elbo


def test_log_likelihood_given_labels(trained, val_data):
    model, _ = trained
    x, y = val_data[0][:8], val_data[1][:8]
    log_px, elbo = _references(model, x, y)
    reps = 100
    xt, yt = np.tile(x, (reps, 1, 1, 1)), np.tile(y, reps)
    ll1 = model.log_likelihood(xt, labels=yt, num_samples=1, batch_size=400).reshape(reps, 8)
    assert np.all(np.isfinite(ll1))
    diff = ll1 - elbo
    assert abs(diff.mean()) < 5 * diff.std() / np.sqrt(diff.size)  # K=1: the ELBO in expectation
    ll50 = model.log_likelihood(xt[:400], labels=yt[:400], num_samples=50, batch_size=400).reshape(50, 8)
    err50 = ll50.std() / np.sqrt(ll50.size) + 1e-4
    assert ll50.mean() >= elbo.mean() - 3 * err50 and ll50.mean() <= log_px.mean() + 3 * err50
    ll_k = model.log_likelihood(x, labels=y, num_samples=1000)
    assert ll_k.shape == (8,)
    np.testing.assert_allclose(ll_k.mean(), log_px.mean(), atol=0.05)
    # the label carries information: the wrong one explains x worse
    wrong = model.log_likelihood(x, labels=1 - y, num_samples=50)
    assert np.all(wrong < ll_k - 1.0)


def test_log_likelihood_shape_and_seed(trained, val_data):
    model, _ = trained
    x, y = val_data[0][:10], val_data[1][:10]
    a = model.log_likelihood(x, labels=y, num_samples=3, batch_size=4, seed=1)
    assert a.shape == (10,) and np.all(np.isfinite(a))
    np.testing.assert_array_equal(a, model.log_likelihood(x, labels=y, num_samples=3, batch_size=4, seed=1))
    assert np.all(a != model.log_likelihood(x, labels=y, num_samples=3, batch_size=4, seed=2))


# =================================================================== predict
def test_predict_on_a_dataset_of_pairs(trained, val_data):
    model, _ = trained
    x, y = val_data
    expected = np.asarray(model.reconstruct(x, labels=y))
    mu, _ = raw_posterior(model, x, y)
    np.testing.assert_allclose(expected, 1 / (1 + np.exp(-decoder_logits(model, mu, y).astype(np.float64))),
                               rtol=1e-5, atol=1e-6)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    np.testing.assert_allclose(model.predict(ds, verbose=0), expected, rtol=1e-5, atol=1e-6)


def test_predict_on_a_tuple_of_arrays(trained, val_data):
    model, _ = trained
    x, y = val_data
    np.testing.assert_allclose(model.predict((x, y), verbose=0), np.asarray(model.reconstruct(x, labels=y)),
                               rtol=1e-5, atol=1e-6)


# ============================================================ architectures
def _user_networks():
    x_in, c_in = keras.Input(SHAPE), keras.Input((C,))
    h = keras.layers.Concatenate()([keras.layers.Flatten()(x_in), c_in])
    h = keras.layers.Dense(16, activation="relu")(h)
    encoder = keras.Model([x_in, c_in], keras.layers.Dense(2 * L)(h))
    z = keras.Input((L + C,))
    out = keras.layers.Reshape(SHAPE)(keras.layers.Dense(int(np.prod(SHAPE)))(
        keras.layers.Dense(16, activation="relu")(z)))
    return encoder, keras.Model(z, out)


@pytest.mark.parametrize("arch", ["conv", "conv_unpool", "user"])
def test_architectures(arch, train_data):
    x, y = train_data
    keras.utils.set_random_seed(0)
    if arch == "user":
        encoder, decoder = _user_networks()
        model = ConditionalVAE(num_classes=C, latent_dim=L, encoder=encoder, decoder=decoder, seed=0)
    else:
        model = ConditionalVAE(num_classes=C, latent_dim=L, architecture=arch, filters=(4,),
                               input_shape=SHAPE, seed=0)
    model.compile(jit_compile=False)
    _check_terms(model.fit(x[:32], y[:32], epochs=1, batch_size=16, verbose=0).history)
    xs, ys = x[:6], y[:6]
    mu, log_var = raw_posterior(model, xs, ys)
    terms = model.elbo_terms(tf.constant(xs), labels=tf.constant(ys))
    np.testing.assert_allclose(float(terms["kl"]), np_kl_per_dim(mu, log_var).sum(1).mean(), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(model.encode(xs, labels=ys)), mu, rtol=1e-5, atol=1e-6)
    images = np.asarray(model.generate([0, 1], seed=0))
    assert images.shape == (2, *SHAPE)
    assert not np.allclose(images, np.asarray(model.generate([1, 0], seed=0)))
    ll = model.log_likelihood(xs, labels=ys, num_samples=4)
    assert ll.shape == (6,) and np.all(np.isfinite(ll))


# ============================================================ serialization
def test_keras_round_trip(trained, val_data, tmp_path):
    model, _ = trained
    x, y = val_data
    path = tmp_path / "cvae.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is ConditionalVAE and loaded.num_classes == C
    assert float(loaded.beta) == float(model.beta)
    np.testing.assert_array_equal(np.asarray(loaded.generate([0, 1, 1], seed=3)),
                                  np.asarray(model.generate([0, 1, 1], seed=3)))
    pairs = zip(model.encode(x, labels=y, return_distribution=True), loaded.encode(x, labels=y, return_distribution=True))
    for a, b in pairs:
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    z = np.random.default_rng(0).normal(size=(4, L)).astype("float32")
    np.testing.assert_array_equal(np.asarray(model.decode(z, labels=[0, 1, 0, 1])),
                                  np.asarray(loaded.decode(z, labels=[0, 1, 0, 1])))
    np.testing.assert_array_equal(model.log_likelihood(x, labels=y, num_samples=5),
                                  loaded.log_likelihood(x, labels=y, num_samples=5))


def test_keras_round_trip_keeps_beta_variable(tmp_path):
    model = make_cvae(seed=2, beta=3.0)
    model.beta.assign(0.25)
    path = tmp_path / "cvae_beta.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.beta_value == 3.0 and float(loaded.beta) == 0.25


# ================================================================ bad input
@pytest.mark.parametrize("num_classes", [1, 0, -3, 2.5])
def test_num_classes_must_be_an_integer_of_at_least_two(num_classes):
    with pytest.raises(ValueError, match="num_classes"):
        ConditionalVAE(num_classes=num_classes, latent_dim=L, input_shape=SHAPE)


@pytest.fixture
def fresh():
    model = make_cvae(seed=3)
    model.compile(jit_compile=False)
    return model


def _assert_not_trained(model, before):
    assert int(model.optimizer.iterations) == 0
    for a, w in zip(before, model.weights):
        np.testing.assert_array_equal(a, np.asarray(w))


OUT_OF_RANGE = r"\[0, 2\).*num_classes=2"


@pytest.mark.parametrize("bad", [2, -1, 7])
def test_out_of_range_labels_raise_in_fit_and_generate(fresh, train_data, bad):
    x, y = train_data
    before = [np.asarray(w) for w in fresh.weights]
    labels = y.copy()
    labels[5] = bad
    with pytest.raises(ValueError, match=OUT_OF_RANGE):
        fresh.fit(x, labels, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=OUT_OF_RANGE):
        fresh.fit(tf.data.Dataset.from_tensor_slices((x, labels)).batch(16), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=OUT_OF_RANGE):
        fresh.fit(x, y, epochs=1, validation_data=(x, labels), verbose=0)
    with pytest.raises(ValueError, match=OUT_OF_RANGE):
        fresh.evaluate(x, labels, verbose=0)
    with pytest.raises(ValueError, match=OUT_OF_RANGE):
        fresh.generate([0, bad, 1], seed=0)
    with pytest.raises(ValueError, match=OUT_OF_RANGE):
        fresh.sample(2, seed=0, labels=[bad, 0])
    _assert_not_trained(fresh, before)


def test_missing_or_malformed_labels_raise(fresh, train_data):
    x, y = train_data
    before = [np.asarray(w) for w in fresh.weights]
    with pytest.raises(ValueError, match="labels"):
        fresh.fit(x, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="labels"):
        fresh.fit(tf.data.Dataset.from_tensor_slices(x).batch(16), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="labels"):
        fresh.evaluate(x, verbose=0)
    with pytest.raises(ValueError, match="labels"):
        fresh.predict(x, verbose=0)
    with pytest.raises(ValueError, match="63 entries for 64 examples"):
        fresh.fit(x, y[:-1], epochs=1, verbose=0)
    with pytest.raises(TypeError, match="integer"):
        fresh.fit(x, y + 0.5, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="empty"):
        fresh.generate([], seed=0)
    _assert_not_trained(fresh, before)


@pytest.mark.parametrize("method", ["encode", "decode", "reconstruct", "log_likelihood", "kl_per_dim"])
def test_out_of_range_labels_raise_in_every_method(fresh, train_data, method):
    x, _ = train_data
    labels = np.array([0, 1, 2, 0])
    calls = {
        "encode": lambda: fresh.encode(x[:4], labels=labels),
        "decode": lambda: fresh.decode(np.zeros((4, L), "float32"), labels=labels),
        "reconstruct": lambda: fresh.reconstruct(x[:4], labels=labels),
        "log_likelihood": lambda: fresh.log_likelihood(x[:4], labels=labels, num_samples=2),
        "kl_per_dim": lambda: fresh.kl_per_dim(x[:4], labels=labels),
    }
    with pytest.raises(ValueError, match=OUT_OF_RANGE):
        calls[method]()


def test_out_of_range_label_in_a_later_dataset_batch_raises(fresh, train_data):
    x, y = train_data
    labels = y.copy()
    labels[-1] = 2  # in the last batch only
    fresh.compile(run_eagerly=True)  # the check is about validation, not the compiled step
    before = [np.asarray(w) for w in fresh.weights]
    with pytest.raises(ValueError, match=OUT_OF_RANGE):
        fresh.fit(tf.data.Dataset.from_tensor_slices((x, labels)).batch(16), epochs=1, verbose=0)
    _assert_not_trained(fresh, before)
