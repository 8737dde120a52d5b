"""Training recipes: one YAML file per (model, dataset) setup, validated before training.

A recipe names the model and its hyperparameters, the architecture, the dataset, the
optimizer and learning-rate schedule, batch size, epochs or steps, callbacks, the seed,
speed settings (XLA, steps per execution, mixed precision, tf.distribute strategy) and
where to export. Every key is checked: unknown keys, wrong types and impossible values
raise :class:`RecipeError` naming the key, e.g. ``training.batch_size: must be >= 1, got 0``.

    model:
      name: vae
      latent_dim: 16
      architecture: mlp
      options: {beta: 1.0, hidden_units: [512, 256]}
    data: {name: mnist5k}
    training: {epochs: 30, batch_size: 128, seed: 0, optimizer: {name: adam, learning_rate: 0.001}}
    callbacks: {early_stopping: {patience: 10}}
    sampler: {name: default}          # or none, gmm, two_stage, maf, pixelcnn; options: {...}
    export: {dir: saved_models/vae_mnist5k}
"""

import copy
import inspect
import math
import os
import re

import yaml

from ae_zoo import data, models, nets, samplers


class RecipeError(ValueError):
    """A recipe key is unknown, of the wrong type, or has an impossible value."""


#: The largest integer a count, size or step may have (TensorFlow's int32 shapes).
INT_MAX = 2**31 - 1


