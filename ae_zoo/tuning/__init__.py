"""Hyperparameter search with keras-tuner: a HyperModel for every model, objectives, ``ae-zoo tune``.

    >>> from ae_zoo.tuning import AutoencoderHyperModel, make_objective
    >>> hypermodel = AutoencoderHyperModel("vae", input_shape=(28, 28, 1))
    >>> hypermodel.search_space["beta"]
    {'type': 'float', 'min': 0.25, 'max': 4.0, 'sampling': 'log', 'default': 1.0}
    >>> make_objective("val_elbo")   # Objective(name="val_elbo", direction="max")

See :mod:`ae_zoo.tuning.spaces` for the search spaces and a recipe's ``tuning:``
section, and :func:`ae_zoo.tuning.search.tune` for the search behind ``ae-zoo tune``.
"""

from ae_zoo.tuning.hypermodels import (
    AutoencoderHyperModel,
    default_objective,
    make_objective,
    objective_direction,
    objective_names,
)
from ae_zoo.tuning.search import tune
from ae_zoo.tuning.spaces import default_search_space, resolve_search_space
from ae_zoo.tuning.tuners import TUNERS, BayesianOptimization, Hyperband, RandomSearch, make_tuner

__all__ = [
    "AutoencoderHyperModel",
    "BayesianOptimization",
    "Hyperband",
    "RandomSearch",
    "TUNERS",
    "default_objective",
    "default_search_space",
    "make_objective",
    "make_tuner",
    "objective_direction",
    "objective_names",
    "resolve_search_space",
    "tune",
]
