"""Model registry: the names of the models, how to create them, and plugins.

``@ae_zoo.register("name")`` on a model class makes it ``create("name")``, ``ae-zoo train
name`` and every other command's, and registers it for Keras serialization (as
``"<package>>ClassName"``, the package being the top-level module that defines it), so
``keras.models.load_model`` restores it once ``import ae_zoo`` has run.

Other packages add models through the entry-point group ``ae_zoo.models``; each entry
point names a model class (registered under the entry point's name unless the class
registered itself) or a module whose import registers its models::

    [project.entry-points."ae_zoo.models"]
    info_vae = "my_package.info_vae:InfoVAE"

Plugins load once, when ``ae_zoo`` is imported. A plugin that fails to import, names no
model class, or takes a built-in's name is skipped with a warning naming it; the built-in
models keep working.
"""

import importlib.metadata
import inspect
import warnings

import keras

from ae_zoo._catalog import ENTRY_POINT_GROUP

_REGISTRY = {}
_BUILTIN = set()
_plugins = {"state": "not loaded", "loaded": {}, "failed": {}}


def register(name=None):
    """Class decorator: makes the model ``create(name)`` / ``ae-zoo train name`` and
    registers it for Keras serialization. ``name=None`` registers a class for Keras
    serialization only (a base class that is not a model of its own)."""

    def decorate(cls):
        if not (inspect.isclass(cls) and issubclass(cls, keras.Model)
                and hasattr(cls, "loss_terms")):
            raise TypeError(f"@register needs an ae_zoo model class (an ae_zoo.models."
                            f"Autoencoder subclass), got {cls!r}.")
        package = cls.__module__.split(".")[0]
        keras.saving.register_keras_serializable(package=package)(cls)
        if name is not None:
            if not isinstance(name, str) or not name.isidentifier():
                raise ValueError(f"A model name must be an identifier, like 'info_vae'; got {name!r}.")
            if name in _REGISTRY and _REGISTRY[name] is not cls:
                raise ValueError(f"A model is already registered as {name!r} "
                                 f"({_REGISTRY[name].__module__}.{_REGISTRY[name].__name__}).")
            _REGISTRY[name] = cls
            if package == "ae_zoo":
                _BUILTIN.add(name)
        return cls

    return decorate


def names():
    """The registered model names (plugins included), sorted."""
    return sorted(_REGISTRY)


def name_of(cls):
    """The name ``cls`` itself is registered under, or None (subclasses do not inherit it)."""
    for name, registered in _REGISTRY.items():
        if registered is cls:
            return name
    return None


def get(name):
    """The model class registered as ``name``."""
    if name not in _REGISTRY:
        raise ValueError(f"Unknown model {name!r}; available models: {', '.join(names())}.")
    return _REGISTRY[name]


def create(name, **kwargs):
    """Creates the model registered as ``name`` with its keyword arguments."""
    return get(name)(**kwargs)


# ------------------------------------------------------------------ plugins
def plugins():
    """``{"loaded": {entry point: [model names]}, "failed": {entry point: why}}``."""
    return {"loaded": dict(_plugins["loaded"]), "failed": dict(_plugins["failed"])}


def load_plugins():
    """Imports the models of every ``ae_zoo.models`` entry point, once (``import ae_zoo``
    calls it). Failures are warnings naming the plugin; nothing a plugin does removes or
    replaces a built-in model."""
    if _plugins["state"] != "not loaded":
        return
    _plugins["state"] = "loading"  # a plugin importing ae_zoo does not load them again
    try:
        entry_points = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    except Exception as err:  # noqa: BLE001  (broken metadata of some installed package)
        warnings.warn(f"ae_zoo: could not list the {ENTRY_POINT_GROUP!r} plugins: {err}",
                      stacklevel=2)
        entry_points = ()
    for entry_point in entry_points:
        _load_plugin(entry_point)
    _plugins["state"] = "loaded"


def _load_plugin(entry_point):
    label = f"{entry_point.name} = {entry_point.value}"
    if entry_point.name in _BUILTIN:
        return _plugin_failed(label, f"its name {entry_point.name!r} is a built-in model's")
    before = dict(_REGISTRY)
    try:
        loaded = entry_point.load()
    except Exception as err:  # noqa: BLE001  (any error of a third-party import)
        for key in set(_REGISTRY) - set(before):  # what it registered before failing
            del _REGISTRY[key]
        return _plugin_failed(label, f"{type(err).__name__}: {err}")
    if inspect.isclass(loaded) and name_of(loaded) is None:
        try:
            register(entry_point.name)(loaded)
        except (TypeError, ValueError) as err:
            return _plugin_failed(label, str(err))
    added = sorted(set(_REGISTRY) - set(before))
    if not added and not (inspect.isclass(loaded) and name_of(loaded)):
        return _plugin_failed(label, "it registers no model (name a model class, or a module "
                                     "whose classes use @ae_zoo.register)")
    _plugins["loaded"][label] = added or [name_of(loaded)]
    return None


def _plugin_failed(label, why):
    _plugins["failed"][label] = why
    warnings.warn(f"ae_zoo: skipped the model plugin {label!r}: {why}", stacklevel=3)