class Field:
    """A leaf of the schema: accepted types, a default, and an optional check (numbers are
    finite; integers at most :data:`INT_MAX` unless ``maximum`` says otherwise)."""

    def __init__(self, types, default=None, choices=None, minimum=None, maximum=None,
                 exclusive_minimum=False, doc=""):
        self.types = types if isinstance(types, tuple) else (types,)
        self.default = default
        self.choices = choices
        self.minimum = minimum
        self.maximum = maximum
        self.exclusive_minimum = exclusive_minimum
        self.doc = doc

    def validate(self, key, value):
        if value is None:
            return None
        if float in self.types and isinstance(value, int) and not isinstance(value, bool):
            try:
                value = float(value)
            except OverflowError:
                raise RecipeError(f"{key}: must be a finite number, got {value!r}") from None
        if isinstance(value, bool) and bool not in self.types:
            raise RecipeError(f"{key}: expected {self._type_names()}, got {value!r}")
        if not isinstance(value, self.types):
            raise RecipeError(f"{key}: expected {self._type_names()}, got {type(value).__name__} {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise RecipeError(f"{key}: must be a finite number, got {value!r}")
        if isinstance(value, int) and not isinstance(value, bool) and self.maximum is None \
                and value > INT_MAX:
            raise RecipeError(f"{key}: must be <= {INT_MAX}, got {value!r}")
        if self.choices is not None and value not in self.choices:
            raise RecipeError(f"{key}: must be one of {', '.join(map(str, self.choices))}; got {value!r}")
        if self.minimum is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
            if value < self.minimum or (self.exclusive_minimum and value == self.minimum):
                op = ">" if self.exclusive_minimum else ">="
                raise RecipeError(f"{key}: must be {op} {self.minimum}, got {value!r}")
        if self.maximum is not None and isinstance(value, (int, float)) and value > self.maximum:
            raise RecipeError(f"{key}: must be <= {self.maximum}, got {value!r}")
        if isinstance(value, list):
            value = list(value)
        return value

    def _type_names(self):
        names = {int: "an integer", float: "a number", str: "a string", bool: "true/false",
                 list: "a list", dict: "a mapping"}
        return " or ".join(names.get(t, t.__name__) for t in self.types)


def _positive_int(default=None, doc=""):
    return Field(int, default, minimum=1, doc=doc)


def _optional_section(schema):
    """A callback section: null/false disables it, true or a mapping enables it."""
    return ("optional", schema)


SCHEMA = {
    "name": Field(str, doc="recipe name"),
    "description": Field(str),
    "model": {
        "name": Field(str, doc="registered model name"),
        "latent_dim": _positive_int(),
        "architecture": Field(str, choices=nets.ARCHITECTURES),
        "options": Field(dict, {}, doc="model hyperparameters (constructor keyword arguments)"),
    },
    "data": {
        "name": Field(str, "mnist5k"),
        "data_dir": Field(str),
        "train_split": Field(str, "train", doc="split to train on (TFDS slicing allowed)"),
        "test_split": Field(str, "test", doc="split to evaluate on, once, after training"),
        "validation_split": Field(float, 0.1, minimum=0.0, maximum=0.5,
                                  doc="seeded fraction of the train split held out to validate "
                                      "on (checkpoints, early stopping); 0: no validation"),
        "options": Field(dict, {}, doc="keyword options of ae_zoo.data.load"),
        "memory_budget_mb": Field(float, 4096.0, minimum=0.0,
                                  doc="a TFDS split whose images (uint8) would take more memory "
                                      "than this is streamed from its files instead"),
        "evaluation_examples": _positive_int(
            10000, doc="the test examples a streamed test split is evaluated on"),
    },
    "training": {
        "epochs": _positive_int(10),
        "steps": _positive_int(doc="total optimizer steps; overrides epochs"),
        "steps_per_epoch": _positive_int(doc="steps between validations (default: a pass over the data)"),
        "batch_size": _positive_int(128, doc="global batch size"),
        "seed": Field(int, 0, minimum=0, maximum=2**32 - 1),
        "optimizer": {
            "name": Field(str, "adam", choices=("adam", "adamw", "sgd", "rmsprop")),
            "learning_rate": Field(float, 1e-3, minimum=0.0, exclusive_minimum=True),
            "beta_1": Field(float, minimum=0.0, maximum=1.0),
            "beta_2": Field(float, minimum=0.0, maximum=1.0),
            "momentum": Field(float, minimum=0.0),
            "weight_decay": Field(float, minimum=0.0),
            "clipnorm": Field(float, minimum=0.0, exclusive_minimum=True),
        },
        "lr_schedule": _optional_section({
            "name": Field(str, "cosine", choices=("constant", "cosine", "exponential")),
            "warmup_steps": Field(int, 0, minimum=0),
            "decay_steps": _positive_int(),
            "decay_rate": Field(float, 0.96, minimum=0.0, exclusive_minimum=True),
            "alpha": Field(float, 0.0, minimum=0.0, maximum=1.0),
        }),
        "jit_compile": Field((bool, str), "auto"),
        "steps_per_execution": Field((int, str), "auto"),
        "mixed_precision": Field(str, choices=("float32", "mixed_float16", "mixed_bfloat16")),
        "strategy": Field(str, choices=("default", "mirrored", "multiworker")),
        "iwae_samples": Field(int, 50, minimum=0),
    },
    "callbacks": {
        "backup": Field(bool, True, doc="BackupAndRestore: resume an interrupted run"),
        "csv_log": Field(bool, True),
        "terminate_on_nan": Field(bool, True),
        "checkpoint": _optional_section({
            "monitor": Field(str, "val_loss"),
            "mode": Field(str, "min", choices=("min", "max")),
        }),
        "early_stopping": _optional_section({
            "monitor": Field(str, "val_loss"),
            "mode": Field(str, "min", choices=("min", "max"),
                          doc="min: a loss term (Keras cannot tell for a term it does not know)"),
            "patience": Field(int, 10, minimum=0),
            "min_delta": Field(float, 0.0, minimum=0.0),
            "restore_best_weights": Field(bool, False),
        }),
        "tensorboard": _optional_section({
            "every_n_epochs": _positive_int(1),
            "images": Field(bool, True),
        }),
        "beta_schedule": _optional_section({
            "schedule": Field(str, "linear", choices=("linear", "cyclical")),
            "start": Field(float, 0.0, minimum=0.0),
            "stop": Field(float, minimum=0.0),
            "warmup_steps": _positive_int(1000),
            "cycles": _positive_int(),
            "ratio": Field(float, 0.5, minimum=0.0, maximum=1.0, exclusive_minimum=True),
            "update": Field(str, "batch", choices=("batch", "epoch")),
        }),
    },
    "sampler": {
        "name": Field(str, "default", doc="the sampler fitted to the codes after training: "
                                          "default (the model's default_sampler), none, or a "
                                          "name of ae_zoo.samplers"),
        "options": Field(dict, {}, doc="the sampler's keyword arguments"),
        "examples": _positive_int(60000, doc="the sampler is fitted to the codes of at most "
                                             "this many training examples (a streamed split: "
                                             "its first ones)"),
    },
    "export": _optional_section({
        "dir": Field(str, doc="SavedModel base directory; a relative path is inside the run"),
        "version": _positive_int(),
    }),
    "out": Field(str, doc="run directory (default runs/<recipe name>)"),
    "tuning": Field(dict, doc="ae-zoo tune's search space: hyperparameter -> spec "
                              "(see ae_zoo.tuning.spaces); ignored by ae-zoo train"),
}


def _validate(schema, value, path):
    if isinstance(schema, Field):
        return schema.validate(path, value)
    if isinstance(schema, tuple) and schema[0] == "optional":
        if value is None or value is False:
            return None
        return _validate(schema[1], {} if value is True else value, path)
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise RecipeError(f"{path or 'recipe'}: expected a mapping, got {type(value).__name__} {value!r}")
    unknown = sorted(set(value) - set(schema), key=str)
    if unknown:
        where = f"{path}." if path else ""
        raise RecipeError(
            f"{where}{unknown[0]}: unknown key; valid keys{' under ' + path if path else ''}: "
            f"{', '.join(sorted(schema))}"
        )
    out = {}
    for key, sub in schema.items():
        sub_path = f"{path}.{key}" if path else key
        if isinstance(sub, Field):
            out[key] = sub.validate(sub_path, value.get(key, copy.deepcopy(sub.default)))
        else:
            out[key] = _validate(sub, value.get(key, None if isinstance(sub, tuple) else {}), sub_path)
    return out


def model_parameters(cls):
    """Keyword arguments ``cls`` accepts: its and its bases' ``__init__`` parameters, less
    the ones it declares it does not take (``excluded_arguments``)."""
    names = set(nets.NETWORK_OPTIONS) | {"name"}
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass.__module__.startswith("keras"):
            continue
        for param in inspect.signature(init).parameters.values():
            if param.kind not in (param.VAR_KEYWORD, param.VAR_POSITIONAL) and param.name != "self":
                names.add(param.name)
    return names - set(cls.excluded_arguments)


#: Network options that are a positive integer or a list of them.
_SIZE_OPTIONS = ("hidden_units", "filters", "dense_units", "kernel_size", "strides", "pool_size")


def _check_option_values(options):
    """Every number in ``model.options`` finite; network sizes positive integers."""
    for key, value in options.items():
        leaves = value if isinstance(value, (list, tuple)) else [value]
        for leaf in leaves:
            if isinstance(leaf, int) and not isinstance(leaf, bool) and abs(leaf) > INT_MAX * 2**32:
                raise RecipeError(f"model.options.{key}: {leaf!r} is out of range")
            if isinstance(leaf, float) and not math.isfinite(leaf):
                raise RecipeError(f"model.options.{key}: must be a finite number, got {value!r}")
            if key in _SIZE_OPTIONS and (isinstance(leaf, bool) or not isinstance(leaf, int)
                                         or not 1 <= leaf <= INT_MAX):
                raise RecipeError(f"model.options.{key}: expected a positive integer or a list "
                                  f"of them, got {value!r}")


def _check_model_arguments(cls, model):
    """Creates the model unbuilt (no networks, no data) so that its own argument checks run
    now, their errors naming ``model.options.<key>``."""
    kwargs = {k: tuple(v) if k in _SIZE_OPTIONS and isinstance(v, list) else v
              for k, v in model["options"].items()}
    if cls.conditional:
        kwargs.setdefault("num_classes", 10)  # the dataset's, at run time
    try:
        cls(latent_dim=model["latent_dim"] or 16, architecture=model["architecture"], **kwargs)
    except (ValueError, TypeError) as err:
        named = [k for k in re.findall(r"`(\w+)`", str(err)) if k in model["options"]]
        where = f"model.options.{named[0]}" if named else "model.options"
        raise RecipeError(f"{where}: {err}") from None


def _check_semantics(recipe):
    model = recipe["model"]
    if not model["name"]:
        raise RecipeError("model.name: required (one of " + ", ".join(models.names()) + ")")
    try:
        cls = models.get(model["name"])
    except ValueError as err:
        raise RecipeError(f"model.name: {err}") from None
    reserved = {"latent_dim", "architecture", "input_shape", "seed", "encoder", "decoder"}
    accepted = model_parameters(cls) - reserved
    for key in model["options"]:
        if key in reserved:
            raise RecipeError(f"model.options.{key}: set it as model.{key} or let the runner set it")
        if key not in accepted:
            raise RecipeError(
                f"model.options.{key}: {model['name']} does not take it; it takes "
                f"{', '.join(sorted(accepted))}"
            )
    arch_options = {k: v for k, v in model["options"].items() if k in nets.NETWORK_OPTIONS}
    architecture = model["architecture"] or getattr(cls, "default_architecture", "mlp")
    try:
        nets.validate_options(architecture, arch_options)
    except TypeError as err:
        raise RecipeError(f"model.options: {err}") from None
    _check_option_values(model["options"])
    _check_model_arguments(cls, model)
    if recipe["data"]["name"] not in data.names() and not recipe["data"]["name"].startswith("tfds:"):
        raise RecipeError(f"data.name: unknown dataset {recipe['data']['name']!r}; valid names: "
                          f"{', '.join(data.names())}")
    training = recipe["training"]
    jit = training["jit_compile"]
    if isinstance(jit, str) and jit != "auto":
        raise RecipeError(f"training.jit_compile: must be true, false or auto; got {jit!r}")
    spe = training["steps_per_execution"]
    if isinstance(spe, str) and spe != "auto" or isinstance(spe, int) and spe < 1:
        raise RecipeError(f"training.steps_per_execution: must be a positive integer or auto; got {spe!r}")
    if not recipe["data"]["validation_split"]:
        for name in ("checkpoint", "early_stopping"):
            section = recipe["callbacks"][name]
            if section and section["monitor"].startswith("val_"):
                raise RecipeError(
                    f"callbacks.{name}.monitor: {section['monitor']} needs validation data, but "
                    "data.validation_split is 0; hold some out or monitor a training metric"
                )
    sampler = recipe["sampler"]["name"]
    if sampler not in ("default", "none", *samplers.names()):
        raise RecipeError(f"sampler.name: unknown sampler {sampler!r}; valid names: default, none, "
                          f"{', '.join(samplers.names())}")
    if sampler not in ("default", "none") and cls.conditional:
        raise RecipeError(f"sampler.name: {model['name']} is conditional; samplers model "
                          "unconditional codes (use none)")
    schedule = training["lr_schedule"]
    if schedule and schedule["name"] == "exponential" and not schedule["decay_steps"]:
        raise RecipeError("training.lr_schedule.decay_steps: required for the exponential schedule")


def validate(recipe):
    """Returns the recipe with defaults filled in; raises :class:`RecipeError` on bad keys."""
    out = _validate(SCHEMA, recipe, "")
    _check_semantics(out)
    if not out["name"]:
        out["name"] = f"{out['model']['name']}_{out['data']['name']}"
    if not out["out"]:
        out["out"] = os.path.join("runs", out["name"])
    return out


def parse_override(text):
    """``"training.epochs=5"`` -> (["training", "epochs"], 5); the value is parsed as YAML."""
    if "=" not in text:
        raise RecipeError(f"--set {text!r}: expected KEY=VALUE, e.g. training.epochs=5")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise RecipeError(f"--set {text!r}: empty key")
    return key.split("."), parse_value(raw, f"--set {text!r}")


def parse_value(raw, what):
    """``raw`` parsed as a YAML value (None when blank); bad YAML is a :class:`RecipeError`
    naming ``what``."""
    if not raw.strip():
        return None
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError as err:
        problem = " ".join(str(getattr(err, "problem", None) or err).split())
        raise RecipeError(f"{what}: the value is not valid YAML ({problem}); quote it if it is "
                          "a string") from None


def apply_overrides(recipe, overrides):
    """Sets dotted keys (``model.options.beta=4``) in a copy of ``recipe``."""
    if not isinstance(recipe, dict):
        raise RecipeError(f"recipe: expected a mapping of sections (model, data, training, ...), "
                          f"got {type(recipe).__name__}")
    recipe = copy.deepcopy(recipe)
    for item in overrides:
        path, value = parse_override(item) if isinstance(item, str) else item
        node = recipe
        for part in path[:-1]:
            if node.get(part) is None or node.get(part) is True:
                node[part] = {}
            if not isinstance(node[part], dict):
                raise RecipeError(f"{'.'.join(path)}: {part} is not a mapping")
            node = node[part]
        node[path[-1]] = value
    return recipe


def load(path, overrides=()):
    """Reads, overrides and validates the recipe at ``path``."""
    path = os.fspath(path)
    if not os.path.exists(path):
        available = ", ".join(names()) or "none"
        raise FileNotFoundError(f"No recipe file {path!r}. Shipped recipes: {available}")
    with open(path, encoding="utf-8") as f:
        try:
            raw = yaml.safe_load(f)
        except yaml.YAMLError as err:
            raise RecipeError(f"{path}: not valid YAML: {err}") from None
    try:
        return validate(apply_overrides({} if raw is None else raw, overrides))
    except RecipeError as err:
        raise RecipeError(f"{path}: {err}") from None


def recipe_dir():
    """The folder of shipped recipes: the installed copy (``ae_zoo/recipes``) or, in a
    source checkout, the repository's ``recipes/`` beside ``setup.py``."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    installed = os.path.join(package, "recipes")
    if os.path.isdir(installed):
        return installed
    root = os.path.dirname(package)
    if os.path.exists(os.path.join(root, "setup.py")) and os.path.isdir(os.path.join(root, "recipes")):
        return os.path.join(root, "recipes")
    return None


def names():
    """Names of the shipped recipes."""
    directory = recipe_dir()
    if directory is None:
        return []
    return sorted(f[:-5] for f in os.listdir(directory) if f.endswith(".yaml"))


def find(name):
    """The path of the shipped recipe ``name`` (``vae_mnist5k``), or None."""
    directory = recipe_dir()
    path = directory and os.path.join(directory, f"{name}.yaml")
    return path if path and os.path.exists(path) else None
