"""A small-scale reproduction of Locatello et al. (2019)'s question: do random seeds
matter more than the model? (``ae-zoo study``)

``run_study(models, seeds, "dsprites")`` trains every (model, seed) pair from the shipped
``<model>_<dataset>`` recipes (seed and steps overridden; capacity-annealing schedules
scaled to the steps), each into ``out/<model>_seed<k>/`` through the recipe runner,
scores each with every disentanglement metric (``disentanglement.json`` in the run
directory), and writes into ``out``:

* ``results.csv``: one row per run (model, seed, steps, times, every metric score);
* ``results.md``: the runs, the per-model summary (mean +- std over seeds), the share of
  each headline metric's variance explained by the model and by the seed, the conclusion,
  the settings and the plots;
* ``study.json``: the same numbers and the settings, for programs;
* ``box_<metric>.png`` per headline metric (a box per model, the seeds as points) and
  ``boxplots.png`` with all of them.

Variance shares: a one-way ANOVA over the runs with the model as the factor. With
y_ms the score of model m and seed s, SS_total = sum (y_ms - mean)^2, SS_model =
sum_m n_m (mean_m - mean)^2 and SS_seed = SS_total - SS_model (the variation between
seeds of one model); the shares are SS_model / SS_total (eta^2) and SS_seed / SS_total.

Resumable: a pair whose run directory holds ``model.keras`` and a ``disentanglement.json``
with the same metric settings is skipped; a trained run without it is only scored, and an
interrupted training resumes from its last epoch (the runner's ``BackupAndRestore``).

Budget (measured on a 2-core CPU, no GPU; see README): every model trains
``DEFAULT_STEPS`` = 1,000 steps (about 75 s) and is scored with
:data:`STUDY_METRIC_SETTINGS` (about 25 s; ``full_metrics=True``: Locatello et al.'s
settings, about 6 minutes); the default 7 models x 3 seeds took 40 minutes.
"""

import csv
import gc
import io
import json
import math
import os
import time

import keras
import numpy as np
import yaml
from matplotlib.figure import Figure
from scipy.stats import f as f_dist

from ae_zoo._io import refuse_to_replace, to_jsonable, write_json, write_text
from ae_zoo.evaluation import scoring
from ae_zoo.experiments.common import (
    fmt_time,
    load_split,
    parse_list,
    read_json_lenient,
    recipe_mismatch,
    summarize,
)
from ae_zoo.experiments.train import run
from ae_zoo.export.card import load_run
from ae_zoo.training import recipes as recipe_lib
from ae_zoo.viz import save_figure

DEFAULT_MODELS = ("vae", "beta_vae", "annealed_vae", "beta_tcvae", "factor_vae", "dip_vae_i",
                  "dip_vae_ii")
DEFAULT_SEEDS = (0, 1, 2)
#: Training steps per run: 21 runs + their metrics in < 1 hour on 2 CPU cores.
DEFAULT_STEPS = 1000
#: Reduced metric settings of the study (``compute_all`` overrides).
STUDY_METRIC_SETTINGS = scoring.FAST_METRIC_SETTINGS
#: The metrics' random state: the same for every run, so runs differ only by training.
METRIC_SEED = 0
#: Steps per epoch at most (an epoch must fit in one pass over the training split).
MAX_STEPS_PER_EPOCH = 250
RESULTS_FILE = "disentanglement.json"
HEADLINE_LABELS = scoring.HEADLINE_LABELS
#: Left out of the verdict: not a disentanglement score, and several objectives (beta-TCVAE,
#: FactorVAE, DIP-VAE) minimize it directly, so the model decides it by construction.
NOT_IN_CONCLUSION = ("unsupervised_scores.gaussian_total_correlation",)


def steps_per_epoch(steps):
    """Steps per epoch so that whole epochs make exactly ``steps`` when possible: the
    fewest epochs of at most :data:`MAX_STEPS_PER_EPOCH` steps."""
    epochs = math.ceil(steps / MAX_STEPS_PER_EPOCH)
    return math.ceil(steps / epochs)


