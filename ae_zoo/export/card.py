"""Export a training run into the zoo: the SavedModel version plus its card.

``export_run("runs/vae_mnist5k", "exports/vae_mnist5k")`` (the command
``ae-zoo export runs/vae_mnist5k --out exports/vae_mnist5k``) loads the run's
``model.keras``, exports it with :func:`export_saved_model` (with the Keras model as
``<version>/model.keras``, compiled for fine-tuning), and writes its card into the version
(``<version>/card.json``, written before the version is published) and beside the versions
(``card.json`` and a short ``README.md``, describing the latest export).
``load_pretrained(..., version=N).card`` is version N's own card. The card records how to reproduce the model (recipe, command,
dataset and split, epochs, seed), its test metrics from ``metrics.json``, the
signatures with their shapes and dtypes, and the versions it was made with.
"""

import os
import platform

import keras
import tensorflow as tf

from ae_zoo._io import read_json, write_json, write_text
from ae_zoo._version import __version__
from ae_zoo._zoo import numeric_versions
from ae_zoo.export.saved_model import export_saved_model, signature_specs
from ae_zoo.models.preset import load_keras
from ae_zoo.training.build import make_optimizer

#: The card's file name, in the model folder and in each version directory.
CARD_FILE = "card.json"

#: metrics.json keys summarized in the card's README, with their meaning.
HEADLINE_METRICS = {
    "test_reconstruction_mse": "per-pixel reconstruction MSE (mean image vs. input)",
    "test_reconstruction_loss": "the training reconstruction term",
    "test_elbo": "ELBO, nats per example",
    "test_iwae_nll": "-log p(x), importance-weighted estimate, nats per example",
    "test_kl": "KL(q(z\\|x) \\|\\| p(z)), nats per example",
}


#: The learning rate a preset is compiled with, as a fraction of its recipe's.
FINE_TUNING_RATE = 0.1
#: The optional keys of a recipe's ``training.optimizer``.
_OPTIMIZER_KEYS = ("beta_1", "beta_2", "momentum", "weight_decay", "clipnorm")


def compile_for_fine_tuning(model, recipe=None):
    """Compiles ``model`` with its recipe's optimizer (default Adam(1e-3)) at a tenth of
    the base learning rate, without the schedule it trained with: fine-tuning a trained
    model at the full rate first undoes part of the training."""
    config = ((recipe or {}).get("training") or {}).get("optimizer") or {}
    # run.json's recipe is validated; an older or hand-written one may omit keys
    config = {**dict.fromkeys(_OPTIMIZER_KEYS), "name": "adam", "learning_rate": 1e-3, **config}
    config["learning_rate"] *= FINE_TUNING_RATE
    model.compile(optimizer=make_optimizer({"optimizer": config, "lr_schedule": None}, 1))
    return model


def load_run(run):
    """``(model, run.json dict, metrics.json dict, model path)`` for a run directory or ``.keras`` file.

    A ``.keras`` file that is a run directory's ``model.keras`` picks up that
    run's files; any other ``.keras`` file exports without run information.
    """
    run = os.fspath(run)
    if os.path.isdir(run):
        model_path, run_dir = os.path.join(run, "model.keras"), run
        if not os.path.isfile(model_path):
            raise FileNotFoundError(f"{run} has no model.keras: is it a run directory of `ae-zoo train`?")
    elif run.endswith(".keras"):
        if not os.path.isfile(run):
            raise FileNotFoundError(f"No such model file: {run}")
        model_path = run
        run_dir = os.path.dirname(run) if os.path.basename(run) == "model.keras" else None
    else:
        raise FileNotFoundError(f"{run} is neither a run directory nor a .keras file.")
    run_info = (read_json(os.path.join(run_dir, "run.json")) if run_dir else None) or {}
    metrics = (read_json(os.path.join(run_dir, "metrics.json")) if run_dir else None) or {}
    model = load_keras(model_path)
    return model, run_info, metrics, model_path


def export_versions():
    return {"ae_zoo": __version__, "tensorflow": tf.__version__,
            "keras": keras.__version__, "python": platform.python_version()}


def _get(tree, *path):
    for key in path:
        if not isinstance(tree, dict):
            return None
        tree = tree.get(key)
    return tree


