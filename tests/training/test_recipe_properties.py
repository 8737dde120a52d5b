"""Property test: any mutation of a valid recipe validates or fails with a RecipeError that
names the key, never another exception."""

import math

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ae_zoo.training import recipes
from ae_zoo.training.recipes import SCHEMA, Field, RecipeError

VALID = {
    "model": {"name": "sparse_ae", "latent_dim": 2,
              "options": {"hidden_units": [16], "sparsity_weight": 0.1, "target_sparsity": 0.05}},
    "data": {"name": "digits"},
    "training": {"epochs": 1, "batch_size": 64, "optimizer": {"learning_rate": 0.01}},
    "callbacks": {"checkpoint": {"monitor": "val_loss"}},
}


def _field_paths(schema, prefix=""):
    for key, sub in schema.items():
        path = f"{prefix}{key}"
        if isinstance(sub, tuple):
            sub = sub[1]
        if isinstance(sub, Field):
            yield path
        else:
            yield from _field_paths(sub, path + ".")


PATHS = sorted(set(_field_paths(SCHEMA)) | {
    "model.options.hidden_units", "model.options.sparsity_weight", "model.options.target_sparsity",
    "model.options.noise_level", "training.no_such_key", "model.options.activation"})
BAD_VALUES = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, -1, -1.5, 0, 10**40, -(10**40), 1e308,
                     "sixteen", "", True, None, [], {}, [math.nan], ["a"], {"x": 1}]),
    st.integers(), st.floats(), st.text(max_size=8),
    st.lists(st.one_of(st.integers(), st.floats()), max_size=3))


def _set(recipe, path, value):
    return recipes.apply_overrides(recipe, [(path.split("."), value)])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations=st.lists(st.tuples(st.sampled_from(PATHS), BAD_VALUES), min_size=1, max_size=2))
def test_a_mutated_recipe_validates_or_names_the_key(mutations):
    recipe = VALID
    for path, value in mutations:
        try:
            recipe = _set(recipe, path, value)
        except RecipeError as err:  # a value set under a key that is not a mapping
            assert str(err).startswith(path)
            return
    try:
        recipes.validate(recipe)
    except RecipeError as err:
        head = str(err).split(":", 1)[0]
        named = [p for p, _ in mutations]
        assert any(p == head or p.startswith(head + ".") for p in named) \
            or head.startswith("model.options"), (str(err), mutations)


@pytest.mark.parametrize("text", ["- 1\n- 2\n", "just a string\n", "42\n", "model: [1, 2]\n",
                                  "model: {options: {hidden_units: sixteen}}\n"])
def test_a_recipe_file_that_is_not_a_mapping_names_the_file_and_key(tmp_path, text):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(RecipeError) as err:
        recipes.load(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ") and (
        "recipe: expected a mapping" in message or "model: expected a mapping" in message
        or "model.options.hidden_units" in message or "model.name" in message), message
    assert yaml.safe_load(text) is not None
