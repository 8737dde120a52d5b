"""Two models side by side: ``ae-zoo compare ae vae --dataset mnist5k``.

``compare_models("ae", "vae", "mnist5k")`` trains both with the same architecture and
latent size (the ``<model>_<dataset>`` recipes, the first one's architecture, network
options, latent_dim and epochs imposed on both), or reuses finished run directories
(``out/<model>/``, or ``runs=`` for any two runs), and writes into ``out``:

* ``report.md``: the side-by-side report with the figures;
* ``compare.json``: per model the code statistics on the test split (overall value
  range, 1st-99th percentiles, std of all values, per-dimension min/max/mean/std,
  share of values within +-3, active units, KL per dimension for a Gaussian posterior), the
  reconstruction MSE, and how far the decoded N(0, I) draws are from real images
  (per-pixel MSE to the nearest test image);
* ``latent_ranges.png`` (both models on one value axis) and per model
  ``samples_<m>.png`` (draws from each model's prior; N(0, I) for one without), ``interpolations_<m>.png``,
  ``traversals_<m>.png`` (a N(0, I) prior over +-3 prior sd; an autoencoder over its own
  1st-99th percentiles), ``latent_scatter_<m>.png`` and ``reconstructions_<m>.png``.

The classic observation it shows: a VAE's codes stay within a few units of zero (the
KL term pulls q(z|x) to N(0, I)), an autoencoder's spread over tens of units, so N(0, I)
draws decode to digits for the VAE and mostly to garbage for the autoencoder.
"""

import copy
import json
import os
import time

import keras
import numpy as np

from ae_zoo import models, nets, viz
from ae_zoo._io import read_json, refuse_to_replace, to_jsonable, write_json, write_text
from ae_zoo.evaluation import latent as _latent
from ae_zoo.experiments.common import check_dataset, load_evaluand, load_split, recipe_mismatch
from ae_zoo.experiments.figures import make_figures
from ae_zoo.experiments.train import recipe_for, run
from ae_zoo.export.card import load_run
from ae_zoo.models.vae import prior_draws
from ae_zoo.training import recipes as recipe_lib

_COMPARE_FIGURES = ("reconstructions", "samples", "interpolations", "traversals",
                    "latent_scatter")
_MATCHED_KEYS = ("name", "latent_dim", "architecture")


def _network_options(options):
    return {k: v for k, v in (options or {}).items() if k in nets.NETWORK_OPTIONS}


def matched_recipes(model_a, model_b, dataset="mnist5k", *, epochs=None, latent_dim=None,
                    architecture=None, out=None, seed=0, overrides=()):
    """The two validated recipes, trained with the same networks, latent size and epochs.

    Starts from the shipped ``<model>_<dataset>`` recipes (a minimal recipe where there is
    none); the first model's architecture and network options (``hidden_units``,
    ``filters``, ...), latent_dim and epochs go to both unless given. ``out``: the two
    runs go to ``out/<model>/``. ``overrides``: ``"key=value"`` strings or ``(path,
    value)`` pairs applied to both recipes.
    """
    raws = [copy.deepcopy(recipe_for(name, dataset)) for name in (model_a, model_b)]
    for name, raw in zip((model_a, model_b), raws):
        models.get(name)  # a clear error for an unknown name
        raw.setdefault("model", {})["name"] = name
        raw.setdefault("data", {})["name"] = dataset
    ref = raws[0]["model"]
    ref_arch = ref.get("architecture") or models.get(model_a).default_architecture
    arch = architecture or ref_arch
    net = _network_options(ref.get("options")) if arch == ref_arch else {}
    latent = latent_dim or ref.get("latent_dim") or raws[1]["model"].get("latent_dim") or 16
    train_epochs = epochs or (raws[0].get("training") or {}).get("epochs")
    result = []
    for name, raw in zip((model_a, model_b), raws):
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


def _prior_samples(model, num, seed):
    """A generative model's own draws; a model without a prior decodes the same N(0, I)
    draws z_i (seed + i) a VAE would."""
    if model.generative:
        return np.asarray(model.sample(num, seed=seed))
    z = prior_draws(np.arange(num, dtype=np.int64) + seed, model.latent_dim).numpy()
    labels = np.arange(num) % model.num_classes if model.conditional else None
    return _latent.decode_codes(model, z, labels)


