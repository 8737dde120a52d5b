"""The leaderboard of the whole zoo (``ae-zoo benchmark``): every registered model, plugins
included, trained from its recipe on one dataset with a few seeds, and scored alike.

``run_benchmark("mnist5k")`` trains every (model, seed) pair from the shipped
``recipes/<model>_<dataset>.yaml`` (the model's defaults where there is none), cut to one
training budget (:func:`parse_budget`; default :data:`DEFAULT_BUDGET`) that replaces its
length and its early stopping, with the seed overridden, no checkpoint and no export (a
recipe's schedules stay as written), into ``out/<model>_seed<k>/`` through the recipe
runner (which measures the test reconstruction MSE and, for a model with a likelihood,
-log p(x) by importance sampling). It then scores each run's samples and reconstructions
against the test split with :func:`~ae_zoo.evaluation.evaluate_generation` (FID, KID,
precision, recall on the dataset's feature network; sample seed :data:`SAMPLE_SEED` for
every run, so runs differ only by training), writes ``benchmark.json`` into the run
directory, and the leaderboard into ``out`` (:mod:`ae_zoo.experiments.leaderboard`).

Resumable: a run whose ``benchmark.json`` has the same settings is skipped; a trained run
(``model.keras``) is only scored; an interrupted training resumes from its last epoch. A
finished run trained otherwise (another budget, seed, model or dataset) is refused, as
every command refuses to replace a finished output, unless ``overwrite`` retrains it.
Parallel-safe: a process claims a run with the lock file ``.benchmark.lock`` in its
directory (host and process id), so several processes given the same ``--out`` share the
runs; a lock left by a dead process of this host is taken over (one left by another
machine must be removed by hand). Every file is written atomically, and each process
writes the leaderboard of the runs finished so far when it ends.

Budget (2-core CPU, see README): 500 steps per run plus its evaluation; the default 27
models x 3 seeds took 58.6 minutes of wall time (46 CPU-minutes) on 2 cores it shared with
other jobs for two thirds of that time.
"""

import gc
import json
import os
import socket
import time

import keras
import numpy as np

from ae_zoo import models as models_lib
from ae_zoo._io import atomic_path, process_alive, refuse_to_replace, to_jsonable, write_json
from ae_zoo.evaluation import feature_networks
from ae_zoo.evaluation.measures import draw_samples, evaluate_generation
from ae_zoo.experiments import leaderboard
from ae_zoo.experiments.common import (
    fmt_time,
    load_split,
    parse_list,
    read_json_lenient,
    recipe_mismatch,
)
from ae_zoo.experiments.train import recipe_for, run
from ae_zoo.export.card import load_run
from ae_zoo.training import recipes as recipe_lib

DEFAULT_SEEDS = (0, 1, 2)
#: Training budget of every run: the whole zoo x 3 seeds on mnist5k within an hour on 2 CPU cores.
DEFAULT_BUDGET = "steps=500"
#: The seed of every run's samples (image i from seed + i) and of the metrics' subsets.
SAMPLE_SEED = 0
RESULTS_FILE = "benchmark.json"
LOCK_FILE = ".benchmark.lock"
#: Images per model in the samples mosaic.
MOSAIC_SAMPLES = 12


def parse_budget(budget):
    """``{"steps": N}``, ``{"epochs": N}`` or ``{}`` (each recipe's own length) from
    ``"steps=N"``, ``"epochs=N"``, a bare ``N`` (steps) or ``"recipe"``."""
    text = str(budget).strip().replace(" ", "")
    if text == "recipe":
        return {}
    kind, _, value = text.rpartition("=")
    kind = kind or "steps"
    try:
        amount = int(value)
    except ValueError:
        amount = 0
    if kind not in ("steps", "epochs") or amount < 1:
        raise ValueError(f"budget: expected steps=N, epochs=N, N (steps) or recipe, got {budget!r}")
    return {kind: amount}


