"""What the experiment drivers share: loading the thing to evaluate (a run, a ``.keras``
file or an exported model, all behind one model interface), the data it is evaluated on,
and the bookkeeping of the many-run drivers (study, benchmark): list arguments, run files
read leniently, durations, per-model summaries over seeds; the closing lines that name
the figures a command wrote."""

import os
import textwrap

import numpy as np

from ae_zoo import data as data_lib
from ae_zoo._io import read_json
from ae_zoo.export.card import load_run, run_facts
from ae_zoo.export.pretrained import load_pretrained


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

    ``model`` is the Keras model, or for a SavedModel the ``load_pretrained`` wrapper: both
    answer the same methods and capabilities. ``info``: ``kind`` ("run", "keras" or
    "saved_model"), ``path``, ``name``, ``dataset``, ``data_options``, ``data_dir``,
    ``iwae_samples`` (the recipe's), ``train_split``, ``run_dir``, ``registry_name``, and
    for a SavedModel its ``card``.
    """
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
            "train_split": (recipe.get("data") or {}).get("train_split") or "train",
            "iwae_samples": ((recipe.get("training") or {}).get("iwae_samples")),
            "registry_name": facts["model"] or model.registry_name,
        }
    if os.path.isdir(path) and not _is_saved_model_dir(path):
        raise FileNotFoundError(
            f"{path} is neither a run directory (no model.keras) nor a SavedModel folder (no "
            "saved_model.pb or numeric version directory)")
    model = load_pretrained(path, require_card=False)
    card = model.card or {}
    return model, {
        "kind": "saved_model", "path": path, "version_dir": model.path, "run_dir": None,
        "name": model.name, "dataset": card.get("dataset"),
        "data_options": dict(card.get("data_options") or {}), "data_dir": None,
        "iwae_samples": None, "train_split": "train", "registry_name": card.get("model"),
        "card": card,
    }


def load_split(name, split="test", data_dir=None, **options):
    """``ae_zoo.data.load`` with the data options recorded by a run or a card."""
    kwargs = dict(options)
    if data_dir:
        kwargs["data_dir"] = data_dir
    return data_lib.load(name, split, **kwargs)


def check_dataset(model, dataset):
    """Raises a clear error when ``dataset`` does not fit ``model``: images of another
    shape, or no labels for a conditional model."""
    shape = tuple(model.example_shape)
    if tuple(dataset.input_shape) != shape:
        raise ValueError(f"dataset {dataset.name!r} has images of shape {dataset.input_shape}, but "
                         f"the model takes {shape}; pass the dataset it was trained on (--dataset)")
    if model.conditional and dataset.y is None:
        raise ValueError(f"the model is conditional: it needs class labels, and dataset "
                         f"{dataset.name!r} has none")


def parse_list(value, kind, what):
    """``value`` (a list, or a comma-separated string) as a list of ``kind``; ``what`` names
    it in the errors (empty, duplicates, a bad item)."""
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    try:
        items = [kind(v) for v in value]
    except (TypeError, ValueError):
        raise ValueError(f"{what}: expected a comma-separated list, got {value!r}") from None
    if not items:
        raise ValueError(f"{what}: the list is empty")
    if len(set(items)) != len(items):
        raise ValueError(f"{what}: {items} has duplicates")
    return items


def read_json_lenient(path):
    """``read_json``, with an unreadable file counted as missing (its run is redone)."""
    try:
        return read_json(path)
    except ValueError:
        return None


def fmt_time(seconds):
    """Seconds as "42 s", "12 min" or "1.5 h" ("?" for None)."""
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def summarize(rows, models, columns, key="model"):
    """``{model: {column: {"mean", "std", "min", "max", "n"}}}`` over seeds (std: ddof=1);
    ``key``: the row field that ``models`` name (e.g. a study's "setup")."""
    summary = {}
    for model in models:
        mine = [r for r in rows if r[key] == model]
        summary[model] = {}
        for col in columns:
            vals = np.array([r[col] for r in mine if r.get(col) is not None], dtype=np.float64)
            summary[model][col] = {
                "mean": float(vals.mean()) if len(vals) else None,
                "std": float(vals.std(ddof=1)) if len(vals) > 1 else None,
                "min": float(vals.min()) if len(vals) else None,
                "max": float(vals.max()) if len(vals) else None,
                "n": int(len(vals)),
            }
    return summary


def figure_lines(out, files, width=100):
    """The closing lines of a command that drew figures: every file it wrote into ``out``
    (``files``: names, or a ``{figure: name}`` dict), wrapped between names."""
    names = list(files.values()) if isinstance(files, dict) else list(files)
    if not names:
        return [f"No figures in {out}/."]
    return textwrap.wrap(f"Figures ({len(names)}) in {out}/: {', '.join(names)}", width=width,
                         subsequent_indent="  ", break_long_words=False, break_on_hyphens=False)
