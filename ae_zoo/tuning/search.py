"""``ae-zoo tune``: search a recipe's hyperparameters, write the best as a recipe, retrain, export.

The search never sees the test split: it trains on the recipe's train split minus a
seeded validation fraction (``validation_split``, default 10%) and scores each trial on
that held-out part. The best values are merged into the recipe (``best_recipe.yaml``,
validated), which is then trained from scratch by :func:`ae_zoo.experiments.train.run` on
the whole train split and evaluated on the test split, as ``ae-zoo train`` does, and
exported. Everything lives in the out directory (default ``runs/<recipe name>_tune``)::

    runs/vae_mnist5k_tune/
      search/              keras-tuner's state (oracle.json, trial_*/): rerun to resume
      tune_settings.json   what the search is; a rerun with other settings is refused
      best_recipe.yaml     the recipe with the best values merged in
      tune.json            every trial's values and score, the best one, where things went
      best/                the retrained run (model.keras, metrics.json, ...) and its export

Rerunning the same command resumes an interrupted search where it stopped (keras-tuner
reloads its oracle; finished trials are not rerun); ``overwrite=True`` starts over. A rerun
finishes what a kill left undone after the search too: a ``best/`` whose ``run.json``
records the best recipe is kept and only exported (trained again if killed before its
metrics; no second version when its export was published), a ``best/`` of another search
is refused before searching (:mod:`ae_zoo.tuning.retraining`). Once the best was retrained
and exported, a rerun says where and does nothing more. A larger ``max_trials`` extends
the search while ``best/`` holds no retrained model (``retrain=False``, or killed before);
once it does, a larger ``max_trials`` is refused (the retrained best would be replaced)
unless ``overwrite``. Trials are numbered as keras-tuner shows them while running
("Running Trial #1" is trial 1).
"""

import copy
import datetime
import json
import math
import os

import keras
import keras_tuner
import numpy as np

from ae_zoo import data as data_lib
from ae_zoo import models as model_lib
from ae_zoo._io import read_json, refuse_to_replace, write_json
from ae_zoo.training import recipes as recipe_lib
from ae_zoo.training.build import make_strategy
from ae_zoo.training.console import retracing_note
from ae_zoo.training.schedules import BetaSchedule
from ae_zoo.tuning import spaces
from ae_zoo.tuning.recipe_files import plain, write_recipe
from ae_zoo.tuning.hypermodels import AutoencoderHyperModel, default_objective, make_objective
from ae_zoo.tuning.retraining import check_earlier_best, finished_run, retrain_and_export
from ae_zoo.tuning.tuners import TUNERS, make_tuner

PROJECT = "search"
BEST_RECIPE = "best_recipe.yaml"
SETTINGS = "tune_settings.json"


def _check_arguments(tuner, max_trials, epochs, validation_split):
    if tuner not in TUNERS:
        raise ValueError(f"Unknown tuner {tuner!r}; expected one of {', '.join(TUNERS)}.")
    if isinstance(max_trials, bool) or not isinstance(max_trials, (int, np.integer)) or max_trials < 1:
        raise ValueError(f"`max_trials` must be an integer >= 1, got {max_trials!r}.")
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer))
                               or epochs < 1):
        raise ValueError(f"`epochs` must be an integer >= 1, got {epochs!r}.")
    if isinstance(validation_split, bool) or not isinstance(validation_split, (int, float)) \
            or not 0.0 < float(validation_split) < 1.0:
        raise ValueError(f"`validation_split` must be in (0, 1), got {validation_split!r}.")


def split_validation(train_set, fraction, seed):
    """``(x, y, x_val, y_val)``: a seeded ``fraction`` of the train split held out for scoring."""
    try:
        train, val = train_set.hold_out(fraction, seed)
    except ValueError as err:
        raise ValueError(f"validation_split={fraction}: {err}") from None
    return train.x, train.y, val.x, val.y


def _largest_batch(space, base):
    spec = space.get("batch_size")
    if not spec:
        return base
    if spec["type"] == "choice":
        return max(int(v) for v in spec["values"])
    return int(spec.get("value", spec.get("max", base)))


def _settings(recipe, space, objective, tuner, epochs, validation_split):
    """What defines a search: a rerun into the same directory must match it to resume."""
    return json.loads(json.dumps({
        "model": recipe["model"], "data": recipe["data"], "search_space": space,
        "objective": objective.name, "direction": objective.direction, "tuner": tuner,
        "epochs": epochs, "validation_split": float(validation_split),
        "seed": recipe["training"]["seed"], "batch_size": recipe["training"]["batch_size"],
        "optimizer": recipe["training"]["optimizer"],
    }, default=list))


