"""Models side by side: ``ae-zoo compare ae rae_l2 vae wae_mmd vq_vae --dataset mnist5k``.

``compare_models(["ae", "vae"], "mnist5k")`` trains any number of models with the same
architecture and latent size (the ``<model>_<dataset>`` recipes, the first one's
architecture, network options, latent_dim and epochs imposed on all; each keeps its own
objective and fits its default sampler after training, as ``ae-zoo train`` does), or
reuses finished run directories (``out/<model>/``, or ``runs=`` for any runs), and
writes into ``out``:

* ``report.md``: the side-by-side report with the figures (:mod:`.compare_report`);
* ``compare.json``: per model the code statistics on the test split (overall value
  range, 1st-99th percentiles, std of all values, per-dimension min/max/mean/std, share of
  values within +-3, active units, KL per dimension for a Gaussian posterior), the
  reconstruction MSE, and how far its samples are from real images (per-pixel MSE to the
  nearest test image): ``samples`` from what the model samples with (its sampler, else
  its prior), and, for a deterministic model with continuous codes, ``normal_samples``:
  decoded N(0, I) draws, the same model without its sampler;
* ``latent_ranges.png`` (all models on one value axis) and per model ``samples_<m>.png``,
  ``normal_samples_<m>.png`` (the deterministic models), ``interpolations_<m>.png``,
  ``traversals_<m>.png`` (a N(0, I) prior over +-3 prior sd; others over their own
  1st-99th percentiles), ``latent_scatter_<m>.png`` and ``reconstructions_<m>.png``.

The classic observation it shows: a VAE's codes stay within a few units of zero (the KL
term pulls q(z|x) to N(0, I)), an autoencoder's spread over tens of units, so N(0, I) draws
decode to digits for the VAE and mostly to garbage for the autoencoder; a Gaussian mixture
fitted to the autoencoder's codes (Ghosh et al. 2020) draws where its codes are.
"""

import copy
import json
import os
import time

import keras
import numpy as np

from ae_zoo import models, nets, samplers, viz
from ae_zoo._io import read_json, refuse_to_replace, to_jsonable, write_json, write_text
from ae_zoo.evaluation import latent as _latent
from ae_zoo.experiments.common import check_dataset, load_evaluand, load_split, recipe_mismatch
from ae_zoo.experiments.compare_report import describe, report_markdown, summary_sentences
from ae_zoo.experiments.figures import make_figures
from ae_zoo.experiments.train import recipe_for, run
from ae_zoo.export.card import load_run
from ae_zoo.models.vae import prior_draws
from ae_zoo.training import recipes as recipe_lib
from ae_zoo.training.console import EpochProgress

__all__ = ["code_statistics", "compare_models", "describe", "matched_recipes"]

_COMPARE_FIGURES = ("reconstructions", "samples", "interpolations", "traversals",
                    "latent_scatter")
_MATCHED_KEYS = ("name", "latent_dim", "architecture")


def _network_options(options):
    return {k: v for k, v in (options or {}).items() if k in nets.NETWORK_OPTIONS}


