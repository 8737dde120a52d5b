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
reloads its oracle; finished trials are not rerun) and a larger ``max_trials`` extends
it; ``overwrite=True`` starts over. Killed after the best was retrained, the rerun keeps
``best/`` and only exports it; a ``best/`` of another search is refused
(:mod:`ae_zoo.tuning.retraining`).
"""

import contextlib
import copy
import datetime
import json
import logging
import math
import os

import keras
import keras_tuner
import numpy as np
import tensorflow as tf
import yaml

from ae_zoo import data as data_lib
from ae_zoo import models as model_lib
from ae_zoo._io import atomic_path, write_json
from ae_zoo.training import recipes as recipe_lib
from ae_zoo.training.build import make_strategy
from ae_zoo.training.schedules import BetaSchedule
from ae_zoo.tuning import spaces
from ae_zoo.tuning.hypermodels import AutoencoderHyperModel, default_objective, make_objective
from ae_zoo.tuning.retraining import check_earlier_best, retrain_and_export
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


class _DropRetracingNotes(logging.Filter):
    """Every trial builds a new model, so tf.function's retracing notes are expected noise."""

    def filter(self, record):
        return "triggered tf.function retracing" not in record.getMessage()


@contextlib.contextmanager
def _quiet_retracing():
    logger, note_filter = tf.get_logger(), _DropRetracingNotes()
    logger.addFilter(note_filter)
    try:
        yield
    finally:
        logger.removeFilter(note_filter)


def _plain(value):
    """YAML/JSON-safe Python values (numpy scalars -> Python, tuples -> lists)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def best_recipe(raw_recipe, hypermodel, values, out):
    """The raw recipe with the searched ``values`` merged in, named ``<name>_tuned``, run in
    ``<out>/best``. Only the searched settings change; the result is validated."""
    validated = recipe_lib.validate(raw_recipe)
    config = hypermodel.config_for(values)
    updates = spaces.recipe_updates(config, [n for n in values if not n.startswith("tuner/")])
    recipe = recipe_lib.apply_overrides(raw_recipe, updates)
    recipe["name"] = f"{validated['name']}_tuned"
    recipe["out"] = os.path.join(out, "best")
    recipe = _plain(recipe)
    recipe_lib.validate(recipe)
    return recipe


class _RecipeDumper(yaml.SafeDumper):
    """Block style, except lists of scalars in one line (``hidden_units: [512, 256]``)."""


def _represent_list(dumper, value):
    flow = all(not isinstance(v, (list, dict)) for v in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)


_RecipeDumper.add_representer(list, _represent_list)


def write_recipe(recipe, path, header=()):
    """Writes ``recipe`` as YAML (comment lines first), atomically."""
    text = "".join(f"# {line}\n" for line in header)
    text += yaml.dump(_plain(recipe), Dumper=_RecipeDumper, sort_keys=False,
                      default_flow_style=False)
    with atomic_path(path, ".yaml") as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
    return path


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


def _trial_rows(tuner):
    rows = []
    for trial_id, trial in sorted(tuner.oracle.trials.items()):
        rows.append({"trial_id": trial_id, "status": str(trial.status),
                     "score": None if trial.score is None else float(trial.score),
                     "values": _plain({k: v for k, v in trial.hyperparameters.values.items()
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
        A dict: ``best_hyperparameters``, ``best_trial``, ``best_recipe`` (path),
        ``objective``, ``trials``, ``tuner``, and after retraining ``run`` (what
        :func:`~ae_zoo.experiments.train.run` returns) and ``export_path``.

    Raises:
        ValueError: an unknown tuner or objective, ``max_trials`` < 1, a bad recipe or
            ``tuning:`` section, a search directory holding other settings; all before
            any search starts.
    """
    with _quiet_retracing():
        return _tune(recipe, tuner=tuner, max_trials=max_trials, epochs=epochs,
                     objective=objective, out=out, export=export, overwrite=overwrite,
                     validation_split=validation_split, retrain=retrain, verbose=verbose,
                     command=command)


def _tune(recipe, *, tuner, max_trials, epochs, objective, out, export, overwrite,
          validation_split, retrain, verbose, command):
    _check_arguments(tuner, max_trials, epochs, validation_split)
    raw = _plain(copy.deepcopy(recipe))
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
    if retrain and not overwrite:  # before the search, not after it
        recorded = os.path.join(out, BEST_RECIPE)
        check_earlier_best(os.path.join(out, "best"), recorded if os.path.isdir(
            os.path.join(out, PROJECT)) and os.path.isfile(recorded) else None)

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
        f"Trial {best.trial_id}: {objective.name} = {float(best.score):.6g} ({objective.direction}).",
        f"Tuned: {_format_values(values)}.",
        f"Retrain: ae-zoo train --recipe {recipe_path}",
    ]
    write_recipe(result_recipe, recipe_path, header)
    summary = {
        "command": command, "objective": objective.name, "direction": objective.direction,
        "tuner": tuner, "max_trials": int(max_trials), "epochs": int(epochs),
        "validation_split": float(validation_split), "num_search_train": len(x),
        "num_search_validation": len(x_val), "search_space": space,
        "best": {"trial_id": best.trial_id, "score": float(best.score), "values": _plain(values)},
        "best_recipe": recipe_path, "trials": trials,
    }
    write_json(os.path.join(out, "tune.json"), summary)
    if verbose:
        print(f"\nBest trial {best.trial_id}: {objective.name} = {float(best.score):.4f} "
              f"({_format_values(values)})\nWrote {recipe_path}")
    result = {"best_hyperparameters": values, "best_trial": best.trial_id,
              "best_score": float(best.score), "best_recipe": recipe_path,
              "objective": objective, "trials": trials, "tuner": search, "out": out}
    if not retrain:
        return result

    keras.backend.clear_session()
    run_result, export_path = retrain_and_export(result_recipe, best.trial_id, export, overwrite,
                                                 verbose, command)
    summary.update(run=run_result["out"], export_path=export_path,
                   test_metrics={k: v for k, v in run_result["metrics"].items()
                                 if k.startswith("test_")})
    write_json(os.path.join(out, "tune.json"), summary)
    result.update(run=run_result, export_path=export_path)
    return result


def load_raw(path, overrides=()):
    """Reads a recipe YAML as written (no defaults filled in) with ``--set`` overrides applied."""
    path = os.fspath(path)
    if not os.path.exists(path):
        available = ", ".join(recipe_lib.names()) or "none"
        raise FileNotFoundError(f"No recipe file {path!r}. Shipped recipes: {available}")
    with open(path, encoding="utf-8") as f:
        try:
            raw = yaml.safe_load(f) or {}
        except yaml.YAMLError as err:
            raise recipe_lib.RecipeError(f"{path}: not valid YAML: {err}") from None
    raw = recipe_lib.apply_overrides(raw, overrides)
    try:
        recipe_lib.validate(raw)
    except recipe_lib.RecipeError as err:
        raise recipe_lib.RecipeError(f"{path}: {err}") from None
    return raw