def run_facts(run_info):
    """What the card needs from a ``run.json``, in either of its layouts.

    Recipe runs store ``{"recipe": {model, data, training, ...}, "command", "epochs", ...}``;
    older runs stored flat ``{"model", "dataset", "epochs", "seed", ...}``.
    """
    run_info = run_info or {}
    recipe = run_info.get("recipe")
    if isinstance(recipe, dict):
        name = recipe.get("name")
        return {
            "model": _get(recipe, "model", "name") or run_info.get("registry_name"),
            "recipe": f"recipes/{name}.yaml" if name else None,
            "recipe_config": recipe,
            "dataset": _get(recipe, "data", "name"),
            "data_options": _get(recipe, "data", "options") or {},
            "epochs": run_info.get("epochs", _get(recipe, "training", "epochs")),
            "batch_size": _get(recipe, "training", "batch_size"),
            "seed": _get(recipe, "training", "seed"),
            "learning_rate": _get(recipe, "training", "optimizer", "learning_rate"),
            "model_options": _get(recipe, "model", "options") or {},
        }
    return {
        "model": run_info.get("model"),
        "recipe": recipe,
        "recipe_config": None,
        "dataset": run_info.get("dataset"),
        "data_options": run_info.get("data_options") or {},
        "epochs": run_info.get("epochs"),
        "batch_size": run_info.get("batch_size"),
        "seed": run_info.get("seed"),
        "learning_rate": run_info.get("learning_rate"),
        "model_options": run_info.get("model_options") or {},
    }


def make_card(name, model, export_dir, run_info=None, metrics=None, recipe=None, source=None,
              version=None):
    """The card (a JSON-able dict) of ``model`` exported to ``export_dir`` (its ``version``:
    the directory's name unless given)."""
    run_info, metrics = run_info or {}, metrics or {}
    facts = run_facts(run_info)
    metrics = {k: v for k, v in metrics.items() if k != "export_path"}
    card = {
        "name": name,
        "model": facts["model"] or getattr(model, "registry_name", type(model).__name__),
        "class": type(model).__name__,
        "capabilities": model.capabilities(),
        "sampler": model.sampler_name,
        "architecture": getattr(model, "architecture", None),
        "latent_dim": int(model.latent_dim),
        "input_shape": list(model.example_shape),
        "recipe": recipe or facts["recipe"],
        "recipe_config": facts["recipe_config"],
        "command": run_info.get("command"),
        "dataset": facts["dataset"],
        "data_options": facts["data_options"],
        "split": {"train": "train", "test": "test",
                  "num_train_examples": metrics.get("num_train_examples"),
                  "num_test_examples": metrics.get("num_test_examples")},
        "epochs": facts["epochs"],
        "batch_size": facts["batch_size"],
        "seed": facts["seed"],
        "learning_rate": facts["learning_rate"],
        "model_options": facts["model_options"],
        "metrics": metrics,
        "version": version if version is not None else int(os.path.basename(export_dir)),
        "signatures": signature_specs(export_dir),
        "versions": export_versions(),
        "trained_with": run_info.get("versions"),
        "source": source,
        "run_dir": (os.path.dirname(source) or ".") if source and os.path.basename(source) == "model.keras"
        else None,
    }
    if model.conditional:
        card["num_classes"] = int(model.num_classes)
    return card


def _fmt_shape(shape):
    return "[" + ", ".join("None" if d is None else str(d) for d in shape) + "]" if shape is not None else "?"


