"""Search spaces: what each model tunes, and how a recipe's ``tuning:`` overrides it.

A search space maps a hyperparameter name to a spec (:mod:`ae_zoo.models.hparams`)::

    {"type": "choice", "values": [8, 16, 32], "default": 16}
    {"type": "float", "min": 1e-4, "max": 1e-2, "sampling": "log"}
    {"type": "int", "min": 2, "max": 64, "step": 2}
    {"type": "boolean"}
    {"type": "fixed", "value": 0.3}

A name is a keyword argument of the model (``beta``, ``gamma``, ``c_max``,
``lambda_od``, ``noise_level``, ``sparsity_weight``, ``target_sparsity``,
``hidden_units``, ...) or one of four special names: ``latent_dim``
(``model.latent_dim``), ``learning_rate`` (``training.optimizer.learning_rate``),
``batch_size`` (``training.batch_size``) and ``width_multiplier``, which scales
every width of the architecture (``hidden_units`` for ``mlp``; ``filters`` and
``dense_units`` for the convolutional ones) by the chosen factor. keras-tuner's
``Choice`` takes scalars only, so a choice of lists (``hidden_units: [[256, 128],
[512, 256]]``) is searched as the strings ``"256-128"``, ``"512-256"`` and written
back as lists.

Every model's default space is latent_dim, width_multiplier and learning_rate plus what the
model itself declares (:meth:`ae_zoo.models.Autoencoder.search_space`: beta for a VAE,
the disentangling models' grids of Locatello et al. 2019, the sparsity weight, the noise
level, ...). In a recipe the ``tuning:`` section is merged over that default space: a
mapping replaces or adds a hyperparameter, a list is short for a choice, a scalar
for a fixed value, and ``null`` removes it from the search::

    tuning:
      latent_dim: [8, 16]
      beta: {type: float, min: 0.5, max: 8.0, sampling: log}
      width_multiplier: null
"""

import copy
import inspect
import math
import re

from ae_zoo import models as model_lib
from ae_zoo import nets
from ae_zoo.models import hparams
from ae_zoo.training.recipes import RecipeError, model_parameters

TYPES = ("choice", "float", "int", "boolean", "fixed")
SAMPLINGS = ("linear", "log", "reverse_log")
#: Which values of a regularization strength regularize more (a spec's "regularization").
REGULARIZATION = ("larger", "smaller")
#: Hyperparameters that are not model keyword arguments, and where they go in a recipe.
SPECIAL = {
    "latent_dim": ("model", "latent_dim"),
    "learning_rate": ("training", "optimizer", "learning_rate"),
    "batch_size": ("training", "batch_size"),
    "width_multiplier": None,  # rewrites the width options under model.options
}
#: The network options that are widths (tuples of layer sizes) and scale with ``width_multiplier``.
WIDTH_OPTIONS = ("hidden_units", "filters", "dense_units")
#: Model arguments a search never sets: the runner owns them or they are not hyperparameters.
RESERVED = ("architecture", "input_shape", "seed", "encoder", "decoder", "name", "dataset_size",
            "num_classes", "kind")