def benchmark_recipe(model, seed, dataset="mnist5k", budget=DEFAULT_BUDGET, out="runs/benchmark",
                     iwae_samples=50, overrides=()):
    """The validated recipe of one run: the model's ``<model>_<dataset>`` recipe (or its
    defaults), the budget in place of its length and early stopping (every run trains the
    whole budget; ``"recipe"`` keeps both), the seed, no checkpoint or export, out
    ``out/<model>_seed<k>``."""
    raw = recipe_for(model, dataset)
    raw.setdefault("model", {})["name"] = model
    raw.setdefault("data", {})["name"] = dataset
    given = [(["training", "seed"], int(seed)), (["export"], None),
             (["callbacks", "checkpoint"], None),
             (["training", "iwae_samples"], int(iwae_samples)),
             (["out"], os.path.join(out, f"{model}_seed{seed}"))]
    length = parse_budget(budget)
    if length:  # a fixed length for every run: no early stopping either
        given.append((["callbacks", "early_stopping"], None))
    if "steps" in length:
        given.append((["training", "steps"], length["steps"]))
    elif "epochs" in length:
        given += [(["training", "epochs"], length["epochs"]), (["training", "steps"], None)]
    recipe = recipe_lib.apply_overrides(raw, given + list(overrides))
    try:
        return recipe_lib.validate(recipe)
    except recipe_lib.RecipeError as err:
        raise recipe_lib.RecipeError(f"{model} on {dataset}: {err}") from None


def _settings(recipe, network, num_samples):
    """What a finished run's scores depend on besides its training."""
    return to_jsonable({"feature_network": network.describe(), "num_samples": num_samples,
                        "sample_seed": SAMPLE_SEED, "iwae_samples": recipe["training"]["iwae_samples"]})


def _status(recipe, settings, overwrite=False):
    """"done", "trained", "todo" or "replace" (a finished run trained differently, with
    ``overwrite``; refused without it)."""
    run_dir = recipe["out"]
    if not os.path.isfile(os.path.join(run_dir, "model.keras")):
        return "todo"
    old = (read_json_lenient(os.path.join(run_dir, "run.json")) or {}).get("recipe") or {}
    mismatch = recipe_mismatch(old, recipe, (("model", "name"), ("data", "name"),
                                             ("training", "steps"), ("training", "epochs"),
                                             ("training", "seed")))
    if mismatch:
        refuse_to_replace(run_dir, f"a finished benchmark run trained with {mismatch}", overwrite)
        return "replace"
    saved = read_json_lenient(os.path.join(run_dir, RESULTS_FILE)) or {}
    same = json.dumps(saved.get("settings"), sort_keys=True) == json.dumps(settings, sort_keys=True)
    return "done" if same else "trained"


# ------------------------------------------------------------------ locks
def _alive(holder):
    if holder.get("host") != socket.gethostname():
        return True  # another machine's process: it cannot be checked from here
    try:
        return process_alive(int(holder["pid"]))
    except (KeyError, TypeError, ValueError):
        return True


def claim(run_dir):
    """Takes the run's lock; returns None when it is ours, else who holds it ("host:pid")."""
    os.makedirs(run_dir, exist_ok=True)
    path = os.path.join(run_dir, LOCK_FILE)
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            holder = read_json_lenient(path) or {}
            if _alive(holder):
                return f"{holder.get('host')}:{holder.get('pid')}"
            stale = f"{path}.stale-{os.getpid()}"
            try:  # only one process can move the stale lock away
                os.replace(path, stale)
                os.remove(stale)
            except FileNotFoundError:
                pass
            continue
        with os.fdopen(fd, "w") as f:
            json.dump({"host": socket.gethostname(), "pid": os.getpid(), "since": time.time()}, f)
        return None
    return "another process"


def release(run_dir):
    try:
        os.remove(os.path.join(run_dir, LOCK_FILE))
    except FileNotFoundError:
        pass