def card_markdown(card):
    """The model card's short ``README.md``."""
    lines = [f"# {card['name']}", ""]
    what = (f"`{card['class']}` (`{card['model']}`, {card.get('architecture') or 'custom'} networks, "
            f"latent_dim {card['latent_dim']}), input shape {_fmt_shape(card['input_shape'])}")
    if card.get("dataset"):
        lines += [f"{what}, trained on `{card['dataset']}` (train split, evaluated on the test split).", ""]
    else:
        lines += [f"{what}. Exported from a `.keras` file without its training run: no recipe, data "
                  "or metrics are recorded.", ""]
    reproduce = []
    if card.get("recipe"):
        reproduce += [f"Recipe: `{card['recipe']}`", ""]
    if card.get("command"):
        run_dir = _get(card.get("recipe_config"), "out") or card.get("run_dir") or "RUN_DIR"
        reproduce += ["```bash", card["command"],
                      f"ae-zoo export {run_dir} --out exports/{card['name']}", "```", ""]
    sizes = (card["split"].get("num_train_examples"), card["split"].get("num_test_examples"))
    facts = [("dataset", card.get("dataset")), ("data options", card.get("data_options") or None),
             ("train / test examples", None if sizes == (None, None) else "{} / {}".format(*sizes)),
             ("epochs", card.get("epochs")), ("batch size", card.get("batch_size")),
             ("seed", card.get("seed")), ("learning rate", card.get("learning_rate"))]
    facts = [f"- {k}: {v}" for k, v in facts if v is not None]
    if facts:
        reproduce += facts + [""]
    if reproduce:
        lines += ["## Reproduce", ""] + reproduce
    metrics = card.get("metrics") or {}
    shown = [(k, d) for k, d in HEADLINE_METRICS.items() if k in metrics]
    if shown:
        lines += ["## Test metrics", "", "| metric | value | meaning |", "|---|---|---|"]
        lines += [f"| `{k}` | {metrics[k]:.4f} | {d} |" for k, d in shown]
        if "iwae_samples" in metrics:
            lines += ["", f"-log p(x) uses {metrics['iwae_samples']} importance samples on "
                          f"{metrics.get('iwae_examples')} test examples."]
        lines.append("")
    lines += ["## Signatures (SavedModel version {})".format(card["version"]), "",
              "| signature | inputs | outputs |", "|---|---|---|"]
    for sig, spec in card["signatures"].items():
        fmt = lambda d: ", ".join(f"`{k}` {v['dtype']} {_fmt_shape(v['shape'])}" for k, v in d.items())  # noqa: E731
        lines.append(f"| `{sig}` | {fmt(spec['inputs'])} | {fmt(spec['outputs'])} |")
    versions = card["versions"]
    lines += ["", f"Exported with ae_zoo {versions['ae_zoo']}, TensorFlow {versions['tensorflow']}, "
                  f"Keras {versions['keras']}. Serve it with TF Serving >= {versions['tensorflow']}; "
                  f"load it with `ae_zoo.load_pretrained(\"{card['name']}\")`.", ""]
    return "\n".join(lines)


def write_card(folder, card):
    """Writes ``card.json`` and ``README.md`` into ``folder``, each atomically."""
    write_json(os.path.join(folder, CARD_FILE), card)
    write_text(os.path.join(folder, "README.md"), card_markdown(card))
    return os.path.join(folder, CARD_FILE)


def export_run(run, out, version=None, recipe=None, warmup=None, overwrite=False):
    """Exports a training run (directory or ``.keras`` file) to ``out/<version>/`` with its card.

    An existing ``version`` is refused unless ``overwrite``. Returns ``{"path": version
    directory, "card": dict, "card_path": ...}``.

    Example:
        >>> export_run("runs/vae_mnist5k", "exports/vae_mnist5k")
    """
    model, run_info, metrics, model_path = load_run(run)
    out = os.fspath(out)
    compile_for_fine_tuning(model, run_info.get("recipe"))  # the model.keras beside the SavedModel
    name = os.path.basename(os.path.abspath(out))
    source = os.path.relpath(model_path) if not os.path.isabs(os.fspath(run)) else model_path
    cards = []

    def card_into_version(tmp, number):
        card = make_card(name, model, tmp, run_info, metrics, recipe=recipe, source=source,
                         version=number)
        cards.append(card)
        write_json(os.path.join(tmp, CARD_FILE), card)

    path = export_saved_model(model, out, version=version, warmup=warmup, keras_file=True,
                              overwrite=overwrite, before_publish=card_into_version)
    card = cards[0]
    card_path = write_card(out, card)
    return {"path": path, "card": card, "card_path": card_path}


def find_export(run, out, version=None):
    """The version directory of the model folder ``out`` (only ``version``, if given) whose
    card records the run directory ``run``'s recipe and metrics: an export of that run; or
    None."""
    recipe = (read_json(os.path.join(run, "run.json")) or {}).get("recipe")
    metrics = read_json(os.path.join(run, "metrics.json"))
    if recipe is None or not metrics:
        return None
    metrics = {k: v for k, v in metrics.items() if k != "export_path"}
    for number in reversed(numeric_versions(out) if version is None else [version]):
        path = os.path.join(out, str(number))
        try:
            card = read_json(os.path.join(path, CARD_FILE)) or {}
        except ValueError:  # a damaged card: not this run's
            continue
        if card.get("recipe_config") == recipe and card.get("metrics") == metrics:
            return path
    return None


def export_run_once(run, out, version=None, overwrite=False):
    """:func:`export_run`, unless a version of ``out`` is already an export of ``run``
    (:func:`find_export`; a rerun after a command killed once its export was published):
    then that version, with the folder's card written again when it is the latest."""
    path = find_export(run, out, version)
    if path is None:
        return export_run(run, out, version=version, overwrite=overwrite)
    card = read_json(os.path.join(path, CARD_FILE))
    if numeric_versions(out)[-1] == card["version"]:
        write_card(out, card)  # the export may have been killed before it wrote this
    return {"path": path, "card": card, "card_path": os.path.join(out, CARD_FILE)}
