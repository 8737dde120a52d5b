"""``from_preset(name)``: a zoo entry as the trained Keras model it was exported from.

Every version of a zoo model folder holds, beside its SavedModel, the Keras model as a
``.keras`` file (``saved_models/vae_mnist5k/1/model.keras``), compiled for fine-tuning:
its recipe's optimizer at a tenth of the base learning rate (no optimizer state). ``from_preset`` (KerasHub's name for it) loads it
as a model of its own class, ready to ``fit`` (fine-tune), ``evaluate``, ``encode``,
``sample`` and export, where :func:`ae_zoo.load_pretrained` gives the serving signatures.
"""

import json
import os
import zipfile

import keras

from ae_zoo import _zoo
from ae_zoo._io import check_keras_file

#: The Keras model's file name inside a version directory.
KERAS_FILE = "model.keras"


def preset_path(name_or_path, version=None):
    """The ``.keras`` file of a zoo name, a model folder (its highest version), a version
    directory, or the path of a ``.keras`` file itself."""
    name_or_path = os.fspath(name_or_path)
    if name_or_path.endswith(".keras") and os.path.isfile(name_or_path):
        return name_or_path
    _, version_dir, _ = _zoo.resolve(name_or_path, version, require_card=False)
    path = os.path.join(version_dir, KERAS_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{version_dir} has no {KERAS_FILE}: it was exported without its Keras model. "
            f"`ae-zoo export RUN_DIR --out FOLDER` writes one; its SavedModel loads with "
            f"ae_zoo.load_pretrained({name_or_path!r}).")
    return path


def load_keras(path, *, compile=False):
    """``keras.models.load_model(path)`` for a ``.keras`` file, with a message naming the file
    when it is missing or damaged (:func:`ae_zoo._io.check_keras_file`) instead of Keras'
    "File not found" for both."""
    return keras.models.load_model(check_keras_file(path), compile=compile)


def from_preset(name_or_path, version=None, *, compile=True):
    """Loads a zoo entry (``"vae_mnist5k"``, a model folder, a version directory or a
    ``.keras`` file) as a trained model of its own class.

    ``compile=True``: compiled as the preset says (its recipe's optimizer at a tenth of
    the base learning rate; ``model.compile()``'s defaults when it says nothing), with a
    fresh optimizer state, ready to ``fit``.

    Example:
        >>> vae = ae_zoo.models.from_preset("vae_mnist5k")   # an ae_zoo.models.VAE
        >>> vae.fit(train.x, epochs=1)                        # fine-tune
    """
    path = preset_path(name_or_path, version)
    # Compiled here rather than by load_model: the file holds no optimizer state, which
    # load_model would warn about restoring into a freshly built optimizer.
    model = load_keras(path)
    if compile:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json")).get("compile_config")
        if config:
            model.compile_from_config(config)
        else:
            model.compile()
    return model
