"""A small-scale reproduction of the three findings of Locatello et al. (2019), "Challenging
Common Assumptions in the Unsupervised Learning of Disentangled Representations" (``ae-zoo
study``).

``run_study(models, seeds, "dsprites")`` trains every (model, hyperparameters, seed) run
from the shipped ``<model>_<dataset>`` recipes (Color- and Noisy-dSprites use the dSprites
ones): the hyperparameters are points of each model's grid of the paper, which the model
declares (the ``choice`` specs of its ``search_space``), seed and steps overridden,
capacity-annealing schedules scaled to the steps. Each run trains into ``out/<run>/``
(``<model>[_<name><value>]_seed<k>``) through the recipe runner and is scored with every
metric: supervised scores, the unsupervised scores of the mean and of the sampled codes,
IRS and the downstream task (``disentanglement.json`` in the run directory). The runs of
one setup (model and hyperparameters) are then compared with each other by UDR. The study
writes into ``out`` (see :mod:`ae_zoo.experiments.study_report`): ``results.csv``,
``results.md`` (the three findings, each with its numbers, figure and verdict),
``study.json`` and the figures. With several datasets (e.g. ``dsprites,color_dsprites``),
one study each into ``out/<dataset>/`` and the hyperparameter transfer between them
(``transfer.md``, :mod:`~ae_zoo.experiments.study_transfer`).

Resumable and shareable: a run whose directory holds ``model.keras`` and a
``disentanglement.json`` with the same metric settings is skipped; a trained run without
it is only scored; an interrupted training resumes from its last epoch (the runner's
``BackupAndRestore``). Several processes or machines may run the same command on one
``out``: each claims a run before working on it (:mod:`~ae_zoo.experiments.study_claims`),
and the last to finish writes the complete report.

Budget (2-core CPU, no GPU; see README): every run trains ``DEFAULT_STEPS`` = 1,000 steps
and is scored with :data:`STUDY_METRIC_SETTINGS`; the default study, 6 models x 2
hyperparameter values x 2 seeds, should take 50-55 minutes (estimated from single runs).
"""

import gc
import json
import math
import os
import time

import keras
import numpy as np
import yaml

from ae_zoo import models as model_lib
from ae_zoo._io import refuse_to_replace, to_jsonable, write_json
from ae_zoo.evaluation import scoring
from ae_zoo.experiments.common import (
    fmt_time,
    load_split,
    parse_list,
    read_json_lenient,
    recipe_mismatch,
)
from ae_zoo.experiments.study_analysis import variance_shares  # noqa: F401  (re-exported)
from ae_zoo.experiments.study_claims import STALE_AFTER, Claims
from ae_zoo.experiments.study_report import LABELS, RESULTS_FILE, write_results
from ae_zoo.experiments.study_transfer import write_transfer
from ae_zoo.experiments.train import run
from ae_zoo.export.card import load_run
from ae_zoo.training import recipes as recipe_lib

#: The six models of Locatello et al.
DEFAULT_MODELS = ("beta_vae", "annealed_vae", "beta_tcvae", "factor_vae", "dip_vae_i",
                  "dip_vae_ii")
DEFAULT_SEEDS = (0, 1)
#: Training steps per run: the default study in about an hour on 2 CPU cores.
DEFAULT_STEPS = 1000
#: Values taken from each model's hyperparameter grid (its two ends); None: the recipe's.
DEFAULT_HPARAM_POINTS = 2
#: Reduced metric settings of the study (``compute_all`` overrides).
STUDY_METRIC_SETTINGS = scoring.FAST_METRIC_SETTINGS
#: The metrics' random state: the same for every run, so runs differ only by training.
METRIC_SEED = 0
#: Steps per epoch at most (an epoch must fit in one pass over the training split).
MAX_STEPS_PER_EPOCH = 250
HEADLINE_LABELS = scoring.HEADLINE_LABELS
#: Datasets that train from another dataset's recipes.
RECIPE_OF_DATASET = {"color_dsprites": "dsprites", "noisy_dsprites": "dsprites"}


def steps_per_epoch(steps):
    """Steps per epoch so that whole epochs make exactly ``steps`` when possible: the
    fewest epochs of at most :data:`MAX_STEPS_PER_EPOCH` steps."""
    epochs = math.ceil(steps / MAX_STEPS_PER_EPOCH)
    return math.ceil(steps / epochs)