def study_recipe(model, seed, dataset="dsprites", steps=DEFAULT_STEPS, out="runs/study",
                 iwae_samples=0, overrides=()):
    """The validated recipe of one run: ``recipes/<model>_<dataset>.yaml`` with the seed,
    ``steps`` (and an AnnealedVAE's ``anneal_steps``, when the recipe anneals over its whole
    run, scaled to match), no export, ``iwae_samples``, out ``out/<model>_seed<k>``."""
    path = recipe_lib.find(f"{model}_{dataset}")
    if path is None:
        have = sorted(n[:-len(dataset) - 1] for n in recipe_lib.names() if n.endswith(f"_{dataset}"))
        raise ValueError(f"no recipe recipes/{model}_{dataset}.yaml; models with a {dataset} recipe: "
                         f"{', '.join(have) or 'none'}")
    with open(path, encoding="utf-8") as f:
        raw = yaml.safe_load(f) or {}
    given = [(["training", "seed"], int(seed)), (["export"], None),
             (["training", "iwae_samples"], int(iwae_samples)),
             (["out"], os.path.join(out, f"{model}_seed{seed}"))]
    if steps is not None:
        old_steps = (raw.get("training") or {}).get("steps")
        given += [(["training", "steps"], int(steps)),
                  (["training", "steps_per_epoch"], steps_per_epoch(int(steps)))]
        options = (raw.get("model") or {}).get("options") or {}
        if old_steps and options.get("anneal_steps") == old_steps:
            given.append((["model", "options", "anneal_steps"], int(steps)))
    recipe = recipe_lib.apply_overrides(raw, given + list(overrides))
    try:
        return recipe_lib.validate(recipe)
    except recipe_lib.RecipeError as err:
        raise recipe_lib.RecipeError(f"{path}: {err}") from None


def _status(recipe, settings_json, overwrite=False):
    """"done", "trained" (model.keras without matching scores), "todo" or "replace" (a
    finished run trained differently, with ``overwrite``; refused without it)."""
    run_dir = recipe["out"]
    if not os.path.isfile(os.path.join(run_dir, "model.keras")):
        return "todo"
    run_info = read_json_lenient(os.path.join(run_dir, "run.json")) or {}
    old = run_info.get("recipe") or {}
    mismatch = recipe_mismatch(old, recipe, (("model", "name"), ("data", "name"),
                                             ("training", "steps"), ("training", "seed")))
    if mismatch:
        refuse_to_replace(run_dir, f"a finished run trained with {mismatch}", overwrite)
        return "replace"
    scores = read_json_lenient(os.path.join(run_dir, RESULTS_FILE))
    if scores and json.dumps(scores.get("settings"), sort_keys=True) == settings_json:
        return "done"
    return "trained"


def variance_shares(values, groups):
    """One-way ANOVA of ``values`` by ``groups`` (the model of each run).

    Returns ``{"model_share", "seed_share", "ss_model", "ss_seed", "ss_total", "f", "p"}``:
    model_share = SS_between / SS_total, seed_share = SS_within / SS_total (None when
    SS_total is 0); F and p of the one-way ANOVA (None without replicates).
    """
    values = np.asarray(values, dtype=np.float64)
    groups = np.asarray(groups)
    keep = np.isfinite(values)
    values, groups = values[keep], groups[keep]
    grand = values.mean() if len(values) else float("nan")
    ss_total = float(np.sum((values - grand) ** 2))
    labels = list(dict.fromkeys(groups.tolist()))
    ss_model = float(sum(np.sum(groups == g) * (values[groups == g].mean() - grand) ** 2
                         for g in labels))
    ss_seed = max(ss_total - ss_model, 0.0)
    k, n = len(labels), len(values)
    out = {"ss_model": ss_model, "ss_seed": ss_seed, "ss_total": ss_total,
           "model_share": None, "seed_share": None, "f": None, "p": None,
           "num_models": k, "num_runs": n}
    if ss_total > 0:
        out["model_share"] = ss_model / ss_total
        out["seed_share"] = ss_seed / ss_total
    if k > 1 and n > k and ss_seed > 0:
        f_value = (ss_model / (k - 1)) / (ss_seed / (n - k))
        out["f"] = float(f_value)
        out["p"] = float(f_dist.sf(f_value, k - 1, n - k))
    return out


