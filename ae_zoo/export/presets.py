"""The Keras model beside each exported version: ``<version>/model.keras``, which
:func:`ae_zoo.models.from_preset` loads as a trainable model of its own class.

``ae-zoo export`` writes it with the SavedModel. For versions exported before, the zoo's
``.keras`` files are rebuilt from what the folder holds (reproducibly, no training):

    python -m ae_zoo.export.presets saved_models/*/

rebuilds the model its card's recipe describes, copies the SavedModel's variables into
it (matched by name and shape), checks that it gives every signature's outputs on test images, and writes the file.
"""

import itertools
import os
import sys

import numpy as np
import tensorflow as tf

from ae_zoo import data as data_lib
from ae_zoo._io import atomic_path
from ae_zoo._zoo import read_card, resolve
from ae_zoo.export.card import compile_for_fine_tuning
from ae_zoo.models.preset import KERAS_FILE
from ae_zoo.training.build import build_model


def write_preset(model, version_dir, recipe=None):
    """Writes ``version_dir/model.keras``, compiled as :func:`compile_for_fine_tuning` says."""
    compile_for_fine_tuning(model, recipe)
    path = os.path.join(version_dir, KERAS_FILE)
    with atomic_path(path, suffix=".keras") as tmp:
        model.save(tmp)
    return path


def model_of_card(card):
    """A fresh model as the card's recipe builds it, and that recipe's test split."""
    recipe = card["recipe_config"]
    data, model = recipe["data"], recipe["model"]
    options = dict(data["options"])
    if data.get("data_dir"):
        options["data_dir"] = data["data_dir"]
    train_set = data_lib.load(data["name"], data["train_split"], **options)
    if data["validation_split"]:
        train_set, _ = train_set.hold_out(data["validation_split"], recipe["training"]["seed"])
    built = build_model(model["name"], train_set, latent_dim=model["latent_dim"],
                        seed=recipe["training"]["seed"], architecture=model["architecture"],
                        **model["options"])
    return built, data_lib.load(data["name"], data["test_split"], **options)


def _variable_key(name, shape):
    """A variable's ``(layer/variable, shape)``: its name inside its network (the SavedModel
    keeps only that much), told apart from its namesake in the other network by shape."""
    return "/".join(name.removesuffix(":0").split("/")[-2:]), tuple(shape)


def copy_saved_model_variables(model, version_dir, same_outputs):
    """Assigns the SavedModel's variables to the weights of ``model`` (built from the same
    recipe), matched by name and shape. Namesakes of the same shape (``dense_0/bias`` of
    the encoder and of the decoder) are tried in each order until ``same_outputs()``."""
    saved, weights = {}, {}
    for variable in tf.saved_model.load(version_dir)._all_variables:  # what its signatures use
        saved.setdefault(_variable_key(variable.name, variable.shape), []).append(variable)
    for weight in model.weights:
        weights.setdefault(_variable_key(weight.path, weight.shape), []).append(weight)
    for key, variables in saved.items():
        if len(weights.get(key, ())) != len(variables):
            raise ValueError(f"{version_dir}: {len(variables)} variables {key}, "
                             f"{len(weights.get(key, ()))} in the recipe's model: the card does "
                             "not describe this model.")
    keys = list(saved)
    for orders in itertools.product(*(itertools.permutations(saved[k]) for k in keys)):
        for key, order in zip(keys, orders):
            for weight, variable in zip(weights[key], order):
                weight.assign(variable.numpy())
        if same_outputs():
            return
    raise ValueError(f"{version_dir}: the recipe's model with these variables does not give "
                     "the SavedModel's outputs.")


def same_outputs(model, version_dir, test_set, count=64, atol=1e-5):
    """Whether ``model`` gives the SavedModel's ``encode`` and ``reconstruct`` outputs (and
    ``sample``'s, when generative) on ``count`` test images."""
    loaded = tf.saved_model.load(version_dir).signatures
    x = test_set.x[:count]
    inputs = {"x": tf.constant(x)}
    labels = None
    if model.conditional:
        labels = test_set.y[:count].astype("int64")
        inputs["label"] = tf.constant(labels)
    pairs = [(loaded["encode"](**inputs)["code"], model.encode(x, labels=labels)),
             (loaded["reconstruct"](**inputs)["reconstruction"],
              model.reconstruct(x, labels=labels))]
    if "sample" in loaded:
        seeds = tf.range(8, dtype=tf.int64)
        pairs.append((loaded["sample"](seed=seeds)["image"], model.sample(8, seed=0)))
    return all(np.allclose(np.asarray(got), expected.numpy(), rtol=0, atol=atol)
               for expected, got in pairs)


def preset_from_saved_model(name_or_path, version=None):
    """Writes ``model.keras`` into a zoo version exported without one; returns its path."""
    folder, version_dir, _ = resolve(name_or_path, version)
    card = read_card(folder, version_dir=version_dir)
    model, test_set = model_of_card(card)
    copy_saved_model_variables(model, version_dir,
                               lambda: same_outputs(model, version_dir, test_set))
    return write_preset(model, version_dir, card["recipe_config"])


if __name__ == "__main__":
    for folder in sys.argv[1:]:
        print(f"Wrote {preset_from_saved_model(folder)}", flush=True)