# ------------------------------------------------------------------ one run
def _score(pair, recipe, status, test_set, network, num_samples, settings, verbose, command):
    """Trains (unless trained) and scores one run; writes and returns its benchmark.json."""
    run_dir = recipe["out"]
    trained_now = status in ("todo", "replace")
    if trained_now:
        if status == "replace":  # the old scores go first: they must never pass for the new run's
            for name in (RESULTS_FILE, "mosaic_samples.npy"):
                if os.path.exists(os.path.join(run_dir, name)):
                    os.remove(os.path.join(run_dir, name))
        # no per-run figures: the leaderboard's mosaic shows every model's samples
        result = run(recipe, verbose=verbose, command=command, figures=False,
                     overwrite=status == "replace")
        model, metrics = result["model"], result["metrics"]
    else:
        model, _, metrics, _ = load_run(run_dir)
    start = time.time()
    generation = evaluate_generation(model, test_set, network, num_samples, SAMPLE_SEED)
    labels = np.arange(MOSAIC_SAMPLES) % model.num_classes if model.conditional else None
    images, _ = draw_samples(model, MOSAIC_SAMPLES, SAMPLE_SEED, labels)
    if images is not None:
        with atomic_path(os.path.join(run_dir, "mosaic_samples.npy"), ".npy") as tmp:
            np.save(tmp, images.astype(np.float32))
    default = generation["samples"].get("default", {})
    row = {
        "model": pair[0], "seed": pair[1], "dataset": recipe["data"]["name"],
        "capabilities": model.capabilities(), "steps": metrics.get("steps"),
        "epochs": metrics.get("epochs"), "train_seconds": metrics.get("train_seconds"),
        "parameters": int(model.count_params()),
        "reconstruction_mse": metrics.get("test_reconstruction_mse"),
        "nll": metrics.get("test_iwae_nll"), "elbo": metrics.get("test_elbo"),
        "sample_source": default.get("source"),
        **{key: default.get(key) for key in ("fid", "kid", "kid_std", "precision", "recall")},
        **{f"reconstruction_{key}": generation["reconstructions"][key]
           for key in ("fid", "kid", "kid_std", "precision", "recall")},
        "generation": generation, "eval_seconds": time.time() - start,
        "trained_now": trained_now, "settings": settings,
    }
    write_json(os.path.join(run_dir, RESULTS_FILE), to_jsonable(row))
    del model
    keras.backend.clear_session()
    gc.collect()
    return row


def _claim_and_score(pair, recipe, settings, scoring, tag, say, verbose, command, overwrite):
    """Runs one pair unless another process holds it or has finished it meanwhile;
    returns ``(row, seconds)``, or None when it was left to the other process."""
    run_dir = recipe["out"]
    holder = claim(run_dir)
    if holder:
        say(f"{tag}: being run by {holder}, skipped")
        return None
    try:
        status = _status(recipe, settings, overwrite)  # again: another process may have finished it
        if status == "done":
            say(f"{tag}: finished by another process, skipped")
            return None
        if status in ("todo", "replace"):
            say(f"{tag}: {'retraining (--overwrite)' if status == 'replace' else 'training'} ...")
        start = time.time()
        row = _score(pair, recipe, status, *scoring, settings, verbose, command)
        return row, time.time() - start
    finally:
        release(run_dir)


class _Progress:
    """A line per finished run, with an estimate of the time left: each remaining run is
    expected to take what its model's earlier runs took (else the mean over all runs)."""

    def __init__(self, pairs, status, say):
        self.pairs, self.status, self.say = pairs, status, say
        self.times, self.started = {}, time.time()

    def expected(self, pair):
        mine = [t for (m, _), t in self.times.items() if m == pair[0]]
        known = mine or list(self.times.values())
        return float(np.mean(known)) if known else None

    def report(self, index, tag, row, seconds):
        self.times[self.pairs[index - 1]] = seconds
        left = [p for p in self.pairs[index:] if self.status[p] != "done"]
        eta = sum(self.expected(p) for p in left) if left else 0.0
        per_step = (f" ({1000 * row['train_seconds'] / row['steps']:.0f} ms/step)"
                    if row["trained_now"] and row["steps"] and row["train_seconds"] else "")
        trained = (f"trained {row['steps']} steps in {fmt_time(row['train_seconds'])}{per_step}, "
                   if row["trained_now"] else "")
        fid = "" if row["fid"] is None else f", FID {row['fid']:.1f}"
        self.say(f"{tag}: {trained}scored in {fmt_time(row['eval_seconds'])} (rec. MSE "
                 f"{row['reconstruction_mse']:.4f}{fid}); elapsed "
                 f"{fmt_time(time.time() - self.started)}, ETA {fmt_time(eta)}")


def _models(models):
    names = models_lib.names() if models in (None, "all") else parse_list(models, str, "models")
    for name in names:
        models_lib.get(name)  # an unknown name fails here, listing the known ones
    return names