def conclusion(shares):
    """A short verdict from the per-metric variance shares of the disentanglement scores
    (the unsupervised total correlation, which some objectives minimize, is left out)."""
    judged = {m: s for m, s in shares.items()
              if s["model_share"] is not None and m not in NOT_IN_CONCLUSION}
    if not judged:
        return "No conclusion: the scores do not vary (or there is a single run)."
    label = lambda m: HEADLINE_LABELS.get(m, m)  # noqa: E731
    seeds_win = [m for m, s in judged.items() if s["seed_share"] > s["model_share"]]
    even = [m for m, s in judged.items() if m not in seeds_win and s["model_share"] <= 0.6]
    mean_model = float(np.mean([s["model_share"] for s in judged.values()]))
    if len(seeds_win) * 2 > len(judged):
        verdict = "random seeds matter more than the model"
    elif len(seeds_win) * 2 == len(judged):
        verdict = "seeds matter as much as the model"
    elif seeds_win or even:
        verdict = "the model matters more than the seed on most metrics, but not on all"
    else:
        verdict = "the model matters more than the random seed"
    text = (f"Over {len(judged)} disentanglement metrics the model explains {mean_model:.0%} of "
            f"the variance on average and the seed (runs of one model) {1 - mean_model:.0%}; ")
    if seeds_win:
        text += f"the seed explains more on {len(seeds_win)} ({', '.join(map(label, seeds_win))})"
    else:
        text += "the seed explains more on none"
    if even:
        text += f", and {', '.join(map(label, even))} {'is' if len(even) == 1 else 'are'} close " \
                "(model share at most 60%)"
    return (text + f". At this budget, {verdict}; with few seeds per model the shares are rough "
            "(see F and p).")


def box_figure(rows, models, seeds, column, label=None, share=None, ax=None, path=None,
               legend=True):
    """A box per model of ``column`` with each seed's run as a point (matplotlib Figure)."""
    fig = None
    if ax is None:
        fig = Figure(figsize=(max(4.5, 0.9 * len(models) + 1.5), 3.8), layout="constrained")
        ax = fig.subplots()
    data = [[r[column] for r in rows if r["model"] == m and r.get(column) is not None]
            for m in models]
    ax.boxplot(data, positions=np.arange(1, len(models) + 1), widths=0.55, showfliers=False,
               patch_artist=True, boxprops={"facecolor": "#dbe9f6", "edgecolor": "#4a74a8"},
               medianprops={"color": "#08519c"})
    markers = "osD^vP*X"
    colors = ("#d94801", "#238b45", "#6a51a3", "#cb181d", "#2171b5", "#525252")
    offsets = np.linspace(-0.16, 0.16, max(len(seeds), 1)) if len(seeds) > 1 else [0.0]
    for j, seed in enumerate(seeds):
        xs, ys = [], []
        for i, m in enumerate(models):
            for r in rows:
                if r["model"] == m and r["seed"] == seed and r.get(column) is not None:
                    xs.append(i + 1 + offsets[j])
                    ys.append(r[column])
        ax.scatter(xs, ys, marker=markers[j % len(markers)], color=colors[j % len(colors)],
                   s=22, zorder=3, label=f"seed {seed}")
    ax.set_xticks(np.arange(1, len(models) + 1), models, rotation=30, ha="right", fontsize=8)
    title = label or column
    if share is not None and share.get("model_share") is not None:
        title += f"\nmodel {share['model_share']:.0%} / seed {share['seed_share']:.0%} of variance"
    ax.set_title(title, fontsize=9)
    ax.grid(axis="y", linewidth=0.4, alpha=0.5)
    if legend:
        ax.legend(fontsize=7, loc="best", framealpha=0.8)
    if fig is not None and path is not None:
        save_figure(fig, path)
    return fig