def run_name(model, seed, hparams=None):
    """``<model>[_<name><value>...]_seed<k>``, e.g. ``beta_vae_beta16_seed0``."""
    return model + "".join(f"_{k}{v:g}" for k, v in (hparams or {}).items()) + f"_seed{seed}"


def _recipe_path(model, dataset):
    """The recipe of ``model`` for ``dataset`` (a dSprites variant: dSprites' recipe)."""
    base = RECIPE_OF_DATASET.get(dataset, dataset)
    path = recipe_lib.find(f"{model}_{base}")
    if path is None:
        have = sorted(n[:-len(base) - 1] for n in recipe_lib.names() if n.endswith(f"_{base}"))
        raise ValueError(f"no recipe recipes/{model}_{base}.yaml; models with a {base} recipe: "
                         f"{', '.join(have) or 'none'}")
    return path


def study_recipe(model, seed, dataset="dsprites", steps=DEFAULT_STEPS, out="runs/study",
                 iwae_samples=0, overrides=(), hparams=None):
    """The validated recipe of one run: ``recipes/<model>_<dataset>.yaml`` with the seed,
    ``hparams`` (model options), ``steps`` (and an AnnealedVAE's ``anneal_steps``, when the
    recipe anneals over its whole run, scaled to match), no export, ``iwae_samples``, out
    ``out/<run_name>``."""
    path = _recipe_path(model, dataset)
    with open(path, encoding="utf-8") as f:
        raw = yaml.safe_load(f) or {}
    given = [(["training", "seed"], int(seed)), (["export"], None),
             (["training", "iwae_samples"], int(iwae_samples)),
             (["out"], os.path.join(out, run_name(model, seed, hparams)))]
    given += [(["model", "options", k], v) for k, v in (hparams or {}).items()]
    if (raw.get("data") or {}).get("name") != dataset:
        given.append((["data", "name"], dataset))
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


def hyperparameter_grid(model, dataset="dsprites", points=DEFAULT_HPARAM_POINTS):
    """``[(hparams, strength)]``: the setups of ``model`` the study trains.

    The model's grids are the ``choice`` specs of its ``search_space`` (centred on the
    recipe's options); ``points`` values are taken from each, evenly spaced with both
    ends (``"all"``: the whole grid; None: the recipe's values only, ``[({}, None)]``).
    ``strength`` grows with the regularization (the first grid that declares its
    direction; None without one).
    """
    if points is None:
        return [({}, None)]
    with open(_recipe_path(model, dataset), encoding="utf-8") as f:
        options = ((yaml.safe_load(f) or {}).get("model") or {}).get("options") or {}
    grids = {k: s for k, s in model_lib.get(model).search_space(dict(options)).items()
             if s.get("type") == "choice"}
    if not grids:
        return [({}, None)]
    chosen = {}
    for name, spec in grids.items():
        values = list(spec["values"])
        if points != "all":
            values = [values[i] for i in sorted(set(
                np.round(np.linspace(0, len(values) - 1, int(points))).astype(int)))]
        chosen[name] = values
    setups = [{}]
    for name, values in chosen.items():
        setups = [{**s, name: v} for s in setups for v in values]
    direction = next(((k, s["regularization"]) for k, s in grids.items()
                      if s.get("regularization")), None)

    def strength(hparams):
        if direction is None:
            return None
        value = float(hparams[direction[0]])
        return value if direction[1] == "larger" else -value

    return [(h, strength(h)) for h in setups]


def _check_points(points):
    if points is None or points == "all":
        return points
    if isinstance(points, bool) or not isinstance(points, (int, np.integer)) or points < 1:
        raise ValueError(f"hparam_points must be an int >= 1, 'all' or None, got {points!r}")
    return int(points)


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


def plan_study(models, seeds, dataset, steps, out, hparam_points, iwae_samples=0, overrides=()):
    """Every run of the study, seed-major (all setups early): a list of dicts with
    ``model``, ``hparams``, ``strength``, ``setup`` (its label), ``seed``, ``name`` and
    ``recipe`` (validated)."""
    runs = []
    grids = {m: hyperparameter_grid(m, dataset, hparam_points) for m in models}
    for seed in seeds:
        for model in models:
            for hparams, strength in grids[model]:
                setup = " ".join([model] + [f"{k}={v:g}" for k, v in hparams.items()])
                runs.append({"model": model, "hparams": hparams, "strength": strength,
                             "setup": setup, "seed": seed, "name": run_name(model, seed, hparams),
                             "recipe": study_recipe(model, seed, dataset, steps, out,
                                                    iwae_samples, overrides, hparams)})
    return runs


