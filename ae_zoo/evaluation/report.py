"""Evaluate a trained model into ``evaluation.json`` and figures (``ae-zoo evaluate``).

``evaluate_run(path)`` takes a run directory of ``ae-zoo train`` (or a ``.keras`` file)
or an exported SavedModel (a model folder, one version directory, or a zoo name) and
writes ``evaluation.json`` (atomically) and PNG figures into ``out`` (default
``RUN_DIR/evaluation/``; for a SavedModel ``runs/<name>_evaluation/``, never inside the
zoo). The dataset defaults to the run's recipe (``run.json``) or the SavedModel's card.

What is measured, from a run's ``model.keras``:

* ``reconstruction``: per-pixel MSE of the mean reconstruction against x, and the
  model's own reconstruction term (``losses``: every tracked loss term, as in
  ``metrics.json``);
* VAE family, ``likelihood``: the ELBO (one z ~ q(z|x) per example, nats per example),
  the KL term, and the importance-weighted -log p(x) (Burda et al. 2016; ``iwae_samples``
  draws on up to 1,000 examples);
* ``latent``: :func:`~ae_zoo.evaluation.latent_stats` of the codes (posterior means);
* ``disentanglement``: when the dataset has ground-truth factors (dsprites, shapes3d),
  :func:`~ae_zoo.evaluation.compute_all` with the representation function = the
  encoder's mean, run in batches.

From a SavedModel, only what its serving signatures give: reconstruction MSE
(``reconstruct``), latent statistics (``encode``; KL per dimension from ``z_mean`` and
``z_log_var`` for the VAE family), the disentanglement metrics (``encode``), samples
(``sample``), interpolations, traversals, the manifold and the scatter (``encode`` +
``decode``). Not available: the loss terms, the ELBO and -log p(x): they need the
decoder's likelihood parameters (logits, a learned Gaussian scale) and posterior
draws, which the signatures do not expose. The card's training-time test metrics are
copied into ``card_metrics``; ``unavailable`` lists what was skipped and why.

Figures: ``reconstructions.png``, ``samples.png`` (VAE family), ``interpolations.png``,
``traversals.png``, ``latent_scatter.png`` (coloured by the labels, or by the first
ground-truth factor), ``manifold.png`` (latent_dim >= 2: the two dimensions when there
are two, else the two most active ones) and ``latent_ranges.png``.

Example:
    >>> result = evaluate_run("runs/vae_dsprites", metrics=["mig", "dci"])
    >>> result["disentanglement"]["scores"]["mig.mig"], result["likelihood"]["iwae_nll"]
"""

import inspect
import math
import os
import time

import numpy as np

from ae_zoo._io import write_json
from ae_zoo.evaluation import disentanglement as _dm
from ae_zoo.evaluation import latent as _latent

#: Short names accepted for the disentanglement metrics (``--metrics mig,dci,beta_vae``).
METRIC_ALIASES = {
    "beta_vae": "beta_vae_score", "betavae": "beta_vae_score",
    "factor_vae": "factor_vae_score", "factorvae": "factor_vae_score",
    "modularity": "modularity_explicitness", "explicitness": "modularity_explicitness",
    "unsupervised": "unsupervised_scores",
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
}

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
}
#: Locatello et al.'s settings (each metric's defaults), only encoding 256 images per call.
FULL_METRIC_SETTINGS = {"batch_size": 256}

FIGURES = ("reconstructions", "samples", "interpolations", "traversals", "latent_scatter",
           "manifold", "latent_ranges")
_MAX_TRAVERSAL_DIMS = 12
_SCATTER_POINTS = 2000
_IWAE_EXAMPLES = 1000


