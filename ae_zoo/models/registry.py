"""Model registry: the CLI names of the models and how to create them."""

_REGISTRY = {}


def register(name):
    """Class decorator: makes the model available as ``create(name)`` and ``ae-zoo train name``."""

    def decorate(cls):
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"A model is already registered as {name!r}.")
        _REGISTRY[name] = cls
        return cls

    return decorate


def names():
    """The registered model names, sorted."""
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