def _check_resume(out, settings, overwrite):
    path = os.path.join(out, SETTINGS)
    if overwrite or not os.path.exists(os.path.join(out, PROJECT)) or not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as f:
        previous = json.load(f)
    changed = sorted(k for k in set(settings) | set(previous) if settings.get(k) != previous.get(k))
    if changed:
        raise ValueError(
            f"{out} holds a search with other settings ({', '.join(changed)} differ); rerun with "
            "the same settings to resume it, pass --overwrite to start over, or choose another --out."
        )


def best_recipe(raw_recipe, hypermodel, values, out):
    """The raw recipe with the searched ``values`` merged in, named ``<name>_tuned``, run in
    ``<out>/best``. Only the searched settings change; the result is validated."""
    validated = recipe_lib.validate(raw_recipe)
    config = hypermodel.config_for(values)
    updates = spaces.recipe_updates(config, [n for n in values if not n.startswith("tuner/")])
    recipe = recipe_lib.apply_overrides(raw_recipe, updates)
    recipe["name"] = f"{validated['name']}_tuned"
    recipe["out"] = os.path.join(out, "best")
    recipe = plain(recipe)
    recipe_lib.validate(recipe)
    return recipe


def best_trial(tuner):
    """The best completed trial with a finite score (keras-tuner would also rank NaN ones)."""
    scored = [t for t in tuner.oracle.trials.values()
              if str(t.status) == "COMPLETED" and t.score is not None and math.isfinite(t.score)]
    if not scored:
        messages = [t.message for t in tuner.oracle.trials.values() if t.message]
        raise RuntimeError("No trial finished with a finite objective; the last error:\n"
                           + (messages[-1] if messages else "(none recorded)"))
    pick = max if tuner.oracle.objective.direction == "max" else min
    return pick(scored, key=lambda t: t.score)


def trial_number(trial_id):
    """The number keras-tuner shows for a trial ("Running Trial #3"): its id + 1 (ids count
    from 0)."""
    try:
        return int(trial_id) + 1
    except (TypeError, ValueError):
        return trial_id


def _trial_rows(tuner):
    rows = []
    for trial_id, trial in sorted(tuner.oracle.trials.items()):
        rows.append({"trial": trial_number(trial_id), "trial_id": trial_id,
                     "status": str(trial.status),
                     "score": None if trial.score is None else float(trial.score),
                     "values": plain({k: v for k, v in trial.hyperparameters.values.items()
                                       if not k.startswith("tuner/")})})
    return rows


def _format_values(values):
    def show(v):
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(list(spaces.decode_widths(v))) if spaces.is_encoded_widths(v) else str(v)

    return ", ".join(f"{k}={show(v)}" for k, v in sorted(values.items()))


def tune(recipe, *, tuner="random", max_trials=10, epochs=None, objective=None, out=None,
         export=None, overwrite=False, validation_split=0.1, retrain=True, verbose=1,
         command=None):
    """Searches ``recipe``'s hyperparameters with keras-tuner, then retrains and exports the best.

    Args:
        recipe: a recipe dict (as read from YAML, overrides applied); its optional
            ``tuning:`` section overrides the model's default search space.
        tuner: ``"random"``, ``"bayesian"`` or ``"hyperband"``.
        max_trials: the number of trials (for Hyperband an upper bound).
        epochs: training epochs of a trial (Hyperband's ``max_epochs``); default the
            recipe's. The retraining uses the recipe's own epochs.
        objective: a logged metric such as ``"val_loss"`` or ``"val_elbo"``; default
            :func:`~ae_zoo.tuning.default_objective` of the model.
        out: the search directory (default ``runs/<recipe name>_tune``).
        export: a model folder (``exports/NAME``) to export the retrained model to
            with its card; default the recipe's ``export`` section (``serving`` inside
            the run when it has none).
        overwrite: start the search over instead of resuming it (and replace ``best/``).
        validation_split: the fraction of the train split the trials are scored on.
        retrain: retrain and export the best (else stop after writing the recipe).
        verbose: 0 silent, 1 trial summaries and one line per epoch, 2 progress bars.

    Returns:
        A dict: ``best_hyperparameters``, ``best_trial`` (its number, as keras-tuner showed
        it), ``best_recipe`` (path), ``objective``, ``trials``, ``tuner``, and after
        retraining ``run`` (what :func:`~ae_zoo.experiments.train.run` returns) and
        ``export_path``; for a search finished earlier, what it recorded (``run``: its
        ``out``, ``metrics`` and ``figures``; ``tuner`` None) and ``finished_earlier``.

    Raises:
        ValueError: an unknown tuner or objective, ``max_trials`` < 1, a bad recipe or
            ``tuning:`` section, a search directory holding other settings; all before
            any search starts.
        OutputExists: (not ``overwrite``) a ``best/`` of another search, or a larger
            ``max_trials`` once ``best/`` holds the retrained best; before searching too.
    """
    with retracing_note():  # every trial builds a new model: said once, in plain words
        return _tune(recipe, tuner=tuner, max_trials=max_trials, epochs=epochs,
                     objective=objective, out=out, export=export, overwrite=overwrite,
                     validation_split=validation_split, retrain=retrain, verbose=verbose,
                     command=command)


