"""The recipe files of ``ae-zoo tune``: the recipe read as written (``--set`` overrides
applied, nothing filled in), and the best recipe written back as YAML."""

import os

import numpy as np
import yaml

from ae_zoo._io import atomic_path
from ae_zoo.training import recipes as recipe_lib


def plain(value):
    """YAML/JSON-safe Python values (numpy scalars -> Python, tuples -> lists)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


class _RecipeDumper(yaml.SafeDumper):
    """Block style, except lists of scalars in one line (``hidden_units: [512, 256]``)."""


def _represent_list(dumper, value):
    flow = all(not isinstance(v, (list, dict)) for v in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)


_RecipeDumper.add_representer(list, _represent_list)


def write_recipe(recipe, path, header=()):
    """Writes ``recipe`` as YAML (comment lines first), atomically."""
    text = "".join(f"# {line}\n" for line in header)
    text += yaml.dump(plain(recipe), Dumper=_RecipeDumper, sort_keys=False,
                      default_flow_style=False)
    with atomic_path(path, ".yaml") as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
    return path


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