def matched_recipes(names, dataset="mnist5k", *, epochs=None, latent_dim=None,
                    architecture=None, out=None, seed=0, overrides=()):
    """The validated recipes of the models ``names``, trained with the same networks, latent
    size and epochs.

    Starts from the shipped ``<model>_<dataset>`` recipes (a minimal recipe where there is
    none); the first model's architecture and network options (``hidden_units``,
    ``filters``, ...), latent_dim and epochs go to all unless given. ``out``: the runs go to
    ``out/<model>/``. ``overrides``: ``"key=value"`` strings or ``(path, value)`` pairs
    applied to every recipe.
    """
    names = list(names)
    raws = [copy.deepcopy(recipe_for(name, dataset)) for name in names]
    for name, raw in zip(names, raws):
        models.get(name)  # a clear error for an unknown name
        raw.setdefault("model", {})["name"] = name
        raw.setdefault("data", {})["name"] = dataset
    ref = raws[0]["model"]
    ref_arch = ref.get("architecture") or models.get(names[0]).default_architecture
    arch = architecture or ref_arch
    net = _network_options(ref.get("options")) if arch == ref_arch else {}
    latent = latent_dim or next((r["model"]["latent_dim"] for r in raws
                                 if r["model"].get("latent_dim")), 16)
    train_epochs = epochs or (raws[0].get("training") or {}).get("epochs")
    result = []
    for name, raw in zip(names, raws):
        model_cfg = raw["model"]
        options = {k: v for k, v in (model_cfg.get("options") or {}).items()
                   if k not in _network_options(model_cfg.get("options"))}
        options.update(copy.deepcopy(net))
        model_cfg.update(latent_dim=int(latent), architecture=arch, options=options)
        training = raw.setdefault("training", {}) or {}
        raw["training"] = training
        if train_epochs:
            training["epochs"] = int(train_epochs)
            training.pop("steps", None)
        training["seed"] = int(seed)
        raw["export"] = None
        raw["out"] = os.path.join(out or "runs/compare", name)
        recipe = recipe_lib.apply_overrides(raw, list(overrides))
        result.append(recipe_lib.validate(recipe))
    return result


def _run_matches(run_dir, recipe):
    """None when the finished run in ``run_dir`` was trained as ``recipe`` says, else why not."""
    info = read_json(os.path.join(run_dir, "run.json"))
    if info is None:
        return "it has no run.json"
    old = info.get("recipe") or {}
    keys = [("model", k) for k in _MATCHED_KEYS] + [("data", "name"), ("training", "epochs"),
                                                     ("training", "steps")]
    mismatch = recipe_mismatch(old, recipe, keys)
    if mismatch:
        return f"it was trained with {mismatch}"
    was = _network_options((old.get("model") or {}).get("options"))
    want = _network_options(recipe["model"]["options"])
    if was != want:
        return f"it was trained with network options {was}, not {want}"
    return None


def _nearest_mse(images, reference, chunk=256):
    """Per image: the per-pixel MSE to its nearest image in ``reference``."""
    a = images.reshape(len(images), -1).astype(np.float64)
    b = reference.reshape(len(reference), -1).astype(np.float64)
    b_sq = np.sum(b ** 2, axis=1)
    best = []
    for i in range(0, len(a), chunk):
        part = a[i:i + chunk]
        dist = np.sum(part ** 2, axis=1)[:, None] - 2.0 * part @ b.T + b_sq[None, :]
        best.append(np.maximum(dist.min(axis=1), 0.0) / a.shape[1])
    return np.concatenate(best)


def code_statistics(codes, stats=None):
    """The numbers of compare.json for a code matrix (N, D)."""
    codes = np.asarray(codes, dtype=np.float64)
    stats = stats or _latent.code_summary(codes)
    return {
        "value_range": [float(codes.min()), float(codes.max())],
        "percentile_range": [float(v) for v in stats["percentile_range"]],
        "std": float(codes.std()),
        "mean_abs": float(np.mean(np.abs(codes))),
        "max_abs": float(np.max(np.abs(codes))),
        "within_3": float(np.mean(np.abs(codes) <= 3.0)),
        "min": codes.min(axis=0).tolist(),
        "max": codes.max(axis=0).tolist(),
        "mean": codes.mean(axis=0).tolist(),
        "std_per_dim": codes.std(axis=0).tolist(),
        "mean_dim_std": float(codes.std(axis=0).mean()),
        "active_units": int(stats["active_units"]),
        "kl_per_dim": None if stats.get("kl_per_dim") is None else
        [float(v) for v in stats["kl_per_dim"]],
    }


def _normal_draws(model, num, seed):
    """The N(0, I) draws z_i (seed + i) a VAE would draw, decoded by ``model``."""
    z = prior_draws(np.arange(num, dtype=np.int64) + seed, model.latent_dim).numpy()
    labels = np.arange(num) % model.num_classes if model.conditional else None
    return _latent.decode_codes(model, z, labels), z