def _tune(recipe, *, tuner, max_trials, epochs, objective, out, export, overwrite,
          validation_split, retrain, verbose, command):
    _check_arguments(tuner, max_trials, epochs, validation_split)
    raw = plain(copy.deepcopy(recipe))
    validated = recipe_lib.validate(raw)
    model_cfg, training, data_cfg = validated["model"], validated["training"], validated["data"]
    model_name = model_cfg["name"]
    objective = default_objective(model_name) if objective is None else make_objective(
        objective, model_name)
    architecture = model_cfg["architecture"] or getattr(model_lib.get(model_name),
                                                        "default_architecture", "mlp")
    space = spaces.resolve_search_space(
        model_name, validated.get("tuning"), latent_dim=model_cfg["latent_dim"],
        learning_rate=training["optimizer"]["learning_rate"], options=model_cfg["options"],
        architecture=architecture)
    out = os.fspath(out) if out else os.path.join("runs", f"{validated['name']}_tune")
    data_kwargs = dict(data_cfg["options"])
    if data_cfg["data_dir"]:
        data_kwargs["data_dir"] = data_cfg["data_dir"]
    train_set = data_lib.load(data_cfg["name"], data_cfg.get("train_split", "train"), **data_kwargs)
    seed = training["seed"]
    x, y, x_val, y_val = split_validation(train_set, validation_split, seed)
    if epochs is None:
        epochs = training["epochs"]
        if training["steps"]:
            per_epoch = max(1, len(x) // training["batch_size"])
            epochs = max(1, -(-training["steps"] // min(per_epoch, training["steps_per_epoch"]
                                                         or per_epoch)))
    largest = _largest_batch(space, training["batch_size"])
    if largest > len(x):
        raise ValueError(f"batch_size {largest} is larger than the {len(x)} search-training "
                         "examples; lower the batch size or validation_split.")
    settings = _settings(validated, space, objective, tuner, epochs, validation_split)
    _check_resume(out, settings, overwrite)
    if not overwrite:  # before the search, not after it
        done = _earlier_search(out, max_trials, retrain, verbose)
        if done is not None:
            return done

    conditional = model_lib.get(model_name).conditional
    num_classes = None
    if conditional and "num_classes" not in model_cfg["options"]:
        if train_set.y is None:
            raise ValueError(f"Model {model_name!r} needs class labels; dataset "
                             f"{train_set.name!r} has none.")
        num_classes = int(train_set.num_classes or train_set.y.max() + 1)
    hypermodel = AutoencoderHyperModel.from_recipe(validated, train_set.input_shape,
                                                   num_classes=num_classes, dataset_size=len(x),
                                                   epochs=epochs)
    probe = hypermodel.build(keras_tuner.HyperParameters())  # bad values fail here, not in trials
    probe.check_inputs(x, y if conditional else None)
    del probe
    keras.backend.clear_session()

    os.makedirs(out, exist_ok=True)
    search = make_tuner(tuner, hypermodel, objective, max_trials, epochs=epochs, directory=out,
                        project_name=PROJECT, overwrite=overwrite, seed=seed,
                        distribution_strategy=make_strategy(training["strategy"]))
    write_json(os.path.join(out, SETTINGS), settings)
    callbacks = [keras.callbacks.TerminateOnNaN()]
    if validated["callbacks"]["beta_schedule"]:
        schedule = validated["callbacks"]["beta_schedule"]
        callbacks.insert(0, BetaSchedule(**{k: v for k, v in schedule.items() if v is not None}))
    if verbose:
        print(f"Searching {model_name} on {train_set.name}: {len(x)} training / {len(x_val)} "
              f"validation examples (test split held out), {tuner} search, {max_trials} trials of "
              f"{epochs} epoch(s), objective {objective.name} ({objective.direction}).")
        search.search_space_summary()
    fit_args = (x, y) if conditional else (x,)
    validation = (x_val, y_val) if conditional else (x_val,)
    search.search(*fit_args, validation_data=validation, epochs=epochs, callbacks=callbacks,
                  verbose={0: 0, 1: 2, 2: 1}.get(verbose, 2))

    trials = _trial_rows(search)
    best = best_trial(search)
    values = {k: v for k, v in best.hyperparameters.values.items() if not k.startswith("tuner/")}
    result_recipe = best_recipe(raw, hypermodel, values, out)
    if export is None and not validated["export"]:
        result_recipe["export"] = {"dir": "serving"}  # inside the run
    recipe_path = os.path.join(out, BEST_RECIPE)
    header = [
        f"Best of `ae-zoo tune` ({tuner} search, {len(trials)} trials of {epochs} epoch(s), "
        f"{datetime.date.today().isoformat()}).",
        f"Trial {trial_number(best.trial_id)}: {objective.name} = {float(best.score):.6g} "
        f"({objective.direction}).",
        f"Tuned: {_format_values(values)}.",
        f"Retrain: ae-zoo train --recipe {recipe_path}",
    ]
    write_recipe(result_recipe, recipe_path, header)
    summary = {
        "command": command, "objective": objective.name, "direction": objective.direction,
        "tuner": tuner, "max_trials": int(max_trials), "epochs": int(epochs),
        "validation_split": float(validation_split), "num_search_train": len(x),
        "num_search_validation": len(x_val), "search_space": space,
        "best": {"trial": trial_number(best.trial_id), "trial_id": best.trial_id,
                 "score": float(best.score), "values": plain(values)},
        "best_recipe": recipe_path, "trials": trials,
    }
    write_json(os.path.join(out, "tune.json"), summary)
    if verbose:
        print(f"\nBest trial {trial_number(best.trial_id)}: {objective.name} = "
              f"{float(best.score):.4f} ({_format_values(values)})\nWrote {recipe_path}")
    result = {"best_hyperparameters": values, "best_trial": trial_number(best.trial_id),
              "best_score": float(best.score), "best_recipe": recipe_path,
              "objective": objective, "trials": trials, "tuner": search, "out": out}
    if not retrain:
        return result

    return _retrain(result, result_recipe, summary, export=export, overwrite=overwrite,
                    verbose=verbose, command=command)


