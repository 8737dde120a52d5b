"""Running the disentanglement metrics on a model: metric names and their aliases, the
headline score of each, the settings presets, the representation functions (the
encoder's mean and, for a Gaussian posterior, q(z|x) itself, batched) and
:func:`compute_disentanglement`, which the evaluate, compare and study commands share."""

import inspect
import time

import numpy as np

from ae_zoo.evaluation import disentanglement as _dm

#: Short names accepted for the disentanglement metrics (``--metrics mig,dci,beta_vae``).
METRIC_ALIASES = {
    "beta_vae": "beta_vae_score", "betavae": "beta_vae_score",
    "factor_vae": "factor_vae_score", "factorvae": "factor_vae_score",
    "modularity": "modularity_explicitness", "explicitness": "modularity_explicitness",
    "unsupervised": "unsupervised_scores",
    "downstream": "downstream_task",
    "unsupervised_sampled": "unsupervised_scores_sampled",
    "sampled": "unsupervised_scores_sampled",
}

#: The score that stands for each metric in tables and plots (Locatello et al.'s figures).
HEADLINE_SCORES = {
    "beta_vae_score": "beta_vae_score.eval_accuracy",
    "factor_vae_score": "factor_vae_score.eval_accuracy",
    "mig": "mig.mig",
    "dci": "dci.disentanglement",
    "sap": "sap.sap",
    "modularity_explicitness": "modularity_explicitness.modularity",
    "unsupervised_scores": "unsupervised_scores.gaussian_total_correlation",
    "irs": "irs.irs",
    "downstream_task": "downstream_task.lr_test_accuracy",
    "unsupervised_scores_sampled": "unsupervised_scores_sampled.gaussian_total_correlation",
}
#: How tables and plots name each headline score.
HEADLINE_LABELS = {
    "beta_vae_score.eval_accuracy": "BetaVAE score",
    "factor_vae_score.eval_accuracy": "FactorVAE score",
    "mig.mig": "MIG",
    "dci.disentanglement": "DCI disentanglement",
    "sap.sap": "SAP",
    "modularity_explicitness.modularity": "Modularity",
    "unsupervised_scores.gaussian_total_correlation": "Gaussian total correlation (unsupervised)",
    "irs.irs": "IRS",
    "downstream_task.lr_test_accuracy": "Downstream accuracy (logistic regression)",
    "unsupervised_scores_sampled.gaussian_total_correlation":
        "Gaussian total correlation of sampled codes",
}
#: Scores plotted beside a headline score: Ridgeway & Mozer report explicitness with
#: modularity (a representation can be modular and still hide a factor).
COMPANION_SCORES = {"modularity_explicitness.modularity": ("modularity_explicitness.explicitness_test",)}
#: How plots name the companion scores.
COMPANION_LABELS = {"modularity_explicitness.explicitness_test": "Explicitness (test AUC)"}


def plotted_scores(columns, available=None):
    """``columns`` (headline score keys) with each one's companion scores right after it
    (only those in ``available``, when given): what the box plots and bar charts show."""
    result = []
    for column in columns:
        result.append(column)
        result += [c for c in COMPANION_SCORES.get(column, ()) if available is None or c in available]
    return result


#: Reduced metric settings (``compute_all`` overrides) for many models on a 2-core CPU:
#: the study's default and ``ae-zoo evaluate --fast-metrics``. About 150k encoded
#: images (mostly BetaVAE's 64 pairs per point) instead of Locatello et al.'s ~3M.
FAST_METRIC_SETTINGS = {
    "batch_size": 256,
    "beta_vae_score": {"num_train": 500, "num_eval": 250},
    "factor_vae_score": {"num_train": 500, "num_eval": 250, "num_variance_estimate": 2000},
    "mig": {"num_train": 2000},
    "dci": {"num_train": 2000, "num_test": 1000, "n_jobs": 2},
    "sap": {"num_train": 2000, "num_test": 1000},
    "modularity_explicitness": {"num_train": 2000, "num_test": 1000},
    "unsupervised_scores": {"num_train": 2000},
    "irs": {"num_train": 2000},
    "downstream_task": {"num_train": (10, 100, 1000), "num_test": 1000,
                        "efficiency_sizes": (100, 1000)},
    "unsupervised_scores_sampled": {"num_train": 2000},
}
#: Locatello et al.'s settings (each metric's defaults), only encoding 256 images per call.
FULL_METRIC_SETTINGS = {"batch_size": 256}


def resolve_metrics(spec):
    """Metric names of :data:`ae_zoo.evaluation.disentanglement.ALL_METRICS` from ``spec``.

    ``None`` or ``"all"``: every metric; ``"none"`` or ``[]``: no metric; a comma-separated
    string or a list of names, with the short aliases of :data:`METRIC_ALIASES`.
    """
    if spec is None:
        return list(_dm.ALL_METRICS)
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    items = [str(s).strip().lower() for s in items if str(s).strip()]
    if items in (["all"], ["*"]):
        return list(_dm.ALL_METRICS)
    if items in ([], ["none"]):
        return []
    names = []
    for item in items:
        name = METRIC_ALIASES.get(item, item)
        if name not in _dm.ALL_METRICS:
            valid = ", ".join(list(_dm.ALL_METRICS) + sorted(METRIC_ALIASES))
            raise ValueError(f"unknown metric {item!r}; choose from {valid}, all or none")
        if name not in names:
            names.append(name)
    return [n for n in _dm.ALL_METRICS if n in names]  # the ALL_METRICS order


