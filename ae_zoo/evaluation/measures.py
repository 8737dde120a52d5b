"""What a trained model scores on a test split: its tracked loss terms, the per-pixel
reconstruction MSE, for a model with a likelihood the importance-weighted -log p(x), and
how its samples and reconstructions compare with the data (FID, KID, precision/recall)."""

import numpy as np
import tensorflow as tf

from ae_zoo._io import to_jsonable
from ae_zoo.evaluation import feature_networks
from ae_zoo.evaluation.generation import DEFAULT_K, KID_SUBSETS, feature_metrics
from ae_zoo.evaluation.latent import decode_codes
from ae_zoo.models.vae import prior_draws

_prior_draws = tf.function(prior_draws, reduce_retracing=True)  # one graph, not a loop per seed
#: What each source of generated images is.
SAMPLE_SOURCES = {
    "prior": "model.sample: draws from the model's own prior, decoded",
    "sampler": "model.sample: draws from the sampler fitted to the model's training codes, decoded",
    "normal": "z ~ N(0, I) decoded: the model declares no prior (it is not generative), so these "
              "are the draws a VAE would decode",
}


def evaluate_model(model, test_set, batch_size=128, iwae_samples=50, iwae_examples=1000):
    """Test metrics of a Keras model: ``test_<term>`` for every tracked loss term,
    ``test_reconstruction_mse`` (mean image against x, per pixel) and, when the model has
    a likelihood, ``test_iwae_nll`` (nats per example, ``iwae_samples`` importance samples
    on the first ``iwae_examples`` examples)."""
    x = test_set.x
    labels = test_set.y if model.conditional else None
    results = model.evaluate(x, labels, batch_size=batch_size, verbose=0, return_dict=True)
    metrics = {f"test_{k}": float(v) for k, v in results.items()}
    recon = model.reconstruct(x, labels=labels, batch_size=batch_size)
    metrics["test_reconstruction_mse"] = float(np.mean((np.asarray(recon) - x) ** 2))
    if model.has_likelihood and iwae_samples:
        n = min(len(x), iwae_examples)
        log_px = model.log_likelihood(x[:n], labels=None if labels is None else labels[:n],
                                      num_samples=iwae_samples, batch_size=100)
        metrics["test_iwae_nll"] = float(-np.mean(log_px))
        metrics["iwae_samples"] = int(iwae_samples)
        metrics["iwae_examples"] = int(n)
    return metrics


def latent_summary(stats):
    """The JSON-able form of a :func:`~ae_zoo.evaluation.latent_stats` dict, plus
    ``total_kl`` (the sum of ``kl_per_dim``: the mean KL term of a Gaussian posterior)."""
    out = to_jsonable(stats)
    out["total_kl"] = None if stats.get("kl_per_dim") is None else float(np.sum(stats["kl_per_dim"]))
    return out


def draw_samples(model, num_samples, seed=0, labels=None):
    """``(images, source)``: ``model.sample`` for a model that can sample (``"sampler"``
    when a fitted sampler is attached, else ``"prior"``); for one with continuous codes but
    neither, N(0, I) draws decoded (``"normal"``, what the AE-versus-VAE story shows);
    ``(None, None)`` otherwise. Image i comes from seed ``seed + i`` either way."""
    if model.can_sample:
        source = "prior" if getattr(model, "sampler", None) is None else "sampler"
        return np.asarray(model.sample(num_samples, labels=labels, seed=int(seed))), source
    if model.latent_kind == "continuous":
        z = _prior_draws(tf.range(num_samples, dtype=tf.int64) + int(seed), int(model.latent_dim))
        return decode_codes(model, z.numpy(), labels), "normal"
    return None, None


def evaluate_generation(model, dataset, feature_network=None, num_samples=None, seed=0,
                        samplers=None, k=DEFAULT_K, kid_subsets=KID_SUBSETS, batch_size=256):
    """FID, KID, precision and recall against ``dataset`` (its images are the real set) of
    ``num_samples`` (default: as many as the real set) images drawn by :func:`draw_samples`
    (``samples["default"]``) and by each of ``samplers`` (``{name: object with
    sample(n, seed=)}``, e.g. a fitted sampler), and of the model's reconstructions of the
    real set (``reconstructions``: the reconstruction FID). ``feature_network``: a name, a
    ``.keras`` path, a Keras model or a callable (default: the dataset's shipped one).

    A conditional model draws under the real set's labels (cycled), so the class mix matches.
    """
    network = feature_networks.resolve(feature_network or feature_networks.for_dataset(dataset.name))
    n = int(num_samples or len(dataset))
    labels = dataset.y if model.conditional else None
    real = network.features(dataset.x, batch_size, "real images")

    def scores(images):
        return feature_metrics(real, network.features(images, batch_size, "generated images"),
                               k, kid_subsets, seed=seed)

    samples = {}
    images, source = draw_samples(model, n, seed,
                                  None if labels is None else labels[np.arange(n) % len(labels)])
    if images is not None:
        samples["default"] = {"source": source, "description": SAMPLE_SOURCES[source],
                              **scores(images)}
    for name, sampler in (samplers or {}).items():
        samples[name] = {"source": "sampler", "description": f"sampler {name!r}: "
                         f"{type(sampler).__name__}.sample", **scores(sampler.sample(n, seed=seed))}
    recon = model.reconstruct(dataset.x, labels=labels, batch_size=batch_size)
    return {"feature_network": network.describe(), "seed": int(seed), "num_samples": n,
            "real": {"dataset": dataset.name, "split": dataset.split, "num_examples": len(dataset)},
            "samples": samples, "reconstructions": scores(recon)}