def run_study(models=DEFAULT_MODELS, seeds=DEFAULT_SEEDS, dataset="dsprites", steps=DEFAULT_STEPS,
              out="runs/study", full_metrics=False, metric_settings=None, metrics=None,
              iwae_samples=0, overrides=(), verbose=0, log=print, command=None,
              hparam_points=DEFAULT_HPARAM_POINTS, stale_after=STALE_AFTER, overwrite=False):
    """Trains and scores every run; writes the tables and plots into ``out``.

    Args:
        models, seeds: lists (or comma-separated strings) of registered model names with a
            ``<model>_<dataset>`` recipe, and of training seeds.
        dataset: a dataset with ground-truth factors, or several (a list or comma-separated
            string): then one study per dataset into ``out/<dataset>/``, and the
            hyperparameter transfer between them (:mod:`study_transfer`) into ``out``.
        steps: training steps per run (None: the recipes' own 20,000).
        hparam_points: values from each model's grid (see :func:`hyperparameter_grid`).
        full_metrics: Locatello et al.'s metric settings instead of
            :data:`STUDY_METRIC_SETTINGS`; ``metric_settings``: further ``compute_all``
            overrides on top.
        metrics: metric names (default all; see :func:`ae_zoo.evaluation.resolve_metrics`).
        iwae_samples: the runner's -log p(x) importance samples (0: metrics only).
        overrides: recipe overrides for every run (``"data.options.num_samples=2000"``).
        verbose: the runner's Keras verbosity (0 silent, 2 one line per epoch).
        log: progress lines go here (None: silent).
        stale_after: seconds after which another worker's silent claim is taken over.
        overwrite: retrain the finished runs in ``out`` that were trained otherwise (refused
            without it; runs trained the same way are reused either way).

    Returns the study dict (also ``study.json``); for several datasets ``{"studies":
    {dataset: study}, "transfer": ..., "out": out}``.
    """
    say = log or (lambda *_: None)
    models = parse_list(models, str, "models")
    seeds = parse_list(seeds, int, "seeds")
    datasets = parse_list(dataset, str, "dataset")
    if any(s < 0 for s in seeds):
        raise ValueError(f"seeds must be >= 0, got {seeds}")
    if steps is not None and (isinstance(steps, bool) or int(steps) < 1):
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    hparam_points = _check_points(hparam_points)
    plan = _metric_plan(metrics, full_metrics, metric_settings)
    out = os.fspath(out)
    # Every recipe is built and every finished run checked before anything is trained.
    folders = {d: out if len(datasets) == 1 else os.path.join(out, d) for d in datasets}
    runs = {d: plan_study(models, seeds, d, steps, folders[d], hparam_points, iwae_samples,
                          overrides) for d in datasets}
    common = dict(plan=plan, say=say, verbose=verbose, command=command, stale_after=stale_after,
                  overwrite=overwrite)
    if len(datasets) == 1:
        return _run_one(runs[datasets[0]], datasets[0], out, **common)
    studies = {d: _run_one(runs[d], d, folders[d], **common) for d in datasets}
    with Claims(out, stale_after=stale_after).lock("transfer"):
        transfer = write_transfer(out, studies, LABELS)
    say(f"Wrote {out}/transfer.md and transfer.json")
    say(transfer["verdict"])
    return {"studies": studies, "transfer": transfer, "out": out}