def describe(capabilities):
    """A model's declared capabilities in a few words, for the report."""
    words = ["conditional"] if capabilities.get("conditional") else []
    words.append("generative" if capabilities.get("generative") else "no prior")
    if capabilities.get("posterior_type"):
        words.append(f"{capabilities['posterior_type']} posterior")
    if capabilities.get("prior_type"):
        words.append(f"{capabilities['prior_type'].replace('_', ' ')} prior")
    return ", ".join(words)


def _run_label(run):
    """The registered model name recorded in a run's run.json, or None."""
    folder = run if os.path.isdir(run) else os.path.dirname(run)
    info = read_json(os.path.join(folder, "run.json")) or {}
    return info.get("registry_name") or ((info.get("recipe") or {}).get("model") or {}).get("name")


def _obtain(label, recipe, run_dir, log, verbose, command, overwrite=False):
    """``(model, run_dir, how, data info)``: load a finished run or train the recipe (a
    finished run trained otherwise is refused, or with ``overwrite`` retrained)."""
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
    result = run(recipe, verbose=verbose, command=command, overwrite=bool(problem))
    log(f"{label}: trained in {time.time() - start:.0f} s")
    return result["model"], run_dir, "trained", info


def compare_models(model_a="ae", model_b="vae", dataset=None, *, epochs=None, latent_dim=None,
                   architecture=None, out=None, runs=None, seed=0, split="test", num_samples=64,
                   overrides=(), figures=True, verbose=0, log=None, command=None, overwrite=False):
    """Trains (or loads) two models and writes the side-by-side report; returns compare.json.

    Args:
        model_a, model_b: registered model names (any two; with ``runs`` only labels).
        dataset: dataset name (default mnist5k, or with ``runs`` the first run's).
        epochs, latent_dim, architecture: imposed on both (default: the first recipe's).
        out: report folder (default ``runs/compare_<a>_<b>``); trained runs go to
            ``out/<model>/`` and a finished run there is reused (if trained the same way).
        runs: two run directories (or ``.keras`` files) to compare instead of training.
        seed: training seed, and the first seed of the N(0, I) draws.
        num_samples: draws from N(0, I) decoded by each model.
        figures: write the PNGs (False: compare.json and a report without figures).
        overrides: recipe overrides for both (``"training.batch_size=64"``).
        overwrite: retrain a finished run in ``out`` that was trained otherwise (refused
            without it; one trained the same way is reused either way).
        log: a callable taking progress lines (e.g. ``print``), or None.
    """
    say = log or (lambda *_: None)
    if runs is not None:
        runs = [os.fspath(r) for r in runs]
        if len(runs) != 2:
            raise ValueError(f"--runs takes two run directories, got {len(runs)}")
        for r in runs:
            if not (os.path.isfile(os.path.join(r, "model.keras")) or
                    (r.endswith(".keras") and os.path.isfile(r))):
                raise FileNotFoundError(f"{r} is not a finished run (no model.keras)")
        if model_a is None or model_b is None:  # label them by their registered names
            model_a, model_b = (_run_label(r) or f"run{i}" for i, r in enumerate(runs, 1))
    elif model_a is None or model_b is None:
        raise ValueError("name two models (e.g. ae and vae), or give two runs")
    names = [str(model_a), str(model_b)]
    out = os.fspath(out) if out else os.path.join("runs", f"compare_{names[0]}_{names[1]}")
    if runs is not None:
        if names[0] == names[1]:
            names = [f"{names[0]}_a", f"{names[1]}_b"]
        recipes = [None, None]
        run_dirs = runs
    else:
        if names[0] == names[1]:
            raise ValueError(f"compare two different models (got {names[0]!r} twice), or pass "
                             "--runs RUN_A RUN_B")
        recipes = matched_recipes(names[0], names[1], dataset or "mnist5k", epochs=epochs,
                                  latent_dim=latent_dim, architecture=architecture, out=out,
                                  seed=seed, overrides=overrides)
        run_dirs = [r["out"] for r in recipes]
    os.makedirs(out, exist_ok=True)

    loaded = []
    for label, recipe, run_dir in zip(names, recipes, run_dirs):
        loaded.append((label, *_obtain(label, recipe, run_dir, say, verbose, command, overwrite)))

    name = dataset or loaded[0][4]["dataset"] or "mnist5k"
    info0 = loaded[0][4]
    options = dict(info0.get("data_options") or {}) if name == info0.get("dataset") else {}
    data = load_split(name, split, info0.get("data_dir") if name == info0.get("dataset")
                      else None, **options)
    for label, model, *_ in loaded:
        check_dataset(model, data)

    say(f"Comparing {names[0]} and {names[1]} on {name}/{split} ({len(data)} examples) -> {out}/")
    stats_by_model, entries, files = {}, {}, {}
    for label, model, run_dir, how, _ in loaded:
        keras.utils.set_random_seed(int(seed))
        labels = data.y if model.conditional else None
        stats, codes = _latent.latent_stats(model, data.x, labels=labels, return_codes=True)
        stats_by_model[label] = stats
        recon = model.reconstruct(data.x, labels=labels, batch_size=256)
        draws = _prior_samples(model, int(num_samples), int(seed))
        run_info = read_json(os.path.join(run_dir, "run.json")) or {}  # None for a .keras file
        metrics = read_json(os.path.join(run_dir, "metrics.json")) or {}
        recipe = run_info.get("recipe") or {}
        entries[label] = {
            "model": getattr(model, "registry_name", None) or type(model).__name__,
            "capabilities": model.capabilities(),
            "run_dir": run_dir,
            "obtained": how,
            "architecture": getattr(model, "architecture", None),
            "network_options": _network_options(getattr(model, "network_options", None)),
            "latent_dim": int(model.latent_dim),
            "epochs": run_info.get("epochs"),
            "steps": metrics.get("steps"),
            "reconstruction_mse": float(np.mean((recon.astype(np.float64) - data.x) ** 2)),
            "codes": code_statistics(codes, stats),
            "prior_samples": {
                "seed": int(seed), "num": int(num_samples),
                "nearest_test_mse": float(np.mean(_nearest_mse(draws, data.x))),
            },
            "model_options": {k: v for k, v in ((recipe.get("model") or {}).get("options") or {}).items()
                              if k not in _network_options(recipe["model"]["options"])},
        }
        kinds = _COMPARE_FIGURES + (("manifold",) if model.latent_dim == 2 else ())
        files[label], _ = make_figures(
            model, data, out, stats, seed=int(seed), suffix=f"_{label}",
            figures=kinds if figures else (), autoencoder_samples=True)
        say(f"  {label}: codes in [{entries[label]['codes']['value_range'][0]:.2f}, "
            f"{entries[label]['codes']['value_range'][1]:.2f}], std {entries[label]['codes']['std']:.2f}; "
            f"N(0, I) draws {entries[label]['prior_samples']['nearest_test_mse']:.4f} MSE from the "
            "nearest test image")
    if figures:
        viz.latent_range_figure(stats_by_model, title=f"Code values on {name}/{split}: "
                                f"{names[0]} vs {names[1]} (same value axis)",
                                path=os.path.join(out, "latent_ranges.png"))
    result = {
        "models": entries,
        "order": names,
        "dataset": {"name": name, "split": split, "options": options, "num_examples": len(data)},
        "seed": int(seed),
        "figures": {**({"latent_ranges": "latent_ranges.png"} if figures else {}), **{
            f"{fig}_{label}": file for label, written in files.items()
            for fig, file in written.items()}},
        "same_architecture": len({(e["architecture"], json.dumps(e["network_options"], sort_keys=True),
                                   e["latent_dim"]) for e in entries.values()}) == 1,
        "summary": summary_sentences(names, entries),
    }
    result = to_jsonable(result)
    write_json(os.path.join(out, "compare.json"), result)
    write_text(os.path.join(out, "report.md"), report_markdown(result, files))
    result["out"] = out
    say(f"Wrote {out}/report.md, compare.json and the figures")
    return result