def _deterministic(model):
    """A model with continuous codes and no prior of its own: the one a sampler changes."""
    return not model.generative and model.latent_kind == "continuous" and not model.conditional


def _run_label(run):
    """The registered model name recorded in a run's run.json, or None."""
    folder = run if os.path.isdir(run) else os.path.dirname(run)
    info = read_json(os.path.join(folder, "run.json")) or {}
    return info.get("registry_name") or ((info.get("recipe") or {}).get("model") or {}).get("name")


def _obtain(label, recipe, run_dir, log, verbose, command, overwrite=False):
    """``(model, run_dir, how, data info)``: load a finished run or train the recipe (a
    finished run trained otherwise is refused, or with ``overwrite`` retrained; the info
    of a run trained here names its figures, ``run_figures``)."""
    if recipe is None:  # a given run directory
        model, info = load_evaluand(run_dir)
        log(f"{label}: loaded {run_dir}")
        return model, run_dir, "loaded", info
    info = {"dataset": recipe["data"]["name"], "data_options": recipe["data"]["options"],
            "data_dir": recipe["data"]["data_dir"]}
    run_dir = recipe["out"]
    finished = os.path.isfile(os.path.join(run_dir, "model.keras"))
    problem = finished and _run_matches(run_dir, recipe)
    if problem:
        refuse_to_replace(run_dir, f"a finished {label} run, but {problem}", overwrite)
    elif finished:
        log(f"{label}: reusing the finished run {run_dir}/")
        model, _, _, _ = load_run(run_dir)
        return model, run_dir, "reused", info
    log(f"{label}: training {recipe['model']['name']} ({recipe['model']['architecture']}, "
        f"latent_dim {recipe['model']['latent_dim']}, {recipe['training']['epochs']} epochs) "
        f"into {run_dir}/ ...")
    start = time.time()
    progress = None if verbose else [EpochProgress(log, f"  {label}: ")]  # Keras' bar is off
    result = run(recipe, verbose=verbose, command=command, overwrite=bool(problem),
                 callbacks=progress)
    log(f"{label}: trained in {time.time() - start:.0f} s")
    return result["model"], run_dir, "trained", {**info, "run_figures": result["figures"]}


def _labels_and_runs(names, runs, dataset, out, epochs, latent_dim, architecture, seed, overrides):
    """``(labels, recipes or Nones, run directories, out)`` of a comparison."""
    if runs is not None:
        runs = [os.fspath(r) for r in runs]
        if len(runs) < 2:
            raise ValueError(f"--runs takes at least two run directories, got {len(runs)}")
        for r in runs:
            if not (os.path.isfile(os.path.join(r, "model.keras")) or
                    (r.endswith(".keras") and os.path.isfile(r))):
                raise FileNotFoundError(f"{r} is not a finished run (no model.keras)")
        labels = list(names) if names else [_run_label(r) or f"run{i}" for i, r in enumerate(runs, 1)]
        if len(labels) != len(runs):
            raise ValueError(f"{len(labels)} labels for {len(runs)} runs")
        if len(set(labels)) < len(labels):
            labels = [f"{label}_{i}" for i, label in enumerate(labels, 1)]
        out = out or os.path.join("runs", "compare_" + "_".join(labels))
        return labels, [None] * len(runs), runs, out
    names = [str(n) for n in (names or ())]
    if len(names) < 2:
        raise ValueError("name at least two models (e.g. ae and vae), or give runs")
    if len(set(names)) < len(names):
        raise ValueError(f"compare different models (got {names}), or pass --runs RUN_A RUN_B")
    out = out or os.path.join("runs", "compare_" + "_".join(names))
    recipes = matched_recipes(names, dataset or "mnist5k", epochs=epochs, latent_dim=latent_dim,
                              architecture=architecture, out=out, seed=seed, overrides=overrides)
    return names, recipes, [r["out"] for r in recipes], out


