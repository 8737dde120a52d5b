"""Disentanglement metrics over a ground-truth data interface.

Every metric is one function ``metric(ground_truth_data, representation_function,
random_state, **settings) -> dict[str, float]``, as in disentanglement_lib:

* ``ground_truth_data`` has ``factor_sizes`` (ints, each >= 2),
  ``sample_factors(num, random_state) -> int array [num, K]`` and
  ``sample_observations_from_factors(factors, random_state) -> array [num, ...]``;
* ``representation_function`` maps a batch of observations to codes ``[num, D]``
  (e.g. ``model.encode``: an autoencoder's code, the posterior mean for the VAE family);
* ``random_state`` is a ``np.random.RandomState`` or an int seed. Same seed, same scores.

Settings default to those of Locatello et al. 2019, "Challenging Common Assumptions in
the Unsupervised Learning of Disentangled Representations" (disentanglement_lib's study
configs). Observations are rendered and encoded ``batch_size`` at a time; only the codes
and the integer factors are kept.

Example::

    >>> scores = compute_all(data, model.encode, random_state=0, batch_size=256)
    >>> scores["mig.mig"], scores["dci.disentanglement"]
"""

import inspect

import numpy as np

from ae_zoo.evaluation.disentanglement._common import (
    _check_ground_truth_data,
    _check_random_state,
    _check_representation_function,
    _seed,
)
from ae_zoo.evaluation.disentanglement.groups import beta_vae_score, factor_vae_score
from ae_zoo.evaluation.disentanglement.importance import dci
from ae_zoo.evaluation.disentanglement.information import mig, modularity_explicitness, sap
from ae_zoo.evaluation.disentanglement.unsupervised import unsupervised_scores

__all__ = [
    "beta_vae_score",
    "factor_vae_score",
    "mig",
    "dci",
    "sap",
    "modularity_explicitness",
    "unsupervised_scores",
    "compute_all",
    "METRICS",
]


METRICS = {
    "beta_vae_score": beta_vae_score,
    "factor_vae_score": factor_vae_score,
    "mig": mig,
    "dci": dci,
    "sap": sap,
    "modularity_explicitness": modularity_explicitness,
    "unsupervised_scores": unsupervised_scores,
}


def _settings(metric):
    """Names of a metric's keyword-only settings."""
    return [p.name for p in inspect.signature(metric).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY]


def compute_all(ground_truth_data, representation_function, random_state, metrics=None,
                **overrides):
    """Run several metrics; returns ``{"<metric>.<key>": value}``.

    ``metrics``: names from ``METRICS`` (default: all, in that order). Each metric gets its
    own seed drawn from ``random_state`` in the fixed ``METRICS`` order, so a metric's score
    does not depend on which other metrics are run. ``overrides``: ``setting=value`` goes to
    every selected metric that has that setting (e.g. ``num_train=2000, batch_size=256``;
    a setting no metric has is a TypeError); ``<metric>={...}`` gives settings to one
    metric and wins over the shared ones (e.g. ``dci={"estimator": "gbt"}``).

    Example::

        >>> compute_all(data, encode_mean, 0, metrics=["mig", "dci"], num_train=2000)
        {"mig.mig": ..., "mig.mig_per_factor_0": ..., "dci.disentanglement": ..., ...}
    """
    names = list(METRICS) if metrics is None else (
        [metrics] if isinstance(metrics, str) else list(metrics))
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; choose from {list(METRICS)}.")
    _check_ground_truth_data(ground_truth_data)
    _check_representation_function(representation_function)
    rs = _check_random_state(random_state)
    seeds = dict(zip(METRICS, (_seed(rs) for _ in METRICS)))

    per_metric = {n: {} for n in names}
    shared = {}
    for key, value in overrides.items():
        if key in METRICS:
            if not isinstance(value, dict):
                raise TypeError(f"{key}= must be a dict of settings for that metric, got "
                                f"{type(value).__name__}.")
            if key in per_metric:
                per_metric[key].update(value)
        else:
            shared[key] = value
    for key, value in shared.items():
        if not any(key in _settings(m) for m in METRICS.values()):
            raise TypeError(f"no metric has a setting {key!r}; settings are "
                            f"{sorted({s for m in METRICS.values() for s in _settings(m)})}.")
        for n in names:
            if key in _settings(METRICS[n]):
                per_metric[n].setdefault(key, value)

    results = {}
    for name in names:
        scores = METRICS[name](ground_truth_data, representation_function,
                               np.random.RandomState(seeds[name]), **per_metric[name])
        results.update({f"{name}.{key}": value for key, value in scores.items()})
    return results