_WIDTHS = re.compile(r"(\d+(-\d+)*)?")
_EXPONENT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")
_SPEC_KEYS = {
    "choice": {"type", "values", "default", "ordered", "regularization"},
    "float": {"type", "min", "max", "step", "sampling", "default", "regularization"},
    "int": {"type", "min", "max", "step", "sampling", "default", "regularization"},
    "boolean": {"type", "default"},
    "fixed": {"type", "value"},
}
# ----------------------------------------------------------------- specs
def _number(path, value, kind):
    """``value`` as an int/float; YAML reads ``1e-4`` (no dot) as a string, so strings are parsed."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise RecipeError(f"{path}: expected a number, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RecipeError(f"{path}: expected a number, got {value!r}")
    if kind == "int":
        if int(value) != value:
            raise RecipeError(f"{path}: expected an integer, got {value!r}")
        return int(value)
    return float(value)


def _yaml_float(value):
    """PyYAML reads ``1e-4`` and ``2.5e3`` (no dot or no exponent sign) as strings: parse them."""
    if isinstance(value, str) and _EXPONENT.fullmatch(value.strip()):
        return float(value)
    return value


def _choice_values(path, values):
    if not isinstance(values, (list, tuple)) or not values:
        raise RecipeError(f"{path}.values: expected a non-empty list, got {values!r}")
    values = [_yaml_float(v) for v in values]
    if all(isinstance(v, (list, tuple)) for v in values):  # widths: searched as "512-256"
        encoded = []
        for v in values:
            if not all(isinstance(u, int) and not isinstance(u, bool) and u >= 1 for u in v):
                raise RecipeError(f"{path}.values: a list of layer sizes must hold positive "
                                  f"integers, got {v!r}")
            encoded.append(encode_widths(v))
        values = encoded
    elif any(isinstance(v, (list, tuple, dict)) for v in values) or any(v is None for v in values):
        raise RecipeError(f"{path}.values: expected scalars (or only lists of layer sizes), "
                          f"got {values!r}")
    elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        if any(isinstance(v, float) for v in values):
            values = [float(v) for v in values]  # keras-tuner wants one type per Choice
    elif len({type(v) for v in values}) > 1:
        raise RecipeError(f"{path}.values: mixes types "
                          f"{', '.join(sorted({type(v).__name__ for v in values}))}; use one type")
    values = list(values)
    if len(set(values)) != len(values):
        raise RecipeError(f"{path}.values: has duplicates: {values!r}")
    return values


def normalize_spec(name, spec, path=None):
    """Checks one hyperparameter spec and returns it in full form.

    ``spec`` is a mapping with ``type``, a list (a choice) or a scalar (a fixed
    value). Raises :class:`~ae_zoo.training.recipes.RecipeError` naming the key.
    """
    path = path or f"tuning.{name}"
    if isinstance(spec, (list, tuple)):
        spec = {"type": "choice", "values": list(spec)}
    elif not isinstance(spec, dict):
        spec = {"type": "fixed", "value": spec}
    kind = spec.get("type")
    if kind not in TYPES:
        raise RecipeError(f"{path}.type: must be one of {', '.join(TYPES)}; got {kind!r}")
    unknown = sorted(set(spec) - _SPEC_KEYS[kind])
    if unknown:
        raise RecipeError(f"{path}.{unknown[0]}: unknown key for type {kind}; valid keys: "
                          f"{', '.join(sorted(_SPEC_KEYS[kind]))}")
    out = {"type": kind}
    if kind == "fixed":
        if "value" not in spec:
            raise RecipeError(f"{path}.value: required for type fixed")
        value = _yaml_float(spec["value"])
        out["value"] = encode_widths(value) if isinstance(value, (list, tuple)) else value
    elif kind == "boolean":
        default = spec.get("default", False)
        if not isinstance(default, bool):
            raise RecipeError(f"{path}.default: expected true/false, got {default!r}")
        out["default"] = default
    elif kind == "choice":
        out["values"] = _choice_values(path, spec.get("values"))
        if spec.get("default") is not None:
            default = spec["default"]
            if isinstance(default, (list, tuple)):
                default = encode_widths(default)
            elif isinstance(out["values"][0], float) and isinstance(default, (int, float)):
                default = float(default)
            if default not in out["values"]:
                raise RecipeError(f"{path}.default: {spec['default']!r} is not one of the values")
            out["default"] = default
        if spec.get("ordered") is not None:
            out["ordered"] = bool(spec["ordered"])
    else:
        for key in ("min", "max"):
            if spec.get(key) is None:
                raise RecipeError(f"{path}.{key}: required for type {kind}")
            out[key] = _number(f"{path}.{key}", spec[key], kind)
        if out["min"] > out["max"] or (kind == "float" and out["min"] == out["max"]):
            raise RecipeError(f"{path}: min ({out['min']}) must be below max ({out['max']})")
        sampling = spec.get("sampling", "linear")
        if sampling not in SAMPLINGS:
            raise RecipeError(f"{path}.sampling: must be one of {', '.join(SAMPLINGS)}; "
                              f"got {sampling!r}")
        if sampling != "linear" and out["min"] <= 0:
            raise RecipeError(f"{path}.min: {sampling} sampling needs min > 0, got {out['min']}")
        out["sampling"] = sampling
        if spec.get("step") is not None:
            out["step"] = _number(f"{path}.step", spec["step"], kind)
            if out["step"] <= 0:
                raise RecipeError(f"{path}.step: must be > 0, got {out['step']}")
        if spec.get("default") is not None:
            default = _number(f"{path}.default", spec["default"], kind)
            if not out["min"] <= default <= out["max"]:
                raise RecipeError(f"{path}.default: {default} is outside [{out['min']}, {out['max']}]")
            out["default"] = default
    if spec.get("regularization") is not None:  # read by the study, not by keras-tuner
        if spec["regularization"] not in REGULARIZATION:
            raise RecipeError(f"{path}.regularization: must be one of "
                              f"{', '.join(REGULARIZATION)}; got {spec['regularization']!r}")
        out["regularization"] = spec["regularization"]
    return out


def encode_widths(widths):
    """``[512, 256]`` -> ``"512-256"`` (a keras-tuner ``Choice`` value)."""
    return "-".join(str(int(w)) for w in widths)


def decode_widths(value):
    """``"512-256"`` -> ``(512, 256)``; ``""`` -> ``()``; a tuple or list is returned as a tuple."""
    if isinstance(value, str):
        return tuple(int(w) for w in value.split("-") if w)
    return tuple(int(w) for w in value)


def is_encoded_widths(value):
    """Whether ``value`` is a list of layer sizes encoded by :func:`encode_widths`."""
    return isinstance(value, str) and _WIDTHS.fullmatch(value) is not None


def declare(hp, space):
    """Declares every hyperparameter of ``space`` on ``hp``; returns ``{name: value}``."""
    values = {}
    for name, spec in space.items():
        kind = spec["type"]
        if kind == "choice":
            values[name] = hp.Choice(name, spec["values"], ordered=spec.get("ordered"),
                                     default=spec.get("default"))
        elif kind == "float":
            values[name] = hp.Float(name, spec["min"], spec["max"], step=spec.get("step"),
                                    sampling=spec["sampling"], default=spec.get("default"))
        elif kind == "int":
            values[name] = hp.Int(name, spec["min"], spec["max"], step=spec.get("step"),
                                  sampling=spec["sampling"], default=spec.get("default"))
        elif kind == "boolean":
            values[name] = hp.Boolean(name, default=spec["default"])
        else:
            values[name] = hp.Fixed(name, spec["value"])
    return values


# ----------------------------------------------------------- default spaces
def _common(base):
    d = int(base["latent_dim"])
    dims = sorted({max(1, d // 2), d, 2 * d})
    lr = float(base["learning_rate"])
    return {
        "latent_dim": {"type": "choice", "values": dims, "default": d},
        "width_multiplier": {"type": "choice", "values": [0.5, 1.0, 2.0], "default": 1.0},
        "learning_rate": hparams.log_uniform(lr / 10, lr * 10, lr),
    }


def default_latent_dim(model_name):
    """The model's default ``latent_dim`` (its constructor's, 16 for every shipped model)."""
    for klass in model_lib.get(model_name).__mro__:
        init = klass.__dict__.get("__init__")
        if init is not None and "latent_dim" in inspect.signature(init).parameters:
            return inspect.signature(init).parameters["latent_dim"].default
    return 16


def default_search_space(model_name, latent_dim=None, learning_rate=1e-3, options=None):
    """The model's default space, centred on the base values.

    ``latent_dim`` in {d/2, d, 2d}; ``width_multiplier`` in {0.5, 1, 2};
    ``learning_rate`` log-uniform in [lr/10, 10 lr]; plus the model's own
    (``search_space(options)`` of its class; see the README's table). ``options`` are the
    model's base keyword arguments (they pick e.g. the noise range of the corruption).
    """
    options = dict(options or {})
    base = {"latent_dim": latent_dim or default_latent_dim(model_name),
            "learning_rate": learning_rate or 1e-3}
    own = {name: normalize_spec(name, spec, f"{model_name}.search_space.{name}")
           for name, spec in model_lib.get(model_name).search_space(options).items()}
    return {**_common(base), **own}


def tunable_names(model_name, architecture=None):
    """Names a search space of ``model_name`` may hold."""
    cls = model_lib.get(model_name)
    architecture = architecture or getattr(cls, "default_architecture", "mlp")
    names = (model_parameters(cls) - set(nets.NETWORK_OPTIONS) - set(RESERVED))
    return names | set(nets.options_for(architecture)) | set(SPECIAL)


def resolve_search_space(model_name, overrides=None, *, latent_dim=None, learning_rate=1e-3,
                         options=None, architecture=None):
    """The default space of ``model_name`` with ``overrides`` (a recipe's ``tuning:``) merged in.

    Raises :class:`~ae_zoo.training.recipes.RecipeError` for an unknown name or a bad spec.
    """
    space = default_search_space(model_name, latent_dim, learning_rate, options)
    if overrides is None:
        return space
    if not isinstance(overrides, dict):
        raise RecipeError(f"tuning: expected a mapping of hyperparameter -> spec, got {overrides!r}")
    allowed = tunable_names(model_name, architecture)
    for name, spec in overrides.items():
        if name not in allowed:
            raise RecipeError(f"tuning.{name}: {model_name} has no hyperparameter {name!r}; "
                              f"tunable: {', '.join(sorted(allowed))}")
        if spec is None:
            space.pop(name, None)
        else:
            space[name] = normalize_spec(name, spec)
    # Explicit widths replace the multiplier unless it was asked for too.
    if any(n in overrides for n in WIDTH_OPTIONS) and "width_multiplier" not in overrides:
        space.pop("width_multiplier", None)
    return space


# ------------------------------------------------------- values -> settings
def builder_default(architecture, option):
    """The network builder's default for ``option`` (e.g. mlp's hidden_units (512, 256))."""
    params = inspect.signature(nets.BUILDERS[architecture]).parameters
    return params[option].default if option in params else None


def apply_values(base, values):
    """The settings the hyperparameter ``values`` give, over ``base``.

    ``base`` and the result are dicts with ``latent_dim``, ``architecture``,
    ``options`` (model keyword arguments), ``learning_rate`` and ``batch_size``.
    keras-tuner's bookkeeping entries (``tuner/epochs`` ...) are ignored.
    """
    config = copy.deepcopy(base)
    options = config["options"]
    for name, value in values.items():
        if name.startswith("tuner/") or name == "width_multiplier":
            continue
        if name == "latent_dim":
            config["latent_dim"] = int(value)
        elif name == "learning_rate":
            config["learning_rate"] = float(value)
        elif name == "batch_size":
            config["batch_size"] = int(value)
        elif name in WIDTH_OPTIONS or is_encoded_widths(value):  # also discriminator_units
            options[name] = decode_widths(value)
        else:
            options[name] = value
    multiplier = values.get("width_multiplier")
    if multiplier is not None and float(multiplier) != 1.0:
        for option in WIDTH_OPTIONS:
            if option not in nets.options_for(config["architecture"]):
                continue
            widths = options.get(option, builder_default(config["architecture"], option))
            options[option] = tuple(max(1, int(round(w * float(multiplier))))
                                    for w in decode_widths(widths))
    for option in WIDTH_OPTIONS:  # YAML lists -> tuples, as the builders document
        if isinstance(options.get(option), list):
            options[option] = tuple(options[option])
    return config


def recipe_updates(config, names):
    """``[(path, value)]`` for :func:`ae_zoo.training.recipes.apply_overrides`: the recipe
    keys the searched hyperparameters ``names`` set, with their values in ``config``
    (from :func:`apply_values`). Nothing else of the recipe changes."""
    names = set(names)
    options = set(names) - set(SPECIAL)
    if "width_multiplier" in names:
        options |= {o for o in WIDTH_OPTIONS if o in config["options"]}
    updates = [(list(SPECIAL[n]), config[n]) for n in ("latent_dim", "learning_rate", "batch_size")
               if n in names]
    for key in sorted(options):
        value = config["options"][key]
        updates.append((["model", "options", key], list(value) if isinstance(value, tuple) else value))
    return updates
