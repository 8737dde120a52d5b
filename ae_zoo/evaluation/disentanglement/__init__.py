"""Disentanglement metrics over a ground-truth data interface.

Every metric is one function ``metric(ground_truth_data, representation_function,
random_state, **settings) -> dict[str, float]``, as in disentanglement_lib:

* ``ground_truth_data`` has ``factor_sizes`` (ints, each >= 2),
  ``sample_factors(num, random_state) -> int array [num, K]`` and
  ``sample_observations_from_factors(factors, random_state) -> array [num, ...]``;
* ``representation_function`` maps a batch of observations to codes ``[num, D]``
  (e.g. ``model.encode``: an autoencoder's code, the posterior mean for the VAE family);
* ``random_state`` is a ``np.random.RandomState`` or an int seed. Same seed, same scores.

The metrics of :data:`POSTERIOR_METRICS` (the scores of the sampled representation z ~
q(z|x)) take a representation function that returns the Gaussian posterior ``(mean,
scale)`` instead; :func:`udr` takes several representation functions (the runs it compares).

Settings default to those of Locatello et al. 2019, "Challenging Common Assumptions in
the Unsupervised Learning of Disentangled Representations" (disentanglement_lib's study
configs). Observations are rendered and encoded ``batch_size`` at a time; only the codes
and the integer factors are kept.

Example::

    >>> scores = compute_all(data, model.encode, random_state=0, batch_size=256)
    >>> scores["mig.mig"], scores["dci.disentanglement"]
    >>> posterior = lambda x: model.encode(x, return_distribution=True)
    >>> compute_all(data, model.encode, 0, metrics=["unsupervised_scores",
    ...             "unsupervised_scores_sampled"], posterior_function=posterior)
"""

import inspect

import numpy as np

from ae_zoo.evaluation.disentanglement._common import (
    _check_ground_truth_data,
    _check_random_state,
    _check_representation_function,
    _seed,
    sampled_representation,
)
from ae_zoo.evaluation.disentanglement.agreement import udr
from ae_zoo.evaluation.disentanglement.downstream import downstream_task
from ae_zoo.evaluation.disentanglement.groups import beta_vae_score, factor_vae_score
from ae_zoo.evaluation.disentanglement.importance import dci
from ae_zoo.evaluation.disentanglement.information import mig, modularity_explicitness, sap
from ae_zoo.evaluation.disentanglement.robustness import irs
from ae_zoo.evaluation.disentanglement.unsupervised import (
    unsupervised_scores,
    unsupervised_scores_sampled,
)

__all__ = [
    "beta_vae_score",
    "factor_vae_score",
    "mig",
    "dci",
    "sap",
    "modularity_explicitness",
    "unsupervised_scores",
    "irs",
    "downstream_task",
    "unsupervised_scores_sampled",
    "udr",
    "sampled_representation",
    "compute_all",
    "METRICS",
    "POSTERIOR_METRICS",
    "ALL_METRICS",
]


#: The metrics of one representation function (codes), in their seed order.
METRICS = {
    "beta_vae_score": beta_vae_score,
    "factor_vae_score": factor_vae_score,
    "mig": mig,
    "dci": dci,
    "sap": sap,
    "modularity_explicitness": modularity_explicitness,
    "unsupervised_scores": unsupervised_scores,
    "irs": irs,
    "downstream_task": downstream_task,
}
#: The metrics whose representation function returns the Gaussian posterior (mean, scale).
POSTERIOR_METRICS = {
    "unsupervised_scores_sampled": unsupervised_scores_sampled,
}
ALL_METRICS = {**METRICS, **POSTERIOR_METRICS}


def _settings(metric):
    """Names of a metric's keyword-only settings."""
    return [p.name for p in inspect.signature(metric).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY]


def _split_overrides(names, overrides):
    """``{metric: settings}`` for ``names`` from ``compute_all``'s overrides (checked)."""
    per_metric = {n: {} for n in names}
    shared = {}
    for key, value in overrides.items():
        if key in ALL_METRICS:
            if not isinstance(value, dict):
                raise TypeError(f"{key}= must be a dict of settings for that metric, got "
                                f"{type(value).__name__}.")
            if key in per_metric:
                per_metric[key].update(value)
        else:
            shared[key] = value
    everything = {s for m in ALL_METRICS.values() for s in _settings(m)}
    for key, value in shared.items():
        if key not in everything:
            raise TypeError(f"no metric has a setting {key!r}; settings are "
                            f"{sorted(everything)}.")
        for n in names:
            if key in _settings(ALL_METRICS[n]):
                per_metric[n].setdefault(key, value)
    return per_metric


def compute_all(ground_truth_data, representation_function, random_state, metrics=None, *,
                posterior_function=None, **overrides):
    """Run several metrics; returns ``{"<metric>.<key>": value}``.

    ``metrics``: names from ``METRICS`` and ``POSTERIOR_METRICS`` (default: all of
    ``METRICS``, and those of ``POSTERIOR_METRICS`` when ``posterior_function`` is given;
    in that order). ``posterior_function``: observations -> ``(mean, scale)`` of q(z|x),
    for the posterior metrics. Each metric gets its own seed drawn from ``random_state`` in
    the fixed ``ALL_METRICS`` order, so a metric's score does not depend on which other
    metrics are run. ``overrides``: ``setting=value`` goes to every selected metric that
    has that setting (e.g. ``num_train=2000, batch_size=256``; a setting no metric has is a
    TypeError); ``<metric>={...}`` gives settings to one metric and wins over the shared
    ones (e.g. ``dci={"estimator": "gbt"}``).

    Example::

        >>> compute_all(data, encode_mean, 0, metrics=["mig", "dci"], num_train=2000)
        {"mig.mig": ..., "mig.mig_per_factor_0": ..., "dci.disentanglement": ..., ...}
    """
    if metrics is None:
        names = list(METRICS) + (list(POSTERIOR_METRICS) if posterior_function else [])
    else:
        names = [metrics] if isinstance(metrics, str) else list(metrics)
    unknown = [n for n in names if n not in ALL_METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; choose from {list(ALL_METRICS)}.")
    _check_ground_truth_data(ground_truth_data)
    _check_representation_function(representation_function)
    if any(n in POSTERIOR_METRICS for n in names):
        if posterior_function is None:
            raise ValueError(f"{[n for n in names if n in POSTERIOR_METRICS]} score the sampled "
                             "representation: pass posterior_function (observations -> the "
                             "Gaussian posterior (mean, scale)).")
        _check_representation_function(posterior_function)
    rs = _check_random_state(random_state)
    seeds = dict(zip(ALL_METRICS, (_seed(rs) for _ in ALL_METRICS)))
    per_metric = _split_overrides(names, overrides)
    results = {}
    for name in names:
        function = posterior_function if name in POSTERIOR_METRICS else representation_function
        scores = ALL_METRICS[name](ground_truth_data, function,
                                   np.random.RandomState(seeds[name]), **per_metric[name])
        results.update({f"{name}.{key}": value for key, value in scores.items()})
    return results