def summary_sentences(names, entries):
    """The report's findings, from the numbers."""
    a, b = (entries[n]["codes"] for n in names)
    wide, narrow = (names[0], names[1]) if (a["value_range"][1] - a["value_range"][0]) >= (
        b["value_range"][1] - b["value_range"][0]) else (names[1], names[0])
    w, n = entries[wide]["codes"], entries[narrow]["codes"]
    lines = [
        f"{narrow}'s codes lie in [{n['value_range'][0]:.2f}, {n['value_range'][1]:.2f}] "
        f"(std {n['std']:.2f}, {n['within_3']:.1%} of values within +-3), {wide}'s in "
        f"[{w['value_range'][0]:.2f}, {w['value_range'][1]:.2f}] (std {w['std']:.2f}, "
        f"{w['within_3']:.0%} within +-3).",
    ]
    da, db = (entries[x]["prior_samples"]["nearest_test_mse"] for x in names)
    better, worse = (names[0], names[1]) if da <= db else (names[1], names[0])
    lines.append(
        f"Decoded N(0, I) draws are closer to real test images for {better} "
        f"(mean per-pixel MSE to the nearest test image "
        f"{entries[better]['prior_samples']['nearest_test_mse']:.4f} vs "
        f"{entries[worse]['prior_samples']['nearest_test_mse']:.4f} for {worse}).")
    return lines


