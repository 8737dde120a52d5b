"""Hyperparameter specs, the vocabulary of a model's :meth:`search_space`.

A spec is a plain dict that :mod:`ae_zoo.tuning.spaces` checks and declares on a
keras-tuner ``HyperParameters``::

    {"type": "choice", "values": [8, 16, 32], "default": 16}
    {"type": "float", "min": 1e-4, "max": 1e-2, "sampling": "log", "default": 1e-3}
    {"type": "int", "min": 2, "max": 64, "step": 2}
    {"type": "boolean"}
    {"type": "fixed", "value": 0.3}

A numeric spec may say which of its values regularize more (``"regularization": "larger"``
or ``"smaller"``); the disentanglement study reads it, keras-tuner does not.

A model's ``search_space(options)`` returns ``{keyword argument: spec}`` for its own
hyperparameters, centred on its keyword arguments ``options``; for example a VAE's::

    {"beta": log_uniform(0.25, 4.0, options.get("beta", 1.0))}
"""

import math


def _nearest(values, target):
    return min(values, key=lambda v: (abs(math.log(v) - math.log(target)) if v > 0 and target > 0
                                      else abs(v - target)))


def grid(values, default, regularization=None):
    """An ordered choice over the numbers ``values``, its default the one nearest ``default``
    (on a log scale for positive numbers). ``regularization``: for a regularization
    strength, which values regularize more, ``"larger"`` or ``"smaller"`` (the
    disentanglement study plots its findings against it)."""
    values = [float(v) for v in values]
    spec = {"type": "choice", "values": values, "default": _nearest(values, float(default))}
    if regularization is not None:
        if regularization not in ("larger", "smaller"):
            raise ValueError(f"regularization must be 'larger' or 'smaller', got "
                             f"{regularization!r}")
        spec["regularization"] = regularization
    return spec


def log_uniform(low, high, default):
    """A float searched log-uniformly in [low, high]; ``default`` clipped into the range."""
    return {"type": "float", "min": float(low), "max": float(high), "sampling": "log",
            "default": float(min(max(default, low), high))}


def uniform(low, high, default):
    """A float searched uniformly in [low, high]; ``default`` clipped into the range."""
    return {"type": "float", "min": float(low), "max": float(high), "sampling": "linear",
            "default": float(min(max(default, low), high))}


def int_range(low, high, default, step=None, sampling="linear"):
    """An int in [low, high] (every ``step``); ``default`` clipped into the range."""
    spec = {"type": "int", "min": int(low), "max": int(high), "sampling": sampling,
            "default": int(min(max(default, low), high))}
    if step is not None:
        spec["step"] = int(step)
    return spec


def choice(values, default):
    """A choice among ``values`` kept as they are (ints stay ints, strings strings); the
    default is ``default`` when it is one of them, else the nearest number (on a log scale
    for positive numbers); a string default that is not among them is offered first."""
    values = list(values)
    if default not in values:
        if isinstance(default, str):
            values = [default] + values
        else:
            default = _nearest(values, default)
    return {"type": "choice", "values": values, "default": default}