# ------------------------------------------------------------------- helpers
def to_jsonable(value):
    """``value`` with numpy scalars/arrays as Python numbers/lists and NaN/inf as None."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    return repr(value)  # e.g. a scikit-learn estimator given as a DCI setting


def resolve_metrics(spec):
    """Metric names of :data:`ae_zoo.evaluation.METRICS` from ``spec``.

    ``None`` or ``"all"``: every metric; ``"none"`` or ``[]``: no metric; a comma-separated
    string or a list of names, with the short aliases of :data:`METRIC_ALIASES`.
    """
    if spec is None:
        return list(_dm.METRICS)
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    items = [str(s).strip().lower() for s in items if str(s).strip()]
    if items in (["all"], ["*"]):
        return list(_dm.METRICS)
    if items in ([], ["none"]):
        return []
    names = []
    for item in items:
        name = METRIC_ALIASES.get(item, item)
        if name not in _dm.METRICS:
            valid = ", ".join(list(_dm.METRICS) + sorted(METRIC_ALIASES))
            raise ValueError(f"unknown metric {item!r}; choose from {valid}, all or none")
        if name not in names:
            names.append(name)
    return [n for n in _dm.METRICS if n in names]  # the METRICS order


def _setting_defaults(fn):
    """``{setting: default}`` of a metric function: its keyword-only parameters."""
    return {p.name: p.default for p in inspect.signature(fn).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY}


def metric_settings(names, overrides):
    """``{metric: {setting: value}}``: what each metric of ``names`` runs with (its
    defaults, then the shared and per-metric ``compute_all`` overrides)."""
    settings = {}
    for name in names:
        values = _setting_defaults(_dm.METRICS[name])
        values.update({k: v for k, v in overrides.items() if k in values})
        values.update(overrides.get(name) or {})
        settings[name] = values
    return settings


def check_settings(settings):
    """Raises ValueError for a ``compute_all`` override no metric takes (before any work)."""
    def accepted(fn):
        return set(_setting_defaults(fn))

    everything = set().union(*(accepted(fn) for fn in _dm.METRICS.values()))
    for key, value in (settings or {}).items():
        if key in _dm.METRICS:
            if not isinstance(value, dict):
                raise ValueError(f"metric settings {key}: expected a mapping of settings, got {value!r}")
            bad = sorted(set(value) - accepted(_dm.METRICS[key]))
            if bad:
                raise ValueError(f"metric settings {key}: unknown setting(s) {bad}; it takes "
                                 f"{sorted(accepted(_dm.METRICS[key]))}")
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


def is_saved_model(model):
    """Whether ``model`` is a loaded SavedModel (:class:`ae_zoo.export.PretrainedModel`)."""
    return hasattr(model, "signatures") and hasattr(model, "signature_specs")


def family_of(model):
    """``"conditional_vae"``, ``"vae"`` or ``"autoencoder"`` for a Keras model or a SavedModel."""
    if is_saved_model(model):
        if "generate" in model.signatures:
            return "conditional_vae"
        return "vae" if "sample" in model.signatures else "autoencoder"
    if _latent.is_conditional(model):
        return "conditional_vae"
    return "vae" if _latent.is_variational(model) else "autoencoder"


def representation_function(model, batch_size=256):
    """``observations [N, ...] -> codes [N, D]`` (numpy): the encoder's mean, batched.

    The disentanglement metrics' representation function: ``model.encode`` (the
    posterior mean for the VAE family) as one traced ``tf.function``, or a SavedModel's
    ``encode`` signature. A conditional VAE needs labels to encode and has none here.
    """
    import tensorflow as tf

    batch_size = int(batch_size)
    if family_of(model) == "conditional_vae":
        raise ValueError("a conditional VAE encodes under class labels; the disentanglement "
                         "metrics need an unconditional encoder")
    if is_saved_model(model):
        return lambda x: model.encode(np.asarray(x, "float32"), batch_size=batch_size)
    spec = tf.TensorSpec((None, *model.example_shape), tf.float32)
    encode = tf.function(lambda x: tf.cast(model.encode(x), tf.float32), input_signature=[spec])

    def represent(x):
        x = np.asarray(x, dtype="float32")
        parts = [encode(tf.constant(x[i:i + batch_size])).numpy()
                 for i in range(0, len(x), batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, model.latent_dim), "float32")

    return represent


class SignatureModel:
    """A SavedModel's ``encode``/``decode`` signatures behind the interface the latent
    tools and figures use (``encode``, ``decode``, ``latent_dim``, ``example_shape``).

    It is treated as a deterministic autoencoder (codes = ``encode``'s ``code``, the
    posterior mean for the VAE family); give traversal and manifold ranges explicitly.
    """

    def __init__(self, pretrained):
        if getattr(pretrained, "conditional", False):
            raise ValueError("SignatureModel takes an unconditional SavedModel")
        self.pretrained = pretrained
        self.encoder = self.decoder = pretrained  # present: the networks exist
        self.latent_dim = pretrained.latent_dim
        self.example_shape = tuple(pretrained.example_shape)
        self.registry_name = pretrained.card.get("model") or pretrained.name

    def encode(self, x):
        return self.pretrained.encode(np.asarray(x, "float32"))

    def decode(self, z):
        return self.pretrained.decode(np.asarray(z, "float32"))

    def reconstruct(self, x):
        return self.pretrained.reconstruct(np.asarray(x, "float32"))


# ---------------------------------------------------------------- loading
def recipe_mismatch(old, recipe, keys):
    """``"section.key = was, not want"`` for the first ``(section, key)`` of ``keys`` where the
    recipe a finished run was trained with (``old``, from its run.json) differs from
    ``recipe``; None when they all agree."""
    for section, key in keys:
        was, want = ((old or {}).get(section) or {}).get(key), recipe[section][key]
        if was != want:
            return f"{section}.{key} = {was!r}, not {want!r}"
    return None


def _is_saved_model_dir(path):
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return True
    return any(n.isdigit() and os.path.isfile(os.path.join(path, n, "saved_model.pb"))
               for n in os.listdir(path))


def load_evaluand(path):
    """``(model, info)`` for a run directory, a ``.keras`` file, a SavedModel or a zoo name.

    ``info``: ``kind`` ("run", "keras" or "saved_model"), ``path``, ``name``, ``dataset``,
    ``data_options``, ``data_dir``, ``iwae_samples`` (the recipe's), ``run_dir``, and for
    a SavedModel its ``card``.
    """
    from ae_zoo.export.card import load_run, run_facts

    path = os.fspath(path)
    if (os.path.isdir(path) and os.path.isfile(os.path.join(path, "model.keras"))) \
            or path.endswith(".keras"):
        model, run_info, _, model_path = load_run(path)
        facts = run_facts(run_info)
        recipe = facts["recipe_config"] or {}
        run_dir = path if os.path.isdir(path) else (
            os.path.dirname(path) if os.path.basename(path) == "model.keras" else None)
        name = (os.path.basename(os.path.normpath(run_dir)) if run_dir
                else os.path.splitext(os.path.basename(path))[0])
        return model, {
            "kind": "run" if run_dir else "keras", "path": path, "model_path": model_path,
            "run_dir": run_dir, "name": name, "dataset": facts["dataset"],
            "data_options": dict(facts["data_options"] or {}),
            "data_dir": ((recipe.get("data") or {}).get("data_dir")),
            "iwae_samples": ((recipe.get("training") or {}).get("iwae_samples")),
            "registry_name": facts["model"] or getattr(model, "registry_name", None),
        }
    if os.path.isdir(path) and not _is_saved_model_dir(path):
        raise FileNotFoundError(
            f"{path} is neither a run directory (no model.keras) nor a SavedModel folder (no "
            "saved_model.pb or numeric version directory)")
    from ae_zoo.export.pretrained import load_pretrained

    model = load_pretrained(path, require_card=False)
    card = model.card or {}
    return model, {
        "kind": "saved_model", "path": path, "version_dir": model.path, "run_dir": None,
        "name": model.name, "dataset": card.get("dataset"),
        "data_options": dict(card.get("data_options") or {}), "data_dir": None,
        "iwae_samples": None, "registry_name": card.get("model"), "card": card,
    }


def load_split(name, split="test", data_dir=None, **options):
    """``ae_zoo.data.load`` with the data options recorded by a run or a card."""
    from ae_zoo import data as data_lib

    kwargs = dict(options)
    if data_dir:
        kwargs["data_dir"] = data_dir
    return data_lib.load(name, split, **kwargs)


def check_dataset_shape(model, dataset):
    """Raises a clear error when ``dataset``'s images are not the shape ``model`` takes."""
    shape = tuple(model.example_shape)
    if tuple(dataset.input_shape) != shape:
        raise ValueError(f"dataset {dataset.name!r} has images of shape {dataset.input_shape}, but "
                         f"the model takes {shape}; pass the dataset it was trained on (--dataset)")


# ----------------------------------------------------------------- measures
def reconstruct_in_batches(model, x, labels=None, batch_size=256):
    """``model.reconstruct`` of ``x`` (and ``labels``) ``batch_size`` examples at a time."""
    parts = []
    for i in range(0, len(x), batch_size):
        part = slice(i, i + batch_size)
        if labels is not None:
            out = model.reconstruct(x[part], labels[part])
        else:
            out = model.reconstruct(x[part])
        parts.append(np.asarray(out, dtype="float32"))
    return np.concatenate(parts)


def _saved_model_latent_stats(pretrained, x, labels=None, batch_size=256):
    """latent_stats from the ``encode`` signature (KL per dimension from z_log_var)."""
    if labels is not None:
        out = pretrained.encode(x, labels, batch_size=batch_size, return_all=True)
    else:
        out = pretrained.encode(x, batch_size=batch_size, return_all=True)
    stats = _latent.code_summary(out["code"])
    if "z_log_var" in out:
        m = out["z_mean"].astype(np.float64)
        log_var = out["z_log_var"].astype(np.float64)
        stats["kl_per_dim"] = np.mean(0.5 * (np.exp(log_var) + m ** 2 - log_var - 1.0), axis=0)
    return stats


def latent_summary(stats):
    """The JSON-able form of a :func:`latent_stats` dict, plus ``total_kl`` (the sum of
    ``kl_per_dim``: the mean KL term, VAE family)."""
    out = to_jsonable(stats)
    out["total_kl"] = None if stats.get("kl_per_dim") is None else float(np.sum(stats["kl_per_dim"]))
    return out


def _most_active_dims(stats, limit):
    """All dimensions up to ``limit``, else the ``limit`` most active (by KL per dimension
    for the VAE family, else by activity), in order."""
    dim = int(stats["latent_dim"])
    if dim <= limit:
        return list(range(dim))
    score = stats["kl_per_dim"] if stats.get("kl_per_dim") is not None else stats["activity"]
    return sorted(np.argsort(-np.asarray(score))[:limit].tolist())


def scatter_labels(dataset, n):
    """``(labels, what)`` to colour a scatter: class labels, else the first factor, else None."""
    if dataset.y is not None:
        return dataset.y[:n], "class"
    if dataset.factors is not None:
        name = dataset.factor_names[0] if dataset.factor_names else "factor 0"
        return dataset.factors[:n, 0], name
    return None, None


def traversal_values(stats, family, num=9):
    """linspace(-3, 3) for the VAE family (+-3 prior sd), else the codes' 1st-99th percentiles."""
    if family in ("vae", "conditional_vae"):
        return np.linspace(-3.0, 3.0, num)
    lo, hi = stats["percentile_range"]
    if not hi > lo:
        lo, hi = lo - 1.0, hi + 1.0
    return np.linspace(lo, hi, num)


def make_figures(model, dataset, out, stats, family, seed=0, figures=FIGURES, suffix="",
                 autoencoder_samples=False):
    """Writes the figures of one model into ``out``: ``<figure><suffix>.png``.

    ``model``: a Keras model or a :class:`SignatureModel`; ``stats``: its
    :func:`latent_stats` on ``dataset``; ``family`` as :func:`family_of`.
    ``autoencoder_samples``: also decode N(0, I) draws for an autoencoder (which has no
    prior; the AE-versus-VAE comparison shows what comes out). Returns
    ``({figure: file name}, {figure: why it was not drawn})``.
    """
    from scipy.stats import norm

    from ae_zoo import viz

    written, skipped = {}, {}
    conditional = family == "conditional_vae"
    x = dataset.x
    y = dataset.y
    label = (lambda idx: y[idx]) if conditional else (lambda idx: None)
    title_name = getattr(model, "registry_name", None) or type(model).__name__
    n = min(10, len(x))

    def path(fig):
        return os.path.join(out, f"{fig}{suffix}.png")

    if "reconstructions" in figures:
        recon = reconstruct_in_batches(model, x[:n], y[:n] if conditional else None)
        viz.reconstruction_grid(x[:n], recon, n=n, title=f"{title_name} on {dataset.name}",
                                path=path("reconstructions"))
        written["reconstructions"] = os.path.basename(path("reconstructions"))
    if "samples" in figures:
        if family == "autoencoder" and not autoencoder_samples:
            skipped["samples"] = "an autoencoder has no prior to sample from"
        else:
            what = "N(0, I) draws" if family != "autoencoder" else "N(0, I) draws (no prior: not a generative model)"
            viz.samples_grid(model, n=64, seed=seed, title=f"{title_name}: decoded {what}, seed {seed}",
                             path=path("samples"))
            written["samples"] = os.path.basename(path("samples"))
    if "interpolations" in figures:
        pairs = min(6, len(x) // 2)
        if pairs >= 1:
            half = len(x) // 2
            a, b = np.arange(pairs), half + np.arange(pairs)
            viz.interpolation_figure(model, x[a], x[b], steps=8, labels=label(a),
                                     title=f"{title_name}: linear interpolation between codes",
                                     path=path("interpolations"))
            written["interpolations"] = os.path.basename(path("interpolations"))
        else:
            skipped["interpolations"] = "fewer than 2 examples"
    if "traversals" in figures:
        values = traversal_values(stats, family)
        dims = _most_active_dims(stats, _MAX_TRAVERSAL_DIMS)
        which = "" if len(dims) == stats["latent_dim"] else f", the {len(dims)} most active dims"
        rng = "+-3 prior sd" if family != "autoencoder" else "the codes' 1st-99th percentiles"
        viz.traversal_figure(model, x[0], dims=dims, values=values,
                             labels=None if not conditional else y[:1],
                             title=f"{title_name}: traversals over {rng}{which}",
                             path=path("traversals"))
        written["traversals"] = os.path.basename(path("traversals"))
    if "latent_scatter" in figures:
        labels, what = scatter_labels(dataset, _SCATTER_POINTS)
        if labels is None and not conditional:
            skipped["latent_scatter"] = f"dataset {dataset.name!r} has neither labels nor factors"
        elif stats["latent_dim"] < 2:
            skipped["latent_scatter"] = "latent_dim 1: nothing to scatter"
        else:
            m = min(_SCATTER_POINTS, len(x))
            how = "" if stats["latent_dim"] == 2 else f", PCA of {stats['latent_dim']} dims"
            viz.latent_scatter(model, x[:m], labels, method="auto",
                               title=f"{title_name}: codes of {m} {dataset.split} examples{how}, "
                                     f"coloured by {what}",
                               path=path("latent_scatter"))
            written["latent_scatter"] = os.path.basename(path("latent_scatter"))
    if "manifold" in figures:
        if stats["latent_dim"] < 2:
            skipped["manifold"] = "latent_dim 1"
        else:
            dims = tuple(_most_active_dims(stats, 2))
            kwargs = {}
            if family != "autoencoder" and not _latent.is_variational(model):
                kwargs["value_range"] = tuple(norm.ppf([0.05, 0.95]))  # a SavedModel VAE
            elif family == "autoencoder":
                kwargs["x"] = x[:_SCATTER_POINTS]
            if conditional:
                kwargs["labels"] = y[:1]
            which = "" if stats["latent_dim"] == 2 else " (the two most active dims)"
            viz.manifold_figure(model, dims=dims, grid=15, path=path("manifold"),
                                title=f"{title_name}: decoded grid over z_{dims[0]}, z_{dims[1]}"
                                      f"{which}; others at 0", **kwargs)
            written["manifold"] = os.path.basename(path("manifold"))
    if "latent_ranges" in figures:
        viz.latent_range_figure({title_name: stats}, title=f"{title_name}: per-dimension code values",
                                path=path("latent_ranges"))
        written["latent_ranges"] = os.path.basename(path("latent_ranges"))
    return written, skipped


def compute_disentanglement(model, ground_truth, metrics=None, settings=None, random_state=0,
                            log=None):
    """``compute_all`` one metric at a time (same scores as all at once), timed.

    Returns ``{"scores", "headline", "settings", "random_state", "seconds"}``:
    ``seconds`` per metric; ``settings`` the effective settings of each metric.
    """
    names = resolve_metrics(metrics)
    overrides = dict(FULL_METRIC_SETTINGS if settings is None else settings)
    represent = representation_function(model, overrides.get("batch_size", 256))
    scores, seconds = {}, {}
    for name in names:
        if log:
            log(f"  {name} ...")
        start = time.time()
        scores.update(_dm.compute_all(ground_truth, represent, random_state, metrics=[name],
                                      **overrides))
        seconds[name] = time.time() - start
        if log:
            log(f"  {name}: {scores[HEADLINE_SCORES[name]]:.4f} ({seconds[name]:.1f} s)")
    return {
        "scores": scores,
        "headline": {HEADLINE_SCORES[n]: scores[HEADLINE_SCORES[n]] for n in names},
        "settings": metric_settings(names, overrides),
        "random_state": random_state,
        "seconds": seconds,
    }


# ----------------------------------------------------------------- the report
def default_out(info):
    if info["run_dir"]:
        return os.path.join(info["run_dir"], "evaluation")
    return os.path.join("runs", f"{info['name']}_evaluation")


def evaluate_run(path, dataset=None, split="test", out=None, metrics=None, iwae_samples=None,
                 seed=0, metric_settings=None, fast_metrics=False, num_examples=None,
                 figures=True, data_options=None, batch_size=256, log=None):
    """Evaluates a run directory, a ``.keras`` file or a SavedModel; writes
    ``out/evaluation.json`` and the figures, and returns the evaluation as a dict.

    Args:
        path: run directory (``model.keras`` + ``run.json``), ``.keras`` file, SavedModel
            folder or version directory, or zoo name.
        dataset: dataset name (default: the run's recipe or the card's).
        split: split to evaluate on.
        out: output folder (default ``RUN_DIR/evaluation``, or ``runs/<name>_evaluation``).
        metrics: disentanglement metrics (see :func:`resolve_metrics`); None: all of them
            when the dataset has ground-truth factors; naming some for a dataset without
            factors is an error.
        iwae_samples: importance samples of -log p(x) (VAE family); default the run's
            recipe (``training.iwae_samples``) or 50; 0 skips it.
        seed: seeds the metrics' random state, the prior draws and the Keras RNG.
        metric_settings: ``compute_all`` overrides, e.g. ``{"num_train": 2000}``, merged
            over the defaults (Locatello et al.'s, or :data:`FAST_METRIC_SETTINGS` with
            ``fast_metrics``).
        num_examples: evaluate on the first N examples of the split (default all).
        figures: write the PNGs (False: numbers only).
        data_options: extra ``ae_zoo.data.load`` options (e.g. ``{"num_samples": 500}``).
        log: a callable taking progress lines (e.g. ``print``), or None.
    """
    import keras

    say = log or (lambda *_: None)
    explicit_metrics = metrics is not None
    names = resolve_metrics(metrics)
    if iwae_samples is not None and (isinstance(iwae_samples, bool) or int(iwae_samples) < 0):
        raise ValueError(f"iwae_samples must be an integer >= 0, got {iwae_samples!r}")
    if num_examples is not None and int(num_examples) < 1:
        raise ValueError(f"num_examples must be >= 1, got {num_examples!r}")
    timings = {}
    start = time.time()
    model, info = load_evaluand(path)
    timings["load"] = time.time() - start
    saved = info["kind"] == "saved_model"
    family = family_of(model)

    name = dataset or info["dataset"]
    if not name:
        raise ValueError(f"{path} records no dataset (no run.json recipe or card): pass --dataset")
    options = dict(info["data_options"]) if name == info["dataset"] else {}
    options.update(data_options or {})
    data = load_split(name, split, info["data_dir"] if name == info["dataset"] else None, **options)
    if num_examples is not None and int(num_examples) < len(data):
        import dataclasses

        n = int(num_examples)
        data = dataclasses.replace(data, x=data.x[:n], y=None if data.y is None else data.y[:n],
                                   factors=None if data.factors is None else data.factors[:n])
    check_dataset_shape(model, data)
    if family == "conditional_vae" and data.y is None:
        raise ValueError(f"a conditional VAE needs class labels; dataset {name!r} has none")
    ground_truth = data.ground_truth
    if explicit_metrics and names and ground_truth is None:
        raise ValueError(f"dataset {name!r} has no ground-truth factors, so the disentanglement "
                         "metrics cannot run; use a dataset with factors (dsprites, shapes3d) or "
                         "--metrics none")
    settings = merge_settings(FAST_METRIC_SETTINGS if fast_metrics else FULL_METRIC_SETTINGS,
                              metric_settings)
    check_settings(settings)
    out = os.fspath(out) if out else default_out(info)
    os.makedirs(out, exist_ok=True)
    keras.utils.set_random_seed(int(seed))
    labels = data.y if family == "conditional_vae" else None
    unavailable = {}
    say(f"Evaluating {info['path']} ({info['registry_name'] or family}, {family}) on "
        f"{name}/{split} ({len(data)} examples) -> {out}/")

    # reconstruction and likelihood
    start = time.time()
    result_losses, likelihood = None, None
    iwae = iwae_samples if iwae_samples is not None else (info["iwae_samples"]
                                                         if info["iwae_samples"] is not None else 50)
    if saved:
        recon = model.reconstruct(data.x, labels, batch_size=batch_size) if labels is not None \
            else model.reconstruct(data.x, batch_size=batch_size)
        mse = float(np.mean((np.asarray(recon, np.float64) - data.x) ** 2))
        reconstruction = {"mse": mse, "loss": None, "loss_definition": None}
        why = ("a SavedModel's signatures give mean images, codes and posterior parameters, not "
               "the decoder's likelihood (logits, learned scale) or the training loss")
        unavailable["losses"] = why
        if family != "autoencoder":
            unavailable["elbo"] = unavailable["iwae_nll"] = why
    else:
        from ae_zoo.training.runner import evaluate_model

        model.compile(jit_compile=False)
        measured = evaluate_model(model, data, batch_size=batch_size,
                                  iwae_samples=int(iwae) if family != "autoencoder" else 0,
                                  iwae_examples=min(len(data), _IWAE_EXAMPLES))
        result_losses = {k[len("test_"):]: v for k, v in measured.items()
                         if k.startswith("test_") and k not in ("test_reconstruction_mse", "test_iwae_nll")}
        if family == "autoencoder":
            definition = (f"mean per-pixel {model.reconstruction_loss.upper()} "
                          f"({'on logits' if model.reconstruction_loss == 'bce' else 'of the output'})"
                          ", the training loss")
        else:
            definition = "-log p(x|z) summed over pixels, z ~ q(z|x) (one draw), nats per example"
        reconstruction = {"mse": measured["test_reconstruction_mse"],
                          "loss": result_losses.get("reconstruction_loss"),
                          "loss_definition": definition}
        if family != "autoencoder":
            likelihood = {"elbo": result_losses.get("elbo"), "kl": result_losses.get("kl"),
                          "reconstruction_loss": result_losses.get("reconstruction_loss"),
                          "iwae_nll": measured.get("test_iwae_nll"),
                          "iwae_samples": measured.get("iwae_samples", 0),
                          "iwae_examples": measured.get("iwae_examples", 0)}
            if not iwae:
                unavailable["iwae_nll"] = "iwae_samples is 0"
    timings["reconstruction_and_likelihood"] = time.time() - start
    say(f"  reconstruction MSE {reconstruction['mse']:.5f}" + (
        f", ELBO {likelihood['elbo']:.3f}" if likelihood and likelihood["elbo"] is not None else "")
        + (f", -log p(x) {likelihood['iwae_nll']:.3f}"
           if likelihood and likelihood["iwae_nll"] is not None else ""))

    # latent statistics
    start = time.time()
    if saved:
        stats = _saved_model_latent_stats(model, data.x, labels, batch_size)
    else:
        stats = _latent.latent_stats(model, data.x, labels=labels, batch_size=batch_size)
    timings["latent_stats"] = time.time() - start
    say(f"  codes in [{stats['value_range'][0]:.3g}, {stats['value_range'][1]:.3g}], "
        f"{stats['active_units']}/{stats['latent_dim']} active units")

    # disentanglement
    disentanglement = None
    if not names:
        unavailable["disentanglement"] = "no metrics requested"
    elif ground_truth is None:
        unavailable["disentanglement"] = f"dataset {name!r} has no ground-truth factors"
    elif family == "conditional_vae":
        unavailable["disentanglement"] = "a conditional VAE encodes under labels"
    else:
        say(f"  disentanglement metrics ({', '.join(names)}) ...")
        start = time.time()
        disentanglement = compute_disentanglement(model, ground_truth, names, settings,
                                                  random_state=int(seed), log=say)
        disentanglement["preset"] = "fast" if fast_metrics else "full"
        timings["disentanglement"] = time.time() - start

    # figures
    written = {}
    if figures:
        start = time.time()
        if saved and family == "conditional_vae":
            from ae_zoo import viz

            n = min(10, len(data))
            viz.reconstruction_grid(data.x[:n], model.reconstruct(data.x[:n], data.y[:n]), n=n,
                                    path=os.path.join(out, "reconstructions.png"))
            images = model.sample(min(64, 8 * (model.num_classes or 8)), seed=int(seed))
            viz.image_grid([images[i:i + 8] for i in range(0, len(images), 8)],
                           title=f"{info['name']}: generated, seed {seed}",
                           path=os.path.join(out, "samples.png"))
            written = {"reconstructions": "reconstructions.png", "samples": "samples.png"}
            for fig in FIGURES:
                if fig not in written:
                    unavailable[f"figure:{fig}"] = "not drawn for a conditional SavedModel"
        else:
            target = SignatureModel(model) if saved else model
            written, skipped = make_figures(target, data, out, stats, family, seed=int(seed))
            unavailable.update({f"figure:{k}": v for k, v in skipped.items()})
        timings["figures"] = time.time() - start

    result = {
        "source": {"kind": info["kind"], "path": info["path"], "name": info["name"],
                   "model": info["registry_name"], "family": family,
                   "class": (model.card.get("class") if saved else type(model).__name__),
                   "latent_dim": int(model.latent_dim),
                   "input_shape": list(model.example_shape)},
        "dataset": {"name": name, "split": split, "options": options, "num_examples": len(data),
                    "has_labels": data.y is not None, "has_factors": ground_truth is not None},
        "reconstruction": reconstruction,
        "losses": result_losses,
        "likelihood": likelihood,
        "latent": latent_summary(stats),
        "disentanglement": disentanglement,
        "figures": written,
        "unavailable": unavailable,
        "seed": int(seed),
        "seconds": timings,
    }
    if saved:
        result["card_metrics"] = (info.get("card") or {}).get("metrics")
    result = to_jsonable(result)
    result["out"] = out
    write_json(os.path.join(out, "evaluation.json"), result)
    return result