def overview_figure(rows, models, seeds, columns, shares, path=None):
    ncols = min(3, len(columns))
    nrows = math.ceil(len(columns) / ncols)
    fig = Figure(figsize=(ncols * max(4.0, 0.7 * len(models) + 1.5), nrows * 3.6),
                 layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for i, (ax, col) in enumerate(zip(axes, columns)):
        box_figure(rows, models, seeds, col, HEADLINE_LABELS.get(col, col), shares.get(col), ax=ax,
                   legend=i == 0)
    for ax in axes[len(columns):]:
        ax.set_visible(False)
    if path is not None:
        save_figure(fig, path)
    return fig


def _slug(column):
    """File-name part of a headline column: beta_vae, factor_vae, mig, dci, sap, modularity, ..."""
    metric, score = column.split(".", 1)
    if metric in ("beta_vae_score", "factor_vae_score"):
        return metric[:-len("_score")]
    if metric == "unsupervised_scores" or score.startswith(metric):
        return score
    return metric


def _fmt(value, digits=3):
    return "n/a" if value is None else f"{value:.{digits}f}"


def results_markdown(study):
    s = study["settings"]
    models, cols = s["models"], study["headline_columns"]
    lines = [f"# Disentanglement study: {len(models)} models x {len(s['seeds'])} seeds on "
             f"{s['dataset']}", "",
             f"Each run trains the `recipes/<model>_{s['dataset']}.yaml` setup for {s['steps']} "
             f"steps (Locatello et al. train 300,000) with seeds {', '.join(map(str, s['seeds']))}, "
             f"then scores the encoder mean with every metric, {s['metric_preset']} settings "
             f"(metric random state {s['metric_seed']} for every run; settings below). "
             "A small-scale look at Locatello et al. (2019)'s question: do random seeds matter "
             "more than the model?", "",
             f"**Conclusion.** {study['conclusion']}", ""]
    heads = [HEADLINE_LABELS.get(c, c) for c in cols]
    lines += ["## Per model (mean +- std over seeds)", "",
              "| model | runs | " + " | ".join(heads) + " |", "|---|---|" + "---|" * len(cols)]
    for m in models:
        cells = []
        for c in cols:
            v = study["summary"][m][c]
            cells.append("n/a" if v["mean"] is None else
                         f"{v['mean']:.3f} +- {_fmt(v['std'])}")
        lines.append(f"| {m} | {study['summary'][m][cols[0]]['n'] if cols else 0} | "
                     + " | ".join(cells) + " |")
    lines += ["", "## Model vs. seed: share of each metric's variance (one-way ANOVA)", "",
              "| metric | model (between models) | seed (within a model) | F | p |",
              "|---|---|---|---|---|"]
    for c in cols:
        v = study["variance_shares"][c]
        lines.append(f"| {HEADLINE_LABELS.get(c, c)} | {_fmt(v['model_share'], 2)} | "
                     f"{_fmt(v['seed_share'], 2)} | {_fmt(v['f'], 2)} | {_fmt(v['p'], 3)} |")
    lines += ["", "SS_model = sum_m n_m (mean_m - mean)^2, SS_seed = SS_total - SS_model; shares "
                  "of SS_total. The conclusion leaves out the Gaussian total correlation: it is "
                  "not a disentanglement score, and beta-TCVAE, FactorVAE and DIP-VAE minimize it "
                  "(or the covariance behind it) directly.", "", "![all metrics](boxplots.png)", ""]
    lines += ["## Per run", "", "| model | seed | steps | train s | ms/step | metrics s | "
              + " | ".join(heads) + " |", "|---|---|---|---|---|---|" + "---|" * len(cols)]
    for r in study["rows"]:
        lines.append(f"| {r['model']} | {r['seed']} | {r['steps']} | {_fmt(r['train_seconds'], 0)} | "
                     f"{_fmt(r['ms_per_step'], 0)} | {_fmt(r['eval_seconds'], 0)} | "
                     + " | ".join(_fmt(r.get(c)) for c in cols) + " |")
    lines += ["", "Every score of every run: `results.csv`; everything: `study.json`.", "",
              "## Plots", ""]
    lines += [f"![{HEADLINE_LABELS.get(c, c)}](box_{_slug(c)}.png)" for c in cols]
    lines += ["", "## Metric settings", "", "| metric | settings |", "|---|---|"]
    for metric, values in study["metric_settings"].items():
        text = ", ".join(f"{k}={v}" for k, v in values.items())
        lines.append(f"| {metric} | {text} |")
    lines.append("")
    return "\n".join(lines)


def run_study(models=DEFAULT_MODELS, seeds=DEFAULT_SEEDS, dataset="dsprites", steps=DEFAULT_STEPS,
              out="runs/study", full_metrics=False, metric_settings=None, metrics=None,
              iwae_samples=0, overrides=(), verbose=0, log=print, command=None, overwrite=False):
    """Trains and scores every (model, seed) pair; writes the tables and plots into ``out``.

    Args:
        models, seeds: lists (or comma-separated strings) of registered model names with a
            ``<model>_<dataset>`` recipe, and of training seeds.
        steps: training steps per run (None: the recipes' own 20,000).
        full_metrics: Locatello et al.'s metric settings instead of
            :data:`STUDY_METRIC_SETTINGS`; ``metric_settings``: further ``compute_all``
            overrides on top.
        metrics: metric names (default all; see :func:`ae_zoo.evaluation.resolve_metrics`).
        iwae_samples: the runner's -log p(x) importance samples (0: metrics only).
        overrides: recipe overrides for every run (``"data.options.num_samples=2000"``).
        verbose: the runner's Keras verbosity (0 silent, 2 one line per epoch).
        log: progress lines go here (None: silent).
        overwrite: retrain the finished runs in ``out`` that were trained otherwise (refused
            without it; runs trained the same way are reused either way).

    Returns the study dict (also ``study.json``).
    """
    say = log or (lambda *_: None)
    models = parse_list(models, str, "models")
    seeds = parse_list(seeds, int, "seeds")
    if any(s < 0 for s in seeds):
        raise ValueError(f"seeds must be >= 0, got {seeds}")
    if steps is not None and (isinstance(steps, bool) or int(steps) < 1):
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    names, preset, settings, effective = _metric_plan(metrics, full_metrics, metric_settings)
    settings_json = json.dumps(to_jsonable(effective), sort_keys=True)
    out = os.fspath(out)

    # Every recipe is built and every finished run checked before anything is trained.
    pairs = [(m, s) for s in seeds for m in models]  # seed-major: all models early
    recipes = {p: study_recipe(p[0], p[1], dataset, steps, out, iwae_samples, overrides)
               for p in pairs}
    status = {p: _status(recipes[p], settings_json, overwrite) for p in pairs}
    first = recipes[pairs[0]]
    ground_truth = load_split(dataset, first["data"]["test_split"], first["data"]["data_dir"],
                              **first["data"]["options"]).ground_truth
    if ground_truth is None:
        raise ValueError(f"dataset {dataset!r} has no ground-truth factors: the study needs one "
                         "with factors (dsprites, shapes3d)")
    os.makedirs(out, exist_ok=True)
    todo = [p for p in pairs if status[p] != "done"]
    say(f"Study: {len(models)} models x {len(seeds)} seeds on {dataset}, "
        f"{first['training']['steps']} steps each, {preset} metric settings -> {out}/")
    say(f"  {len(pairs) - len(todo)} of {len(pairs)} runs already finished; "
        f"{sum(status[p] in ('todo', 'replace') for p in todo)} to train, {len(todo)} to score")
    progress = _Progress(pairs, status, say)
    for index, pair in enumerate(pairs, 1):
        tag = f"[{index}/{len(pairs)}] {pair[0]} seed {pair[1]}"
        if status[pair] == "done":
            say(f"{tag}: finished earlier, skipped")
            continue
        trained, scored = _train_and_score(pair, recipes[pair], status[pair], ground_truth,
                                           (names, settings, effective, preset), tag, say,
                                           verbose, command)
        progress.report(index, tag, trained, scored)
    return write_results(out, models, seeds, dataset, recipes, effective, preset, names,
                         command=command, log=say)


def _metric_plan(metrics, full_metrics, metric_settings):
    """``(names, preset, settings, effective)``: the metrics, their preset's name, the
    ``compute_all`` overrides and the effective settings of each metric (checked)."""
    names = scoring.resolve_metrics(metrics)
    if not names:
        raise ValueError("the study needs at least one metric")
    preset = "full" if full_metrics else "study"
    base = scoring.FULL_METRIC_SETTINGS if full_metrics else STUDY_METRIC_SETTINGS
    settings = scoring.merge_settings(base, metric_settings)
    scoring.check_settings(settings)
    return names, preset, settings, scoring.metric_settings(names, settings)


def _train_and_score(pair, recipe, status, ground_truth, plan, tag, say, verbose, command):
    """Trains the run (unless it is trained) and scores it into its ``disentanglement.json``;
    returns ``(training seconds or None, the scored dict)``."""
    names, settings, effective, preset = plan
    run_dir = recipe["out"]
    trained = None
    metrics_info = read_json_lenient(os.path.join(run_dir, "metrics.json")) or {}
    if status in ("todo", "replace"):
        resuming = os.path.isdir(os.path.join(run_dir, "backup"))
        say(f"{tag}: training {recipe['training']['steps']} steps"
            f"{' (resuming)' if resuming else ''} ...")
        start = time.time()
        result = run(recipe, verbose=verbose, command=command, overwrite=status == "replace")
        trained = time.time() - start
        model, metrics_info = result["model"], result["metrics"]
    else:
        model = load_run(run_dir)[0]
    start = time.time()
    scored = scoring.compute_disentanglement(model, ground_truth, names, settings,
                                             random_state=METRIC_SEED)
    scored["eval_seconds"] = time.time() - start
    scored["train_seconds"], scored["steps"] = metrics_info.get("train_seconds"), metrics_info.get("steps")
    write_json(os.path.join(run_dir, RESULTS_FILE), to_jsonable({
        "model": pair[0], "seed": pair[1], "dataset": recipe["data"]["name"],
        "steps": scored["steps"] or recipe["training"]["steps"],
        "train_seconds": scored["train_seconds"], "eval_seconds": scored["eval_seconds"],
        "metric_seconds": scored["seconds"], "scores": scored["scores"], "settings": effective,
        "metric_preset": preset, "random_state": METRIC_SEED,
    }))
    del model
    keras.backend.clear_session()
    gc.collect()
    return trained, scored


class _Progress:
    """One line per finished run: its times, its MIG, the elapsed time and an estimate of
    the time left from this session's trainings and scorings."""

    def __init__(self, pairs, status, say):
        self.pairs, self.status, self.say = pairs, status, say
        self.train_times, self.eval_times, self.started = [], [], time.time()

    def report(self, index, tag, trained, scored):
        if trained is not None:
            self.train_times.append(trained)
        self.eval_times.append(scored["eval_seconds"])
        left_train = sum(1 for p in self.pairs[index:] if self.status[p] in ("todo", "replace"))
        left_eval = sum(1 for p in self.pairs[index:] if self.status[p] != "done")
        mean_train = np.mean(self.train_times) if self.train_times else None
        eta = None
        if left_train == 0 or mean_train is not None:
            eta = left_train * (mean_train or 0.0) + left_eval * float(np.mean(self.eval_times))
        seconds, steps = scored["train_seconds"], scored["steps"]
        per_step = f" ({1000 * seconds / steps:.0f} ms/step)" if seconds and steps else ""
        done = f"trained in {fmt_time(trained)}{per_step}, " if trained is not None else ""
        mig = scored["scores"].get("mig.mig")
        self.say(f"{tag}: {done}metrics in {fmt_time(scored['eval_seconds'])}"
                 f"{'' if mig is None else f' (MIG {mig:.3f})'}; elapsed "
                 f"{fmt_time(time.time() - self.started)}, ETA {fmt_time(eta)}")


def collect_rows(recipes, pairs):
    """One row per finished run, read back from its ``disentanglement.json``."""
    rows = []
    for pair in pairs:
        run_dir = recipes[pair]["out"]
        scores = read_json_lenient(os.path.join(run_dir, RESULTS_FILE))
        if not scores:
            continue
        steps = scores.get("steps")
        train = scores.get("train_seconds")
        row = {"model": pair[0], "seed": pair[1], "run_dir": run_dir, "steps": steps,
               "train_seconds": train,
               "ms_per_step": 1000.0 * train / steps if train and steps else None,
               "eval_seconds": scores.get("eval_seconds")}
        row.update(scores["scores"])
        rows.append(row)
    return rows


def write_results(out, models, seeds, dataset, recipes, effective, preset, names, command=None,
                  log=None):
    """Writes results.csv, results.md, study.json and the plots from the runs' score files."""
    say = log or (lambda *_: None)
    pairs = [(m, s) for s in seeds for m in models]
    rows = sorted(collect_rows(recipes, pairs), key=lambda r: (models.index(r["model"]), r["seed"]))
    score_columns = []
    for r in rows:
        for key in r:
            if "." in key and key not in score_columns:
                score_columns.append(key)
    headline = [scoring.HEADLINE_SCORES[n] for n in names
                if scoring.HEADLINE_SCORES[n] in score_columns]
    shares = {c: variance_shares([r[c] for r in rows], [r["model"] for r in rows])
              for c in headline}
    summary = summarize(rows, models, score_columns)
    fixed = ["model", "seed", "steps", "train_seconds", "ms_per_step", "eval_seconds", "run_dir"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fixed + score_columns, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in fixed + score_columns})
    write_text(os.path.join(out, "results.csv"), buffer.getvalue())
    first = recipes[pairs[0]]
    study = to_jsonable({
        "settings": {"models": models, "seeds": seeds, "dataset": dataset,
                     "steps": first["training"]["steps"],
                     "steps_per_epoch": first["training"]["steps_per_epoch"],
                     "batch_size": first["training"]["batch_size"],
                     "data_options": first["data"]["options"],
                     "metric_preset": preset, "metric_seed": METRIC_SEED, "command": command},
        "metric_settings": effective,
        "headline_columns": headline,
        "rows": rows,
        "summary": summary,
        "variance_shares": shares,
        "conclusion": conclusion(shares) if rows else "No finished runs.",
        "num_runs": len(rows),
        "total_train_seconds": float(sum(r["train_seconds"] or 0.0 for r in rows)),
        "total_eval_seconds": float(sum(r["eval_seconds"] or 0.0 for r in rows)),
    })
    figures = {}
    if rows:
        for c in headline:
            file = f"box_{_slug(c)}.png"
            box_figure(rows, models, seeds, c, HEADLINE_LABELS.get(c, c), shares[c],
                       path=os.path.join(out, file))
            figures[c] = file
        overview_figure(rows, models, seeds, headline, shares, path=os.path.join(out, "boxplots.png"))
        figures["overview"] = "boxplots.png"
    study["figures"] = figures
    write_json(os.path.join(out, "study.json"), study)
    write_text(os.path.join(out, "results.md"), results_markdown(study))
    study["out"] = out
    say(f"Wrote {out}/results.csv, results.md, study.json and {len(figures)} plots "
        f"({len(rows)} of {len(pairs)} runs)")
    say(study["conclusion"])
    return study