def _retrain(result, recipe, summary, *, export, overwrite, verbose, command):
    """Retrains the best recipe from scratch (announced), tests and exports it, or finishes
    what a killed earlier run of the command left of that; records it in tune.json. Returns
    ``result`` with ``run`` and ``export_path``."""
    keras.backend.clear_session()
    run_result, export_path = retrain_and_export(recipe, result["best_trial"], export,
                                                 overwrite, verbose, command)
    summary.update(run=run_result["out"], export_path=export_path,
                   test_metrics={k: v for k, v in run_result["metrics"].items()
                                 if k.startswith("test_")})
    write_json(os.path.join(result["out"], "tune.json"), summary)
    result.update(run=run_result, export_path=export_path)
    return result


def _earlier_search(out, max_trials, retrain, verbose):
    """Before searching (not ``overwrite``): refuses a ``best/`` of another search (naming
    the keys that differ; when ``retrain``) and, once ``best/`` holds the retrained best, a
    larger ``max_trials`` than tune.json records (the best would be replaced). Returns what
    :func:`tune` returns when ``retrain`` and ``out`` holds this search retrained and
    exported already (tune.json records its run), saying so; None otherwise: the search
    resumes, and :func:`~ae_zoo.tuning.retraining.retrain_and_export` finishes a killed
    retraining."""
    best_dir, recorded = os.path.join(out, "best"), os.path.join(out, BEST_RECIPE)
    if retrain:
        searched = os.path.isdir(os.path.join(out, PROJECT)) and os.path.isfile(recorded)
        check_earlier_best(best_dir, recorded if searched else None)
    summary = read_json(os.path.join(out, "tune.json")) or {}
    if int(summary.get("max_trials", max_trials)) < max_trials:
        refuse_to_replace(os.path.join(best_dir, "model.keras"), "the retrained best of this "
                          f"search's {summary['max_trials']} trials, which {max_trials} trials "
                          "would replace")
    run_dir = summary.get("run")
    if not retrain or not run_dir or not os.path.isfile(os.path.join(run_dir, "model.keras")):
        return None
    best = summary["best"]
    number = best.get("trial", trial_number(best.get("trial_id")))
    if verbose:
        print(f"{out} holds this search finished: {len(summary['trials'])} trials, the best "
              f"(trial {number}) retrained in {run_dir}/ and exported to "
              f"{summary.get('export_path')}. Nothing to do; pass --overwrite to search again.")
    return {"best_hyperparameters": best["values"], "best_trial": number,
            "best_score": best["score"], "best_recipe": summary["best_recipe"],
            "objective": keras_tuner.Objective(summary["objective"], summary["direction"]),
            "trials": summary["trials"], "tuner": None, "out": out, "finished_earlier": True,
            "run": finished_run(run_dir), "export_path": summary.get("export_path")}