def _setting_defaults(fn):
    """``{setting: default}`` of a metric function: its keyword-only parameters."""
    return {p.name: p.default for p in inspect.signature(fn).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY}


def metric_settings(names, overrides):
    """``{metric: {setting: value}}``: what each metric of ``names`` runs with (its
    defaults, then the shared and per-metric ``compute_all`` overrides)."""
    settings = {}
    for name in names:
        values = _setting_defaults(_dm.ALL_METRICS[name])
        values.update({k: v for k, v in overrides.items() if k in values})
        values.update(overrides.get(name) or {})
        settings[name] = values
    return settings


def check_settings(settings):
    """Raises ValueError for a ``compute_all`` override no metric takes (before any work)."""
    def accepted(fn):
        return set(_setting_defaults(fn))

    everything = set().union(*(accepted(fn) for fn in _dm.ALL_METRICS.values()))
    for key, value in (settings or {}).items():
        if key in _dm.ALL_METRICS:
            if not isinstance(value, dict):
                raise ValueError(f"metric settings {key}: expected a mapping of settings, got {value!r}")
            bad = sorted(set(value) - accepted(_dm.ALL_METRICS[key]))
            if bad:
                raise ValueError(f"metric settings {key}: unknown setting(s) {bad}; it takes "
                                 f"{sorted(accepted(_dm.ALL_METRICS[key]))}")
        elif key not in everything:
            raise ValueError(f"metric settings: no metric takes {key!r}; settings are {sorted(everything)}")


def merge_settings(base, extra):
    """``base`` updated with ``extra`` (per-metric dicts merged; metric aliases resolved)."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    for key, value in (extra or {}).items():
        key = METRIC_ALIASES.get(key, key)
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out



def representation_function(model, batch_size=256, posterior=False):
    """``observations [N, ...] -> codes [N, D]`` (numpy): the encoder's mean, batched; with
    ``posterior``, ``-> (mean, scale)`` of q(z|x) (a model whose ``posterior_type`` is
    "gaussian"; None for any other).

    The disentanglement metrics' representation function: ``model.encode`` in batches (the
    posterior mean for a Gaussian posterior), for a Keras model or an exported one alike.
    A conditional model needs labels to encode and has none here.
    """
    batch_size = int(batch_size)
    if model.conditional:
        raise ValueError("a conditional model encodes under class labels; the disentanglement "
                         "metrics need an unconditional encoder")
    if posterior:
        if model.posterior_type != "gaussian":
            return None

        def distribution(x):
            mean, scale = model.encode(np.asarray(x, dtype="float32"), batch_size=batch_size,
                                       return_distribution=True)
            return np.asarray(mean, dtype="float32"), np.asarray(scale, dtype="float32")

        return distribution

    def represent(x):
        codes = model.encode(np.asarray(x, dtype="float32"), batch_size=batch_size)
        return np.asarray(codes, dtype="float32")

    return represent


def compute_disentanglement(model, ground_truth, metrics=None, settings=None, random_state=0,
                            log=None):
    """``compute_all`` one metric at a time (same scores as all at once), timed. The
    metrics of sampled codes run only for a model with a Gaussian posterior.

    Returns ``{"scores", "headline", "settings", "random_state", "seconds", "skipped"}``:
    ``seconds`` per metric; ``settings`` the effective settings of each metric;
    ``skipped``: ``{metric: reason}``.
    """
    names = resolve_metrics(metrics)
    overrides = dict(FULL_METRIC_SETTINGS if settings is None else settings)
    represent = representation_function(model, overrides.get("batch_size", 256))
    posterior = representation_function(model, overrides.get("batch_size", 256), posterior=True)
    skipped = {n: "the model has no Gaussian posterior to sample" for n in names
               if n in _dm.POSTERIOR_METRICS and posterior is None}
    names = [n for n in names if n not in skipped]
    scores, seconds = {}, {}
    for name in names:
        if log:
            log(f"  {name} ...")
        start = time.time()
        scores.update(_dm.compute_all(ground_truth, represent, random_state, metrics=[name],
                                      posterior_function=posterior, **overrides))
        seconds[name] = time.time() - start
        if log:
            log(f"  {name}: {scores[HEADLINE_SCORES[name]]:.4f} ({seconds[name]:.1f} s)")
    return {
        "scores": scores,
        "headline": {HEADLINE_SCORES[n]: scores[HEADLINE_SCORES[n]] for n in names},
        "settings": metric_settings(names, overrides),
        "random_state": random_state,
        "seconds": seconds,
        "skipped": skipped,
    }
