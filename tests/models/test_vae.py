"""Correctness of VAE and BetaVAE, each part against an independent reference.

References are numpy / scipy closed forms, Monte Carlo estimates with their
standard errors, and (for a 2-d latent) brute-force quadrature of
log p(x) = log int p(x|z) p(z) dz on a grid. Models are tiny MLPs on 6x6
binary "prototype" images so that the whole file runs in well under a minute.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import stats
from scipy.special import log_expit, logsumexp

from ae_zoo.models import VAE, BetaVAE
from ae_zoo.models.vae import prior_draws

SHAPE = (6, 6, 1)
HIDDEN = (32,)


# ----------------------------------------------------------------------- data
def prototype_images(n, seed=0, flip=0.08, num_prototypes=4):
    """Binary 6x6 images: one of a few random prototypes with pixels flipped at random."""
    rng = np.random.default_rng(seed)
    protos = (np.random.default_rng(1234).random((num_prototypes, *SHAPE)) < 0.5)
    x = protos[rng.integers(0, num_prototypes, n)]
    x = np.where(rng.random(x.shape) < flip, ~x, x)
    return x.astype("float32")


@pytest.fixture(scope="module")
def x_train():
    return prototype_images(96, seed=0)


@pytest.fixture(scope="module")
def x_val():
    return prototype_images(32, seed=1)


@pytest.fixture(scope="module")
def x_graded():
    """Non-binary values in [0, 1]: the Bernoulli log-likelihood is used as a cross-entropy."""
    return np.random.default_rng(2).random((8, *SHAPE)).astype("float32")


# ----------------------------------------------------------------- references
def np_log_bernoulli(x, logits):
    """sum over pixels of x log sigmoid(l) + (1 - x) log(1 - sigmoid(l)), per example (float64)."""
    x, l = np.asarray(x, np.float64), np.asarray(logits, np.float64)
    per_pixel = x * log_expit(l) + (1.0 - x) * log_expit(-l)
    return per_pixel.reshape(len(per_pixel), -1).sum(axis=1)


def np_log_normal(x, mean, scale):
    per_pixel = stats.norm.logpdf(np.asarray(x, np.float64), np.asarray(mean, np.float64), scale)
    return per_pixel.reshape(len(per_pixel), -1).sum(axis=1)


def np_kl_per_dim(mean, log_var):
    """0.5 * (sigma^2 + mu^2 - log sigma^2 - 1) per example and latent dimension (float64)."""
    m, lv = np.asarray(mean, np.float64), np.asarray(log_var, np.float64)
    return 0.5 * (np.exp(lv) + m ** 2 - lv - 1.0)


def raw_posterior(model, x):
    """(mu, log sigma^2) read straight off the encoder: first half mean, second half log-variance."""
    out = model.encoder(np.asarray(x), training=False)
    if isinstance(out, (list, tuple)):
        return np.asarray(out[0], np.float64), np.asarray(out[1], np.float64)
    out = np.asarray(out, np.float64)
    d = out.shape[-1] // 2
    return out[:, :d], out[:, d:]


def make_vae(cls=VAE, latent_dim=3, seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    kwargs.setdefault("hidden_units", HIDDEN)
    return cls(latent_dim=latent_dim, input_shape=SHAPE, seed=seed, **kwargs)


def spread_posterior(model, seed=0):
    """Moves the posterior far from the prior: random means and log-variances in [-2, 1]."""
    code = model.encoder.get_layer("code")
    rng = np.random.default_rng(seed)
    d = model.latent_dim
    kernel = np.asarray(code.kernel) * 3.0
    bias = np.concatenate([rng.normal(0.0, 1.5, d), rng.uniform(-2.0, 1.0, d)])
    code.kernel.assign(kernel.astype("float32"))
    code.bias.assign(bias.astype("float32"))
    return model


def grid_quadrature(logits_fn, x, mu, log_var, half_width=6.0, points=241, log_prior=None):
    """Brute-force references for a 2-d latent on a grid of z.

    ``logits_fn(z)`` gives the decoder's Bernoulli logits; ``mu``/``log_var`` the
    posterior; ``log_prior(z)`` log p(z) per row (default N(0, I)). Returns (log p(x) =
    log sum_g p(x|z_g) p(z_g) h^2, and E_q[log p(x|z)] = sum_g q(z_g|x) log p(x|z_g) /
    sum_g q(z_g|x)), per example.
    """
    axis = np.linspace(-half_width, half_width, points)
    h = axis[1] - axis[0]
    grid = np.stack(np.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
    logits = np.asarray(logits_fn(grid.astype("float32")), np.float64).reshape(len(grid), -1)
    xf = np.asarray(x, np.float64).reshape(len(x), -1)
    log_px_z = xf @ log_expit(logits).T + (1 - xf) @ log_expit(-logits).T  # (n, G)
    log_p_z = stats.norm.logpdf(grid).sum(-1) if log_prior is None else log_prior(grid)
    log_px = logsumexp(log_px_z + log_p_z, axis=1) + 2 * np.log(h)
    log_q = stats.norm.logpdf(grid[None], mu[:, None], np.exp(0.5 * log_var)[:, None]).sum(-1)
    weights = np.exp(log_q - logsumexp(log_q, axis=1, keepdims=True))
    return log_px, np.sum(weights * log_px_z, axis=1)


@pytest.fixture(scope="module")
def trained_vae(x_train):
    """A 2-d latent VAE fit briefly (XLA off) so that it uses its latent code."""
    model = make_vae(latent_dim=2, seed=3)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=False)
    model.fit(x_train, epochs=8, batch_size=32, verbose=0)
    return model


# ================================================================== KL term
def test_kl_term_equals_numpy_closed_form(x_graded):
    model = spread_posterior(make_vae(latent_dim=3))
    terms = model.elbo_terms(tf.constant(x_graded), training=False)
    mu, log_var, _ = model.posterior_params(tf.constant(x_graded))
    expected = np_kl_per_dim(mu, log_var).sum(axis=1).mean()
    assert expected > 1.0  # far from the prior, so the check has teeth
    np.testing.assert_allclose(float(terms["kl"]), expected, rtol=1e-5)
    # posterior_params is the encoder's (mean, log-variance) split, and the KL does not
    # depend on the draw of z.
    raw_mu, raw_lv = raw_posterior(model, x_graded)
    np.testing.assert_allclose(np.asarray(mu), raw_mu, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.asarray(log_var), raw_lv, rtol=1e-6, atol=1e-6)
    again = model.elbo_terms(tf.constant(x_graded), training=True)
    np.testing.assert_allclose(float(again["kl"]), float(terms["kl"]), rtol=1e-6)


def test_kl_term_matches_monte_carlo_estimate(x_graded):
    model = spread_posterior(make_vae(latent_dim=3), seed=1)
    kl = float(model.elbo_terms(tf.constant(x_graded))["kl"])
    mu, log_var = raw_posterior(model, x_graded)
    sigma = np.exp(0.5 * log_var)
    num = 20000
    z = mu[:, None] + sigma[:, None] * np.random.default_rng(0).standard_normal((len(mu), num, 3))
    log_ratio = (stats.norm.logpdf(z, mu[:, None], sigma[:, None]) - stats.norm.logpdf(z)).sum(-1)
    estimate = log_ratio.mean(axis=1).mean()
    std_err = np.sqrt(np.sum(log_ratio.var(axis=1) / num)) / len(mu)
    assert std_err < 0.02 * estimate
    assert abs(kl - estimate) < 5 * std_err, (kl, estimate, std_err)


def test_prior_and_posterior_are_the_documented_gaussians(x_graded):
    model = spread_posterior(make_vae(latent_dim=3))
    z = np.random.default_rng(3).normal(size=(len(x_graded), 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(model.prior().log_prob(z)),
                               stats.norm.logpdf(z.astype(np.float64)).sum(1), rtol=1e-5)
    mu, log_var = raw_posterior(model, x_graded)
    expected = stats.norm.logpdf(z, mu, np.exp(0.5 * log_var)).sum(1)
    np.testing.assert_allclose(np.asarray(model.posterior(x_graded).log_prob(z)), expected, rtol=1e-5)


# ======================================================== reconstruction term
def test_reconstruction_term_bernoulli(x_graded):
    model = spread_posterior(make_vae(latent_dim=3))
    terms = model.elbo_terms(tf.constant(x_graded), training=False)
    logits = model.decoder(terms["z"])
    expected = -np_log_bernoulli(x_graded, logits).mean()
    np.testing.assert_allclose(float(terms["reconstruction"]), expected, rtol=1e-5)


def test_bernoulli_decoder_log_prob_equals_tfp_with_its_gradient():
    """The one-softplus closed form equals TFP's Bernoulli(logits).log_prob, extreme logits
    included, its gradient is x - sigmoid(l), and the target broadcasts (as in the IWAE)."""
    model = make_vae(latent_dim=3)
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=4.0, size=(3, 5, *model.example_shape)).astype("float32")
    logits[0, 0].flat[:4] = [-60.0, 60.0, 0.0, -1e-4]
    x = rng.uniform(size=(5, *model.example_shape)).astype("float32")
    x.flat[:3] = [0.0, 1.0, 0.5]
    logits = tf.constant(logits)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(logits)
        ours = model.decoder_log_prob(logits, x[None])
        reference = model.likelihood_distribution(logits).log_prob(np.broadcast_to(x, logits.shape))
    assert ours.shape == (3, 5)
    np.testing.assert_allclose(ours.numpy(), reference.numpy(), rtol=1e-5, atol=1e-4)
    grad = tape.gradient(ours, logits).numpy()
    np.testing.assert_allclose(grad, x[None] - 1 / (1 + np.exp(-logits.numpy().astype("float64"))),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad, tape.gradient(reference, logits).numpy(), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("scale", [0.3, "learned"])
def test_reconstruction_term_gaussian(x_graded, scale):
    model = spread_posterior(make_vae(latent_dim=3, likelihood="gaussian", scale=scale))
    if scale == "learned":
        assert np.isclose(np.exp(float(model.log_scale)), 0.1, rtol=1e-6)  # documented start
        assert any(w is model.log_scale for w in model.trainable_weights)
        model.log_scale.assign(np.log(0.25))
        sigma = 0.25
    else:
        assert model.log_scale is None
        sigma = scale
    with tf.GradientTape() as tape:
        terms = model.elbo_terms(tf.constant(x_graded), training=False)
    mean = model.decoder(terms["z"])
    expected = -np_log_normal(x_graded, mean, sigma).mean()
    np.testing.assert_allclose(float(terms["reconstruction"]), expected, rtol=1e-5)
    if scale == "learned":  # the learned scale gets a gradient from the likelihood
        assert abs(float(tape.gradient(terms["reconstruction"], model.log_scale))) > 1e-3


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_decode_returns_the_likelihood_mean(likelihood):
    model = make_vae(latent_dim=3, likelihood=likelihood, scale=0.5)
    z = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    logits = np.asarray(model.decoder(z), np.float64)
    expected = 1 / (1 + np.exp(-logits)) if likelihood == "bernoulli" else logits
    np.testing.assert_allclose(np.asarray(model.decode(z)), expected, rtol=1e-5, atol=1e-6)


# ========================================================== reparameterization
def test_reparameterization_gradient_is_exact(x_graded):
    """z = mu + sigma * eps: dz/dmu = 1 and dz/dlog_var = 0.5 * sigma * eps = 0.5 * (z - mu)."""
    model = spread_posterior(make_vae(latent_dim=3))
    bias = model.encoder.get_layer("code").bias  # shifts (mu, log_var) of every example
    with tf.GradientTape(persistent=True) as tape:
        terms = model.elbo_terms(tf.constant(x_graded), training=True)
        total_z = tf.reduce_sum(terms["z"])
    grad = np.asarray(tape.gradient(total_z, bias))
    z, mu = np.asarray(terms["z"], np.float64), np.asarray(terms["z_mean"], np.float64)
    expected = np.concatenate([np.full(3, len(x_graded)), 0.5 * (z - mu).sum(axis=0)])
    np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-5)
    # The reconstruction term alone (which sees the encoder only through z) moves every
    # encoder weight, including the log-variance half of the code head.
    rec_grads = tape.gradient(terms["reconstruction"], model.encoder.trainable_weights)
    for weight, g in zip(model.encoder.trainable_weights, rec_grads):
        assert g is not None and np.abs(np.asarray(g)).max() > 0, weight.path
    log_var_kernel = np.asarray(tape.gradient(terms["reconstruction"],
                                              model.encoder.get_layer("code").kernel))[:, 3:]
    assert np.abs(log_var_kernel).max() > 0


def test_posterior_draws_have_the_posterior_mean_and_std(x_graded):
    model = spread_posterior(make_vae(latent_dim=3))
    reps = 2000
    x = np.tile(x_graded[:4], (reps, 1, 1, 1))
    z = np.asarray(model.elbo_terms(tf.constant(x), training=True)["z"], np.float64)
    z = z.reshape(reps, 4, 3)
    mu, log_var = raw_posterior(model, x_graded[:4])
    sigma = np.exp(0.5 * log_var)
    assert np.all(np.abs(z.mean(0) - mu) < 5 * sigma / np.sqrt(reps))
    assert np.all(np.abs(z.std(0) - sigma) < 5 * sigma / np.sqrt(2 * reps))
    eps = (z - mu) / sigma
    assert stats.kstest(eps.ravel(), "norm").pvalue > 1e-3


def test_next_seed_differs_so_training_draws_differ(x_graded):
    model = make_vae(latent_dim=3)
    s1, s2 = np.asarray(model.next_seed()), np.asarray(model.next_seed())
    assert s1.shape == (2,) and not np.array_equal(s1, s2)
    a = model.elbo_terms(tf.constant(x_graded), training=True)
    b = model.elbo_terms(tf.constant(x_graded), training=True)
    np.testing.assert_array_equal(np.asarray(a["z_mean"]), np.asarray(b["z_mean"]))
    assert np.all(np.asarray(a["z"]) != np.asarray(b["z"]))
    # Another model seed gives other noise for the very same weights.
    first = make_vae(latent_dim=3, seed=0)
    keras.utils.set_random_seed(0)  # same initial weights, other model seed
    other = VAE(latent_dim=3, input_shape=SHAPE, seed=99, hidden_units=HIDDEN)
    for a, b in zip(first.weights, other.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    za = first.elbo_terms(tf.constant(x_graded), training=True)["z"]
    zb = other.elbo_terms(tf.constant(x_graded), training=True)["z"]
    assert np.all(np.asarray(za) != np.asarray(zb))


def test_fixed_seed_reproduces_the_training_run(x_train):
    def run():
        model = make_vae(latent_dim=2, seed=7)
        # Eager, to keep it cheap: compiled steps use the same SeedGenerator (see the XLA tests).
        model.compile(optimizer=keras.optimizers.Adam(1e-2), run_eagerly=True)
        model.fit(x_train[:48], epochs=2, batch_size=16, verbose=0)
        return [np.asarray(w) for w in model.weights]

    first, second = run(), run()
    initial = [np.asarray(w) for w in make_vae(latent_dim=2, seed=7).weights]
    assert any(not np.array_equal(a, b) for a, b in zip(first, initial))  # it did train
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


# ============================================================= log-likelihood
def _elbo_reference(model, x):
    """Per-example ELBO from grid quadrature of E_q[log p(x|z)] and the numpy KL."""
    mu, log_var = raw_posterior(model, x)
    log_px, expected_log_lik = grid_quadrature(model.decoder, x, mu, log_var)
    return log_px, expected_log_lik - np_kl_per_dim(mu, log_var).sum(axis=1)


def test_log_likelihood_k1_is_the_elbo_in_expectation(trained_vae, x_val):
    x = x_val[:8]
    _, elbo = _elbo_reference(trained_vae, x)
    reps = 150
    tiled = np.tile(x, (reps, 1, 1, 1))
    draws = np.stack([trained_vae.log_likelihood(tiled, num_samples=1, batch_size=400, seed=s)
                      for s in (0, 1)])  # (2, reps * 8)
    diff = (draws.reshape(2, reps, 8) - elbo).reshape(-1, 8)
    std_err = diff.std() / np.sqrt(diff.size)
    assert abs(diff.mean()) < 5 * std_err, (diff.mean(), std_err)
    per_example_err = diff.std(axis=0) / np.sqrt(len(diff))
    assert np.all(np.abs(diff.mean(axis=0)) < 5 * per_example_err)


def test_log_likelihood_tightens_with_k_towards_brute_force_log_px(trained_vae, x_val):
    x = x_val[:8]
    log_px, elbo = _elbo_reference(trained_vae, x)
    assert np.all(elbo <= log_px + 1e-6)  # sanity of the reference itself
    gap = np.mean(log_px - elbo)
    assert gap > 0.02  # the posterior is not exact, so K matters
    reps = 40
    tiled = np.tile(x, (reps, 1, 1, 1))
    means, errs = {}, {}
    for k in (1, 5, 50, 1000):
        ll = trained_vae.log_likelihood(tiled if k < 1000 else x, num_samples=k, batch_size=320)
        assert ll.shape == ((reps if k < 1000 else 1) * 8,) and np.all(np.isfinite(ll))
        rel = ll.reshape(-1, 8) - log_px  # below 0 in expectation: a lower bound
        means[k], errs[k] = rel.mean(), rel.std() / np.sqrt(rel.size) + 1e-4
    assert means[50] >= np.mean(elbo - log_px) - 3 * errs[50]  # K=50 is at least the ELBO
    assert means[50] > np.mean(elbo - log_px)
    assert means[1] <= means[5] + 3 * np.hypot(errs[1], errs[5])
    assert means[5] <= means[50] + 3 * np.hypot(errs[5], errs[50])
    for k in (1, 5, 50):
        assert means[k] <= 3 * errs[k]  # never above log p(x)
    assert abs(means[1000]) < 0.1 * gap + 0.02  # converges to log p(x)


def test_log_likelihood_shape_seed_and_arguments(trained_vae, x_val):
    x = x_val[:10]
    a = trained_vae.log_likelihood(x, num_samples=3, batch_size=4, seed=5)
    assert a.shape == (10,) and a.dtype == np.float32 and np.all(np.isfinite(a))
    np.testing.assert_array_equal(a, trained_vae.log_likelihood(x, num_samples=3, batch_size=4, seed=5))
    b = trained_vae.log_likelihood(x, num_samples=3, batch_size=4, seed=6)
    assert np.all(a != b)
    with pytest.raises(ValueError, match="num_samples"):
        trained_vae.log_likelihood(x, num_samples=0)


# ================================================================== sampling
def test_sample_is_seeded_and_decodes_prior_draws(trained_vae):
    images = np.asarray(trained_vae.sample(5, seed=11))
    assert images.shape == (5, *SHAPE) and np.all((images > 0) & (images < 1))
    np.testing.assert_array_equal(images, np.asarray(trained_vae.sample(5, seed=11)))
    other = np.asarray(trained_vae.sample(5, seed=12))
    assert not np.allclose(images[0], other[0])
    for i in range(5):
        expected = trained_vae.decode(prior_draws([11 + i], 2))[0]
        np.testing.assert_allclose(images[i], np.asarray(expected), rtol=1e-6, atol=1e-7)
    # seed=None draws fresh seeds each call
    assert not np.allclose(np.asarray(trained_vae.sample(3)), np.asarray(trained_vae.sample(3)))


def test_prior_draws_are_standard_normal_rows():
    n, d = 600, 4
    z = np.asarray(prior_draws(np.arange(n), d), np.float64)
    assert z.shape == (n, d)
    assert np.all(np.abs(z.mean(0)) < 5 / np.sqrt(n))
    assert np.all(np.abs(z.std(0) - 1) < 5 / np.sqrt(2 * n))
    corr = np.corrcoef(np.concatenate([z[:-1], z[1:]], axis=1), rowvar=False)
    off_diag = corr[~np.eye(2 * d, dtype=bool)]  # across dims and across neighbouring seeds
    assert np.all(np.abs(off_diag) < 5 / np.sqrt(n))
    assert stats.kstest(z.ravel(), "norm").pvalue > 1e-3
    # Row i depends on seed i only.
    np.testing.assert_array_equal(np.asarray(prior_draws([5, 6], d)), z[5:7].astype("float32"))


# ================================================================= encoding
def test_encode_is_the_posterior_mean_and_scale(trained_vae, x_val):
    x = x_val[:7]
    mu, log_var = raw_posterior(trained_vae, x)
    mean = np.asarray(trained_vae.encode(x))
    np.testing.assert_allclose(mean, mu, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(mean, np.asarray(trained_vae.encode(x)))  # deterministic
    m, s = trained_vae.encode(x, return_distribution=True)
    np.testing.assert_allclose(np.asarray(m), mu, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(s), np.exp(0.5 * log_var), rtol=1e-5)
    assert np.all(np.asarray(s) > 0)
    bm, bs = trained_vae.encode(x, batch_size=3, return_distribution=True)
    np.testing.assert_allclose(bm, mu, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bs, np.exp(0.5 * log_var), rtol=1e-5)
    np.testing.assert_allclose(trained_vae.encode(x, batch_size=3), mu, rtol=1e-5, atol=1e-6)
    # reconstruct = decode(encode(x)), the deterministic pass through the mean
    np.testing.assert_allclose(np.asarray(trained_vae.reconstruct(x)),
                               1 / (1 + np.exp(-np.asarray(trained_vae.decoder(mu.astype("float32"))))),
                               rtol=1e-5, atol=1e-6)


def test_kl_per_dim_sums_to_the_kl_term(x_graded):
    model = spread_posterior(make_vae(latent_dim=3))
    per_dim = model.kl_per_dim(x_graded)
    mu, log_var = raw_posterior(model, x_graded)
    expected = np_kl_per_dim(mu, log_var).mean(axis=0)
    assert per_dim.shape == (3,)
    np.testing.assert_allclose(per_dim, expected, rtol=1e-5)
    kl = float(model.elbo_terms(tf.constant(x_graded))["kl"])
    np.testing.assert_allclose(per_dim.sum(), kl, rtol=1e-5)
    np.testing.assert_allclose(model.kl_per_dim(x_graded, batch_size=3), expected, rtol=1e-5)


# ================================================ fit / evaluate, XLA on and off
def _check_terms(logs, beta, prefix=""):
    rec, kl = np.asarray(logs[prefix + "reconstruction_loss"]), np.asarray(logs[prefix + "kl"])
    np.testing.assert_allclose(logs[prefix + "elbo"], -(rec + kl), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(logs[prefix + "loss"], rec + beta * kl, rtol=1e-5, atol=1e-4)
    assert np.all(np.asarray(kl) >= 0)


@pytest.mark.parametrize("cls, jit", [(VAE, True), (BetaVAE, False)], ids=["vae_xla", "beta_vae"])
def test_fit_and_evaluate_track_the_elbo_terms(cls, jit, x_train, x_val):
    model = make_vae(cls, latent_dim=2, seed=1)
    beta = 1.0 if cls is VAE else 4.0  # BetaVAE's documented default
    assert float(model.beta) == beta
    model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=jit)
    assert model.jit_compile is jit
    # One batch size throughout: under XLA each new batch shape is another compilation.
    history = model.fit(x_train, epochs=4, batch_size=16, validation_data=(x_val,), verbose=0).history
    keys = {"loss", "reconstruction_loss", "kl", "elbo"}
    assert set(history) == keys | {f"val_{k}" for k in keys}
    assert all(np.all(np.isfinite(v)) for v in history.values())
    _check_terms(history, beta)
    _check_terms(history, beta, prefix="val_")
    assert history["loss"][-1] < history["loss"][0]
    # Uneven batches (12, 12, 8) without XLA; under XLA each new batch shape recompiles.
    result = model.evaluate(x_val, batch_size=16 if jit else 12, return_dict=True, verbose=0)
    assert set(result) == keys
    _check_terms(result, beta)
    # The KL term does not depend on the draw of z: evaluate's example-weighted mean over
    # the batches is the closed form over the whole set.
    mu, log_var = raw_posterior(model, x_val)
    np.testing.assert_allclose(result["kl"], np_kl_per_dim(mu, log_var).sum(1).mean(), rtol=1e-4)
    # beta is a variable: changing it takes effect in the compiled step without recompiling.
    model.beta.assign(1.5)
    history = model.fit(x_train, epochs=1, batch_size=16, verbose=0).history
    _check_terms(history, 1.5)


# ===================================================== architectures / networks
@pytest.mark.parametrize("arch", ["conv", "conv_unpool"])
def test_convolutional_architectures(arch, x_train):
    keras.utils.set_random_seed(0)
    model = VAE(latent_dim=2, architecture=arch, filters=(4,), input_shape=SHAPE, seed=0)
    model.compile(jit_compile=False)
    history = model.fit(x_train[:32], epochs=1, batch_size=16, verbose=0).history
    _check_terms(history, 1.0)
    x = x_train[:6]
    out = model.encoder(x)
    side = {k: v for k, v in out.items() if k != "code"} if isinstance(out, dict) else {}
    code = np.asarray(out["code"] if side else out, np.float64)
    mu, log_var = code[:, :2], code[:, 2:]
    terms = model.elbo_terms(tf.constant(x), training=False)
    np.testing.assert_allclose(float(terms["kl"]), np_kl_per_dim(mu, log_var).sum(1).mean(), rtol=1e-5)
    logits = model.decoder({"code": terms["z"], **side}) if side else model.decoder(terms["z"])
    np.testing.assert_allclose(float(terms["reconstruction"]), -np_log_bernoulli(x, logits).mean(),
                               rtol=1e-5)
    np.testing.assert_allclose(np.asarray(model.encode(x)), mu, rtol=1e-5, atol=1e-6)
    assert np.asarray(model.sample(3, seed=0)).shape == (3, *SHAPE)
    ll = model.log_likelihood(x, num_samples=4)
    assert ll.shape == (6,) and np.all(np.isfinite(ll))


def _user_networks(kind, latent=2):
    inputs = keras.Input(SHAPE)
    h = keras.layers.Dense(16, activation="relu")(keras.layers.Flatten()(inputs))
    if kind == "flat":
        outputs = keras.layers.Dense(2 * latent)(h)
    elif kind == "pair":
        outputs = [keras.layers.Dense(latent)(h), keras.layers.Dense(latent)(h)]
    else:
        outputs = {"z_mean": keras.layers.Dense(latent)(h), "z_log_var": keras.layers.Dense(latent)(h)}
    z = keras.Input((latent,))
    logits = keras.layers.Reshape(SHAPE)(keras.layers.Dense(int(np.prod(SHAPE)))(
        keras.layers.Dense(16, activation="relu")(z)))
    return keras.Model(inputs, outputs), keras.Model(z, logits)


def _check_user_model(kind, x_train, tmp_path):
    keras.utils.set_random_seed(0)
    encoder, decoder = _user_networks(kind)
    model = VAE(latent_dim=2, encoder=encoder, decoder=decoder, seed=0)
    model.compile(jit_compile=False)
    history = model.fit(x_train[:32], epochs=1, batch_size=16, verbose=0).history
    _check_terms(history, 1.0)
    x = x_train[:6]
    out = encoder(x)
    if kind == "flat":
        mu, log_var = np.split(np.asarray(out, np.float64), 2, axis=1)
    elif kind == "pair":
        mu, log_var = (np.asarray(t, np.float64) for t in out)
    else:
        mu, log_var = np.asarray(out["z_mean"], np.float64), np.asarray(out["z_log_var"], np.float64)
    np.testing.assert_allclose(np.asarray(model.encode(x)), mu, rtol=1e-5, atol=1e-6)
    terms = model.elbo_terms(tf.constant(x))
    np.testing.assert_allclose(float(terms["kl"]), np_kl_per_dim(mu, log_var).sum(1).mean(), rtol=1e-5)
    np.testing.assert_allclose(float(terms["reconstruction"]),
                               -np_log_bernoulli(x, decoder(terms["z"])).mean(), rtol=1e-5)
    path = tmp_path / f"user_{kind}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(np.asarray(loaded.encode(x)), np.asarray(model.encode(x)))
    np.testing.assert_array_equal(np.asarray(loaded.sample(3, seed=4)), np.asarray(model.sample(3, seed=4)))


@pytest.mark.parametrize("kind", ["flat", "pair"])
def test_user_encoder_and_decoder(kind, x_train, tmp_path):
    _check_user_model(kind, x_train, tmp_path)


def test_user_encoder_returning_a_dict(x_train, tmp_path):
    _check_user_model("dict", x_train, tmp_path)


# ============================================================ serialization
def _jsonable(config):
    """Tuples become lists, as they do in the saved JSON config."""
    if isinstance(config, dict):
        return {k: _jsonable(v) for k, v in config.items()}
    if isinstance(config, (list, tuple)):
        return [_jsonable(v) for v in config]
    return config


@pytest.mark.parametrize("cls,kwargs", [
    (VAE, {}),
    (BetaVAE, {"likelihood": "gaussian", "scale": "learned"}),
    (VAE, {"likelihood": "gaussian", "scale": 0.2, "beta": 0.5}),
], ids=["vae_bernoulli", "beta_vae_learned_scale", "vae_fixed_scale"])
def test_keras_round_trip(cls, kwargs, x_graded, tmp_path):
    model = spread_posterior(make_vae(cls, latent_dim=2, **kwargs))
    model.beta.assign(2.5)  # e.g. moved by a schedule
    if model.log_scale is not None:
        model.log_scale.assign(np.log(0.37))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is cls
    assert _jsonable(loaded.get_config()) == _jsonable(model.get_config())
    assert float(loaded.beta) == 2.5
    if model.log_scale is not None:
        assert np.isclose(np.exp(float(loaded.log_scale)), 0.37)
    x = x_graded
    for a, b in zip(model.encode(x, return_distribution=True), loaded.encode(x, return_distribution=True)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    z = np.random.default_rng(0).normal(size=(4, 2)).astype("float32")
    np.testing.assert_array_equal(np.asarray(model.decode(z)), np.asarray(loaded.decode(z)))
    np.testing.assert_array_equal(np.asarray(model.sample(4, seed=3)), np.asarray(loaded.sample(4, seed=3)))
    np.testing.assert_array_equal(model.log_likelihood(x, num_samples=5),
                                  loaded.log_likelihood(x, num_samples=5))


# ================================================================ bad input
@pytest.mark.parametrize("make,match", [
    (lambda: VAE(likelihood="poisson"), "likelihood"),
    (lambda: VAE(beta=-1.0), "beta"),
    (lambda: BetaVAE(beta=-0.5), "beta"),
    (lambda: VAE(likelihood="gaussian", scale=0.0), "scale"),
    (lambda: VAE(likelihood="gaussian", scale=-1.0), "scale"),
    (lambda: VAE(likelihood="gaussian", scale=float("nan")), "scale"),
], ids=["likelihood", "beta", "beta_vae_beta", "scale_zero", "scale_negative", "scale_nan"])
def test_bad_arguments_raise_value_error(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("kwargs", [
    {"beta": float("nan")},
    {"beta": float("inf")},
    {"likelihood": "gaussian", "scale": float("inf")},
    {"likelihood": "gaussian", "scale": "learnt"},
], ids=["beta_nan", "beta_inf", "scale_inf", "scale_typo"])
def test_non_finite_or_mistyped_arguments_raise_clear_value_error(kwargs):
    key = "beta" if "beta" in kwargs else "scale"
    with pytest.raises(ValueError, match=f"`{key}`"):
        VAE(**kwargs)


def test_bernoulli_rejects_data_outside_unit_interval_before_training(x_train):
    model = make_vae(latent_dim=2)
    model.compile(jit_compile=False)
    before = [np.asarray(w) for w in model.weights]
    with pytest.raises(ValueError, match=r"\[0(\.0)?, 1(\.0)?\]"):
        model.fit(x_train * 255.0, epochs=1, verbose=0)
    assert int(model.optimizer.iterations) == 0
    for a, w in zip(before, model.weights):
        np.testing.assert_array_equal(a, np.asarray(w))