def run_benchmark(dataset="mnist5k", models="all", budget=DEFAULT_BUDGET, seeds=DEFAULT_SEEDS,
                  out="runs/benchmark", feature_network=None, num_samples=None, iwae_samples=50,
                  overrides=(), figures=True, verbose=0, log=print, command=None, overwrite=False):
    """Trains and scores every (model, seed) pair and writes the leaderboard into ``out``.

    Args:
        dataset: an embedded or TFDS dataset (its train split trains, its test split scores).
        models: "all" (every registered model, plugins included) or a list / comma-separated
            string of names.
        budget: training length of every run (:func:`parse_budget`).
        seeds: training seeds (list or comma-separated string).
        feature_network: the generation metrics' network (default: the dataset's shipped one).
        num_samples: samples per run (default: as many as the test split has examples).
        iwae_samples: importance samples of -log p(x) for models with a likelihood (0: none).
        overrides: recipe overrides for every run (``"training.batch_size=64"``).
        figures: draw the charts and the samples mosaic (False: tables only).
        verbose: the runner's Keras verbosity; log: progress lines (None: silent).
        overwrite: retrain the finished runs in ``out`` that were trained otherwise (refused
            without it, before anything trains; runs trained the same way are reused either way).

    Returns the leaderboard dict (also ``leaderboard.json``).
    """
    say = log or (lambda *_: None)
    names = _models(models)
    seeds = parse_list(seeds, int, "seeds")
    if any(s < 0 for s in seeds):
        raise ValueError(f"seeds must be >= 0, got {seeds}")
    if num_samples is not None and (isinstance(num_samples, bool) or int(num_samples) < 2):
        raise ValueError(f"num_samples must be an integer >= 2, got {num_samples!r}")
    network = feature_networks.resolve(feature_network or feature_networks.for_dataset(dataset))
    out = os.fspath(out)
    first = benchmark_recipe(names[0], seeds[0], dataset, budget, out, iwae_samples, overrides)
    test_set = load_split(dataset, first["data"]["test_split"], first["data"]["data_dir"],
                          **first["data"]["options"])
    skipped = {m: f"conditional, and {dataset} has no labels" for m in names
               if models_lib.get(m).conditional and test_set.y is None}
    names = [m for m in names if m not in skipped]
    if not names:
        raise ValueError(f"no model to benchmark on {dataset}: {skipped}")
    pairs = [(m, s) for s in seeds for m in names]  # seed-major: every model early
    recipes = {p: benchmark_recipe(p[0], p[1], dataset, budget, out, iwae_samples, overrides)
               for p in pairs}
    n = int(num_samples or len(test_set))
    settings = {p: _settings(recipes[p], network, n) for p in pairs}
    status = {p: _status(recipes[p], settings[p], overwrite) for p in pairs}
    os.makedirs(out, exist_ok=True)
    say(f"Benchmark: {len(names)} models x {len(seeds)} seeds on {dataset}, budget "
        f"{budget}, {n} samples per run on the {network.describe()['name']} feature network "
        f"-> {out}/")
    say(f"  {sum(s == 'done' for s in status.values())} of {len(pairs)} runs already finished")
    progress, failures = _Progress(pairs, status, say), {}
    for index, pair in enumerate(pairs, 1):
        tag = f"[{index}/{len(pairs)}] {pair[0]} seed {pair[1]}"
        if status[pair] == "done":
            say(f"{tag}: finished earlier, skipped")
            continue
        try:
            done = _claim_and_score(pair, recipes[pair], settings[pair], (test_set, network, n),
                                    tag, say, verbose, command, overwrite)
        except Exception as err:  # noqa: BLE001  (one broken model must not stop the others)
            failures[f"{pair[0]} seed {pair[1]}"] = f"{type(err).__name__}: {err}"
            say(f"{tag}: failed: {type(err).__name__}: {err}")
            continue
        if done:
            progress.report(index, tag, *done)
    return leaderboard.write(out, names, seeds, {
        "dataset": dataset, "budget": budget, "feature_network": network.describe(),
        "num_samples": n, "sample_seed": SAMPLE_SEED, "iwae_samples": iwae_samples,
        "command": command, "failures": failures, "skipped": skipped,
    }, [recipes[p]["out"] for p in pairs], figures=figures, log=say)
