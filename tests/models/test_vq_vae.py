"""VQ-VAE: nearest-codeword quantization, the straight-through gradient, the EMA codebook
and the losses, each against numpy or autodiff; the discrete codes it encodes and exports."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.datasets import load_digits

from ae_zoo import models
from ae_zoo.export import export_saved_model
from ae_zoo.layers import VectorQuantizer

X = (load_digits().images[:24] / 16.0).astype("float32")[..., None]


def tiny_vq(**kwargs):
    keras.utils.set_random_seed(0)
    options = dict(latent_dim=8, embedding_dim=2, num_embeddings=16, input_shape=(8, 8, 1),
                   hidden_units=(16,), seed=0)
    options.update(kwargs)
    return models.create("vq_vae", **options)


def np_nearest(z, codebook):
    """argmin_k ||z_i - e_k||^2 by brute force, float64."""
    z, codebook = np.asarray(z, np.float64), np.asarray(codebook, np.float64)
    return np.array([np.argmin([np.sum((v - e) ** 2) for e in codebook]) for v in z])


def test_quantization_is_the_nearest_codeword():
    quantizer = VectorQuantizer(10, 3)
    quantizer.build()
    z = np.random.default_rng(0).normal(size=(4, 5, 3)).astype("float32")
    z_q, indices = quantizer(z)
    expected = np_nearest(z.reshape(-1, 3), quantizer.codebook.numpy()).reshape(4, 5)
    np.testing.assert_array_equal(indices.numpy(), expected)
    np.testing.assert_array_equal(z_q.numpy(), quantizer.codebook.numpy()[expected])


def test_straight_through_passes_the_decoders_gradient_to_the_encoder_unchanged():
    """With an encoder that is the identity, d rec / d x (through the quantizer) equals the
    gradient of the same loss with respect to the decoder's input, at z_q."""
    encoder = keras.Sequential([keras.Input((1, 1, 4)), keras.layers.Flatten()], name="identity")
    decoder = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="tanh"),
                                keras.layers.Dense(4), keras.layers.Reshape((1, 1, 4))])
    model = models.create("vq_vae", latent_dim=4, embedding_dim=2, num_embeddings=6,
                          encoder=encoder, decoder=decoder, reconstruction_loss="mse")
    x = tf.constant(np.random.default_rng(1).normal(size=(3, 1, 1, 4)).astype("float32"))
    target = tf.constant(np.random.default_rng(2).normal(size=(3, 1, 1, 4)).astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(x)
        rec = model.objective(x, target)["reconstruction_loss"]
    through = tape.gradient(rec, x).numpy().reshape(3, 4)
    z_q = model.encode(x)
    with tf.GradientTape() as tape:
        tape.watch(z_q)
        logits = model.decoder(z_q)
        direct = tf.reduce_mean(tf.reduce_mean(tf.square(target - logits), axis=(1, 2, 3))) * 4.0
    np.testing.assert_allclose(through, tape.gradient(direct, z_q).numpy(), rtol=1e-5, atol=1e-7)
    assert float(rec) == pytest.approx(float(direct), rel=1e-6)


def test_ema_update_equals_a_numpy_step():
    decay, eps, k = 0.9, 1e-5, 5
    quantizer = VectorQuantizer(k, 2, ema=True, decay=decay, epsilon=eps)
    quantizer.build()
    codebook0 = quantizer.codebook.numpy().astype(np.float64)
    z = np.random.default_rng(3).normal(size=(12, 2)).astype("float32")
    assigned = np_nearest(z, codebook0)
    quantizer(z, training=True)
    counts = np.bincount(assigned, minlength=k)
    sums = np.stack([z[assigned == i].astype(np.float64).sum(axis=0) for i in range(k)])
    cluster = decay * np.ones(k) + (1 - decay) * counts  # N starts at 1, m at the codebook
    embedding_sum = decay * codebook0 + (1 - decay) * sums
    n = cluster.sum()
    smoothed = (cluster + eps) / (n + k * eps) * n
    np.testing.assert_allclose(quantizer.cluster_size.numpy(), cluster, rtol=1e-5)
    np.testing.assert_allclose(quantizer.embedding_sum.numpy(), embedding_sum, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(quantizer.codebook.numpy(), embedding_sum / smoothed[:, None],
                               rtol=1e-5, atol=1e-7)
    before = quantizer.codebook.numpy()
    quantizer(z, training=False)  # only training calls update it
    np.testing.assert_array_equal(quantizer.codebook.numpy(), before)
    assert not quantizer.codebook.trainable


def test_losses_are_sums_over_pixels_and_code_elements():
    model = tiny_vq(commitment=0.3)
    terms = {k: float(v) for k, v in model.terms(tf.constant(X[:8]), training=False).items()}
    z_e = np.asarray(model.encoder(X[:8]), np.float64).reshape(8, 4, 2)
    codes, indices = model.encode(X[:8], return_indices=True)
    z_q = np.asarray(codes, np.float64).reshape(8, 4, 2)
    squared = np.mean(np.sum((z_e - z_q) ** 2, axis=(1, 2)))
    assert terms["codebook_loss"] == pytest.approx(squared, rel=1e-5)
    assert terms["commitment_loss"] == pytest.approx(squared, rel=1e-5)
    logits = np.asarray(model.decoder(codes), np.float64).reshape(8, -1)
    x = X[:8].reshape(8, -1).astype(np.float64)
    bce = np.maximum(logits, 0) - logits * x + np.log1p(np.exp(-np.abs(logits)))
    assert terms["reconstruction_loss"] == pytest.approx(np.mean(bce.sum(axis=1)), rel=1e-5)
    assert terms["loss"] == pytest.approx(terms["reconstruction_loss"] + squared * 1.3, rel=1e-5)
    usage = np.bincount(np.asarray(indices).ravel(), minlength=16) / np.asarray(indices).size
    entropy = -np.sum(usage[usage > 0] * np.log(usage[usage > 0]))
    assert terms["perplexity"] == pytest.approx(np.exp(entropy), rel=1e-4)


def test_discrete_codes_indices_and_the_sampling_space():
    model = tiny_vq(latent_dim=12, embedding_dim=2)
    assert model.code_grid == (2, 3) and model.latent_kind == "discrete"
    codes, indices = model.encode(X, return_indices=True)
    codebook = model.quantizer.codebook.numpy()
    np.testing.assert_array_equal(np.asarray(codes).reshape(-1, 6, 2), codebook[np.asarray(indices)])
    batched = model.encode(X, return_indices=True, batch_size=5)
    np.testing.assert_array_equal(batched[1], np.asarray(indices))
    grids = model.sampler_targets(X)
    assert grids.shape == (len(X), 2, 3) and grids.dtype == np.int32
    np.testing.assert_array_equal(np.asarray(model.codes_from_sampler(grids)), np.asarray(codes))
    assert model.sampling_space() == {"kind": "discrete", "shape": (2, 3), "num_embeddings": 16}
    with pytest.raises(TypeError, match="continuous"):
        models.create("ae", latent_dim=2, input_shape=(8, 8, 1)).encode(X, return_indices=True)
    with pytest.raises(ValueError, match="embedding_dim"):
        tiny_vq(latent_dim=7, embedding_dim=2)
    with pytest.raises(ValueError, match="code_grid"):
        tiny_vq(code_grid=(3, 3))


def test_exported_encode_gives_the_indices(tmp_path):
    model = tiny_vq()
    loaded = tf.saved_model.load(export_saved_model(model, tmp_path / "vq", warmup=False))
    out = loaded.signatures["encode"](x=tf.constant(X[:5]))
    codes, indices = model.encode(X[:5], return_indices=True)
    assert out["indices"].dtype == tf.int64
    np.testing.assert_array_equal(out["indices"].numpy(), np.asarray(indices))
    np.testing.assert_allclose(out["code"].numpy(), np.asarray(codes), atol=1e-6)
    assert "sample" not in loaded.signatures  # no prior, no sampler yet
