"""The last step of ``ae-zoo tune``: retrain the search's best recipe in ``<out>/best`` and
export it, so that a rerun of a command killed during this step finishes it.

``best/`` is this search's retraining when its ``run.json`` records the best recipe (every
key but where it lives and exports: the searched values, the trial's seed, the rest of the
recipe). A rerun keeps such a ``best/`` when it is whole (``model.keras`` readable and
``metrics.json`` written; trained again otherwise) and exports it unless a version of the
export folder already is its export (its card records the run's recipe and metrics). A
``best/`` of another search is refused, naming the keys that differ.
"""

import json
import os
import shutil

import yaml

from ae_zoo._io import OutputExists, check_keras_file, read_json, to_jsonable
from ae_zoo.experiments.train import run
from ae_zoo.export.card import export_run_once
from ae_zoo.training import recipes as recipe_lib
from ae_zoo.training.backup import flatten, key_differences


def recipe_differences(run_dir, recipe):
    """How the recipe the run in ``run_dir`` records (its run.json) differs from ``recipe``
    (where each lives and exports aside), as ``"key: was X, now Y"``; None when there is no
    readable record (or ``recipe`` is not valid)."""
    try:
        recorded = read_json(os.path.join(run_dir, "run.json"))["recipe"]
        recipe = json.loads(json.dumps(to_jsonable(recipe_lib.validate(recipe))))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(recorded, dict):
        return None
    old, new = (flatten({k: v for k, v in r.items() if k not in ("out", "export")})
                for r in (recorded, recipe))
    return key_differences(old, new)


def _another_search(run_dir, differences):
    return OutputExists(
        f"{run_dir} holds the retrained best of another search ("
        + ("; ".join(differences) if differences else "its run.json records no recipe")
        + "). Move it away, pass --overwrite to start the search over, or choose another --out.")


def check_earlier_best(run_dir, recorded):
    """Refuses, before searching, a finished ``run_dir`` that is not the retraining of the
    best recipe this search recorded (the file ``recorded``; None: the search has none)."""
    if not os.path.exists(os.path.join(run_dir, "model.keras")):
        return
    if recorded is None:
        raise _another_search(run_dir, ["this search recorded no best recipe"])
    with open(recorded, encoding="utf-8") as f:
        differences = recipe_differences(run_dir, yaml.safe_load(f))
    if differences or differences is None:
        raise _another_search(run_dir, differences)


def earlier_retraining(recipe, trial, overwrite=False):
    """What ``recipe["out"]`` holds of the retraining of the search's best (trial ``trial``):
    None (nothing, or ``overwrite``), ``"whole"`` (a rerun after a kill during the export)
    or ``"partial"`` (killed before its metrics were written). Another recipe's is refused."""
    run_dir = recipe["out"]
    if overwrite or not os.path.exists(os.path.join(run_dir, "model.keras")):
        return None
    differences = recipe_differences(run_dir, recipe)
    if differences or differences is None:
        raise _another_search(run_dir, [f"it is not the retraining of trial {trial}",
                                        *(differences or [])])
    try:
        check_keras_file(os.path.join(run_dir, "model.keras"))
        whole = isinstance(read_json(os.path.join(run_dir, "metrics.json")), dict)
    except (OSError, ValueError):
        whole = False
    return "whole" if whole else "partial"


def finished_run(run_dir):
    """A finished run as :func:`~ae_zoo.experiments.train.run` describes it: its ``out``,
    ``metrics`` and ``figures`` (the images it drew)."""
    return {"out": run_dir, "metrics": read_json(os.path.join(run_dir, "metrics.json")) or {},
            "figures": {name: name for name in sorted(os.listdir(run_dir))
                        if name.endswith((".png", ".gif"))}}


def _announce(recipe, trial):
    plan = recipe_lib.validate(recipe)["training"]
    length = f"{plan['steps']} steps" if plan["steps"] else f"{plan['epochs']} epoch(s)"
    print(f"\nRetraining trial {trial}'s values from scratch on the whole train split "
          f"({length}) into {recipe['out']}/, then testing and exporting it ...")


def retrain_and_export(result_recipe, trial, export, overwrite, verbose, command):
    """Retrains ``result_recipe`` (the best, of trial ``trial`` as keras-tuner numbered it) in
    its ``out`` (announced) unless an earlier run of the command retrained it whole, then
    exports it with its card to ``export`` or the recipe's export directory unless a version
    there already is its export. Returns ``(what run returns, or the run's out, metrics,
    figures and recipe; export path or None)``."""
    run_recipe = dict(result_recipe, export=None)  # exported below, with its card
    target = recipe_lib.validate(result_recipe)["export"] or {}
    run_dir = run_recipe["out"]
    earlier = earlier_retraining(run_recipe, trial, overwrite)
    if earlier == "whole":
        if verbose:
            print(f"\n{run_dir} holds trial {trial} retrained earlier: exporting it, unless "
                  "it was exported already.")
        run_result = dict(finished_run(run_dir), recipe=recipe_lib.validate(run_recipe))
    else:
        _drop_stale_backup(run_recipe, overwrite)
        if verbose:
            _announce(run_recipe, trial)
        run_result = run(run_recipe, verbose={0: 0, 1: 2, 2: 1}.get(verbose, 2), command=command,
                         overwrite=overwrite or earlier == "partial",
                         log=print if verbose else None)
    if export is None and not target.get("dir"):
        return run_result, None
    export_dir = export if export is not None else os.path.join(run_dir, target["dir"])
    version = None if export is not None else target["version"]
    path = export_run_once(run_dir, export_dir, version=version, overwrite=overwrite)["path"]
    return run_result, path


def _drop_stale_backup(recipe, overwrite):
    """Removes the retraining's ``backup/`` when it belongs to another recipe (an earlier best,
    or a search started over): ``experiments.train.run`` would resume from it otherwise."""
    out = recipe_lib.validate(recipe)["out"]
    backup = os.path.join(out, "backup")
    if os.path.isdir(backup) and (overwrite or recipe_differences(out, recipe) != []):
        shutil.rmtree(backup)