def _ensure_sampler(model, label, data_info, seed, say):
    """Fits the default sampler of a model that cannot sample yet (a run trained before
    samplers existed); returns its name, or None when there is none to fit."""
    if model.can_sample or not callable(getattr(model, "attach_sampler", None)):
        return None
    name = samplers.default_for(model)
    if name is None:
        return None
    train = load_split(data_info["dataset"], "train", data_info.get("data_dir"),
                       **dict(data_info.get("data_options") or {}))
    say(f"  {label}: fitting its default sampler ({name}) to the codes of {data_info['dataset']}/train")
    samplers.fit_default(model, train.x, name=name, seed=seed)
    return name


def _entry(label, model, run_dir, how, data, stats, codes, seed, num_samples):
    """The compare.json entry of one model (and its samples, for the figures)."""
    labels = data.y if model.conditional else None
    recon = model.reconstruct(data.x, labels=labels, batch_size=256)
    run_info = read_json(os.path.join(run_dir, "run.json")) or {}  # None for a .keras file
    metrics = read_json(os.path.join(run_dir, "metrics.json")) or {}
    recipe_options = ((run_info.get("recipe") or {}).get("model") or {}).get("options") or {}
    if model.can_sample:
        draws = np.asarray(model.sample(num_samples, seed=seed))
        source = viz.sampling_source(model)
    else:
        draws, source = _normal_draws(model, num_samples, seed)[0], "N(0, I) (no prior, no sampler)"
    entry = {
        "model": getattr(model, "registry_name", None) or type(model).__name__,
        "capabilities": model.capabilities(),
        "sampler": getattr(model, "sampler_name", None),
        "run_dir": run_dir, "obtained": how,
        "architecture": getattr(model, "architecture", None),
        "network_options": _network_options(getattr(model, "network_options", None)),
        "latent_dim": int(model.latent_dim),
        "epochs": run_info.get("epochs"), "steps": metrics.get("steps"),
        "reconstruction_mse": float(np.mean((recon.astype(np.float64) - data.x) ** 2)),
        "codes": code_statistics(codes, stats),
        "samples": {"source": source, "seed": int(seed), "num": int(num_samples),
                    "nearest_test_mse": float(np.mean(_nearest_mse(draws, data.x)))},
        "normal_samples": None,
        "model_options": {k: v for k, v in recipe_options.items()
                          if k not in _network_options(recipe_options)},
    }
    normal = None
    if _deterministic(model) and model.can_sample:  # the same model without its sampler
        normal, _ = _normal_draws(model, num_samples, seed)
        entry["normal_samples"] = {"source": "N(0, I)", "seed": int(seed), "num": int(num_samples),
                                   "nearest_test_mse": float(np.mean(_nearest_mse(normal, data.x)))}
    return entry, normal