def _run_one(runs, dataset, out, plan, say, verbose, command, stale_after, overwrite):
    """The study of one dataset (``runs``: :func:`plan_study`) into ``out``."""
    settings_json = json.dumps(to_jsonable(plan[2]), sort_keys=True)
    status = {r["name"]: _status(r["recipe"], settings_json, overwrite) for r in runs}
    first = runs[0]["recipe"]
    ground_truth = load_split(dataset, first["data"]["test_split"], first["data"]["data_dir"],
                              **first["data"]["options"]).ground_truth
    if ground_truth is None:
        raise ValueError(f"dataset {dataset!r} has no ground-truth factors: the study needs one "
                         "with factors (dsprites, color_dsprites, noisy_dsprites, shapes3d)")
    os.makedirs(out, exist_ok=True)
    claims = Claims(out, stale_after=stale_after)
    todo = [r for r in runs if status[r["name"]] != "done"]
    say(f"Study: {len(runs)} runs ({len({r['model'] for r in runs})} models, "
        f"{len({r['setup'] for r in runs})} setups, {len({r['seed'] for r in runs})} seeds) "
        f"on {dataset}, {first['training']['steps']} steps each, {plan[3]} metric settings "
        f"-> {out}/")
    say(f"  {len(runs) - len(todo)} of {len(runs)} runs already finished; "
        f"{sum(status[r['name']] in ('todo', 'replace') for r in todo)} to train, {len(todo)} "
        "to score")
    progress = _Progress(runs, status, say)
    for index, entry in enumerate(runs, 1):
        tag = f"[{index}/{len(runs)}] {entry['setup']} seed {entry['seed']}"
        if status[entry["name"]] == "done":
            say(f"{tag}: finished earlier, skipped")
            continue
        if not claims.claim(entry["name"]):
            say(f"{tag}: claimed by {(claims.owner(entry['name']) or {}).get('worker', '?')}, "
                "left to it")
            continue
        try:
            # another worker may have done it
            state = _status(entry["recipe"], settings_json, overwrite)
            if state == "done":
                say(f"{tag}: finished by another worker, skipped")
                continue
            trained, scored = _train_and_score(entry, state, ground_truth, plan, tag, say,
                                               verbose, command)
        finally:
            claims.release(entry["name"])
        progress.report(index, tag, trained, scored)
    with claims.lock("report"):
        return write_results(out, runs, dataset, ground_truth, plan, METRIC_SEED,
                             command=command, log=say)


def _metric_plan(metrics, full_metrics, metric_settings):
    """``(names, settings, effective, preset)``: the metrics, the ``compute_all``
    overrides, the effective settings of each metric (checked) and the preset's name."""
    names = scoring.resolve_metrics(metrics)
    if not names:
        raise ValueError("the study needs at least one metric")
    preset = "full" if full_metrics else "study"
    base = scoring.FULL_METRIC_SETTINGS if full_metrics else STUDY_METRIC_SETTINGS
    settings = scoring.merge_settings(base, metric_settings)
    scoring.check_settings(settings)
    return names, settings, scoring.metric_settings(names, settings), preset


def _train_and_score(entry, status, ground_truth, plan, tag, say, verbose, command):
    """Trains the run (unless it is trained) and scores it into its ``disentanglement.json``;
    returns ``(training seconds or None, the scored dict)``."""
    names, settings, effective, preset = plan
    recipe = entry["recipe"]
    run_dir = recipe["out"]
    trained = None
    metrics_info = read_json_lenient(os.path.join(run_dir, "metrics.json")) or {}
    if status in ("todo", "replace"):
        if status == "replace" and os.path.exists(os.path.join(run_dir, RESULTS_FILE)):
            os.remove(os.path.join(run_dir, RESULTS_FILE))  # never to pass for the new run's
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
        "model": entry["model"], "hparams": entry["hparams"], "seed": entry["seed"],
        "dataset": recipe["data"]["name"],
        "steps": scored["steps"] or recipe["training"]["steps"],
        "train_seconds": scored["train_seconds"], "eval_seconds": scored["eval_seconds"],
        "metric_seconds": scored["seconds"], "scores": scored["scores"],
        "skipped": scored["skipped"], "settings": effective, "metric_preset": preset,
        "random_state": METRIC_SEED,
    }))
    del model
    keras.backend.clear_session()
    gc.collect()
    return trained, scored


class _Progress:
    """One line per finished run: its times, its MIG, the elapsed time and an estimate of
    the time left from this session's trainings and scorings."""

    def __init__(self, runs, status, say):
        self.runs, self.status, self.say = runs, status, say
        self.train_times, self.eval_times, self.started = [], [], time.time()

    def report(self, index, tag, trained, scored):
        if trained is not None:
            self.train_times.append(trained)
        self.eval_times.append(scored["eval_seconds"])
        left = self.runs[index:]
        left_train = sum(1 for r in left if self.status[r["name"]] in ("todo", "replace"))
        left_eval = sum(1 for r in left if self.status[r["name"]] != "done")
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