def _fmt_range(r):
    return f"[{r[0]:.2f}, {r[1]:.2f}]"


def report_markdown(result, figures):
    names = result["order"]
    entries = result["models"]
    data = result["dataset"]
    lines = [f"# {names[0]} vs {names[1]} on {data['name']}", ""]
    setup = []
    for n in names:
        e = entries[n]
        net = ", ".join(f"{k} {v}" for k, v in e["network_options"].items()) or "default widths"
        trained = {"trained": "trained here", "reused": "reused run", "loaded": "given run"}[e["obtained"]]
        kind = describe(e["capabilities"])
        what = kind if e["model"] == n else f"`{e['model']}`, {kind}"
        setup.append(f"- **{n}** ({what}): {e['architecture']} networks "
                     f"({net}), latent_dim {e['latent_dim']}, {e['epochs']} epochs"
                     f"{'' if e['steps'] is None else ' / ' + str(e['steps']) + ' steps'}; "
                     f"{trained}: `{e['run_dir']}`")
    lines += setup
    if not result["same_architecture"]:
        lines += ["", "**Note:** the two models do not share the same networks and latent size."]
    lines += ["", f"Codes are the encoder outputs (the posterior mean for a Gaussian posterior) of the "
                  f"{data['num_examples']} {data['split']} images.", "", "## Findings", ""]
    lines += [f"- {s}" for s in result["summary"]]
    lines += ["", "## Latent value ranges", "",
              "| model | code range | 1st-99th percentile | std (all values) | mean per-dim std | "
              "within +-3 | active units | test MSE | N(0, I) draws: MSE to nearest test image |",
              "|---|---|---|---|---|---|---|---|---|"]
    for n in names:
        e, c = entries[n], entries[n]["codes"]
        lines.append(f"| {n} | {_fmt_range(c['value_range'])} | {_fmt_range(c['percentile_range'])} | "
                     f"{c['std']:.3f} | {c['mean_dim_std']:.3f} | {c['within_3']:.1%} | "
                     f"{c['active_units']}/{e['latent_dim']} | {e['reconstruction_mse']:.4f} | "
                     f"{e['prior_samples']['nearest_test_mse']:.4f} |")
    if "latent_ranges" in result["figures"]:
        lines += ["", "![latent ranges](latent_ranges.png)", "",
                  "Box: 25-75th percentile per dimension; whiskers 1st-99th; crosses min/max; "
                  "shaded: the prior's +-2 sd."]
    lines.append("")

    def side_by_side(title, fig, text):
        present = [n for n in names if fig in figures.get(n, {})]
        if not present:
            return []
        block = [f"## {title}", "", text, "", "| " + " | ".join(present) + " |",
                 "|" + "---|" * len(present),
                 "| " + " | ".join(f"![{fig} {n}]({figures[n][fig]})" for n in present) + " |", ""]
        return block

    lines += side_by_side(
        "Decoded draws from the prior", "samples",
        f"{entries[names[0]]['prior_samples']['num']} draws (seeds {result['seed']}...) decoded "
        "by each model: a generative model's from its prior, a model without one decodes the "
        "draws z ~ N(0, I) a VAE would. A VAE is trained so that N(0, I) covers its codes; an "
        "autoencoder has no prior, and where its codes do not live it decodes garbage.")
    lines += side_by_side("Interpolations", "interpolations",
                          "Linear paths between the codes of pairs of test images.")
    lines += side_by_side("Traversals", "traversals",
                          "One image's code with one dimension varied at a time (rows): a model "
                          "with the prior N(0, I) over +-3 prior standard deviations, others over "
                          "codes' 1st-99th percentiles.")
    lines += side_by_side("Latent scatter", "latent_scatter",
                          "The codes of the test images (PCA when latent_dim > 2), coloured by "
                          "label.")
    lines += side_by_side("2-D manifold", "manifold", "Decoded grid over the two latent dimensions.")
    lines += side_by_side("Reconstructions", "reconstructions", "Test images (top) and their "
                          "reconstructions.")
    lines += ["Numbers: `compare.json`.", ""]
    return "\n".join(lines)
