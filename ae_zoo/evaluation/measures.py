"""What a trained model scores on a test split: its tracked loss terms, the per-pixel
reconstruction MSE, and for a model with a likelihood the importance-weighted -log p(x)."""

import numpy as np

from ae_zoo._io import to_jsonable


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