def compare_models(names=("ae", "vae"), dataset=None, *, epochs=None, latent_dim=None,
                   architecture=None, out=None, runs=None, seed=0, split="test", num_samples=64,
                   overrides=(), figures=True, verbose=0, log=None, command=None, overwrite=False):
    """Trains (or loads) the models and writes the side-by-side report; returns compare.json.

    Args:
        names: two or more registered model names (with ``runs``: their labels, or None).
        dataset: dataset name (default mnist5k, or with ``runs`` the first run's).
        epochs, latent_dim, architecture: imposed on all (default: the first recipe's).
        out: report folder (default ``runs/compare_<a>_<b>...``); trained runs go to
            ``out/<model>/`` and a finished run there is reused (if trained the same way).
        runs: two or more run directories (or ``.keras`` files) to compare instead.
        seed: training seed, and the first seed of the draws.
        num_samples: draws decoded by each model.
        figures: write the PNGs (False: compare.json and a report without figures).
        overrides: recipe overrides for all (``"training.batch_size=64"``).
        overwrite: retrain a finished run in ``out`` that was trained otherwise (refused
            without it; one trained the same way is reused either way).
        log: a callable taking progress lines (e.g. ``print``), or None.
    """
    say = log or (lambda *_: None)
    labels, recipes, run_dirs, out = _labels_and_runs(
        None if names is None else list(names), runs, dataset, out, epochs, latent_dim,
        architecture, seed, overrides)
    os.makedirs(out, exist_ok=True)
    loaded = [(label, *_obtain(label, recipe, run_dir, say, verbose, command,
                                      overwrite))
              for label, recipe, run_dir in zip(labels, recipes, run_dirs)]
    name = dataset or loaded[0][4]["dataset"] or "mnist5k"
    info0 = loaded[0][4]
    options = dict(info0.get("data_options") or {}) if name == info0.get("dataset") else {}
    data = load_split(name, split, info0.get("data_dir") if name == info0.get("dataset")
                      else None, **options)
    for _, model, *_ in loaded:
        check_dataset(model, data)

    say(f"Comparing {', '.join(labels)} on {name}/{split} ({len(data)} examples) -> {out}/")
    stats_by_model, entries, files = {}, {}, {}
    for label, model, run_dir, how, info in loaded:
        keras.utils.set_random_seed(int(seed))
        fitted = _ensure_sampler(model, label, {**info, "dataset": info.get("dataset") or name},
                                 seed, say)
        stats, codes = _latent.latent_stats(model, data.x, labels=data.y if model.conditional
                                            else None, return_codes=True)
        stats_by_model[label] = stats
        entries[label], normal = _entry(label, model, run_dir, how, data, stats, codes, int(seed),
                                        int(num_samples))
        entries[label]["sampler_fitted_here"] = bool(fitted)
        kinds = _COMPARE_FIGURES + (("manifold",) if model.latent_dim == 2 else ())
        files[label], _ = make_figures(model, data, out, stats, seed=int(seed), suffix=f"_{label}",
                                       figures=kinds if figures else (), autoencoder_samples=True)
        if figures and normal is not None:
            path = os.path.join(out, f"normal_samples_{label}.png")
            viz.samples_grid(model, latent_samples=_normal_draws(model, int(num_samples), int(seed))[1],
                             title=f"{label}: decoded N(0, I) draws (without its sampler), seed {seed}",
                             path=path)
            files[label]["normal_samples"] = os.path.basename(path)
        e = entries[label]
        say(f"  {label}: codes in [{e['codes']['value_range'][0]:.2f}, "
            f"{e['codes']['value_range'][1]:.2f}], std {e['codes']['std']:.2f}; samples from "
            f"{e['samples']['source']} {e['samples']['nearest_test_mse']:.4f} MSE from the "
            "nearest test image")
    if figures:
        viz.latent_range_figure(stats_by_model, title=f"Code values on {name}/{split}: "
                                f"{', '.join(labels)} (same value axis)",
                                path=os.path.join(out, "latent_ranges.png"))
    result = {
        "models": entries,
        "order": labels,
        "dataset": {"name": name, "split": split, "options": options, "num_examples": len(data)},
        "seed": int(seed),
        "figures": {**({"latent_ranges": "latent_ranges.png"} if figures else {}), **{
            f"{fig}_{label}": file for label, written in files.items()
            for fig, file in written.items()}},
        "same_architecture": len({(e["architecture"], json.dumps(e["network_options"], sort_keys=True),
                                   e["latent_dim"]) for e in entries.values()}) == 1,
        "summary": summary_sentences(labels, entries),
        "run_figures": {label: {"out": run_dir, "figures": info["run_figures"]}
                        for label, _, run_dir, _, info in loaded if info.get("run_figures")},
    }
    result = to_jsonable(result)
    write_json(os.path.join(out, "compare.json"), result)
    write_text(os.path.join(out, "report.md"), report_markdown(result, files))
    result["out"] = out
    say(f"Wrote {out}/report.md, compare.json and {len(result['figures'])} figures")
    return result
