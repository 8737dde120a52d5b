"""The zoo's folders: where zoo names resolve, and what a model folder must hold.

Plain file-system code (no TensorFlow): ``ae-zoo list``, :func:`ae_zoo.models.from_preset`
and :func:`ae_zoo.load_pretrained` all resolve names here. A model folder holds numeric
versions in the TF Serving layout and a card::

    saved_models/vae_mnist5k/
        card.json  README.md        (the latest export's card)
        1/saved_model.pb  1/variables/  1/model.keras  1/card.json  1/assets.extra/

``AE_ZOO_SAVED_MODELS=/some/dir`` points every loader at another zoo.
"""

import importlib.util
import json
import os
import re

from ae_zoo._io import process_alive

ENV_VAR = "AE_ZOO_SAVED_MODELS"
CARD = "card.json"
#: The hidden folders of exports in progress: ``.export-<pid>-<random>`` (a version being
#: written), ``.export-<pid>-replaced-<version>`` (a version being replaced, set aside).
EXPORT_PREFIX = ".export-"
_SET_ASIDE = re.compile(re.escape(EXPORT_PREFIX) + r"(\d+)-replaced-(\d+)")


def zoo_dir():
    """The directory the zoo's names resolve in, or None if there is none.

    In order: ``$AE_ZOO_SAVED_MODELS``; the installed package data
    (``ae_zoo/_pretrained``); the repository's ``saved_models/`` beside the
    ``ae_zoo`` package (source checkouts and ``pip install -e .``).
    """
    if os.environ.get(ENV_VAR):
        return os.environ[ENV_VAR]
    package_dir = os.path.dirname(os.path.abspath(__file__))  # ae_zoo/
    candidates = []
    try:
        spec = importlib.util.find_spec("ae_zoo._pretrained")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        candidates.extend(spec.submodule_search_locations)
    candidates += [os.path.join(package_dir, "_pretrained"),
                   os.path.join(os.path.dirname(package_dir), "saved_models")]
    for candidate in candidates:
        if os.path.isdir(candidate):
            return candidate
    return None


def available(directory=None):
    """The names of the model folders in the zoo, sorted (hidden and ``_`` names skipped)."""
    directory = zoo_dir() if directory is None else directory
    if not directory or not os.path.isdir(directory):
        return []
    return sorted(n for n in os.listdir(directory)
                  if os.path.isdir(os.path.join(directory, n)) and not n.startswith((".", "_")))


def resolve(name_or_path, version=None, require_card=True):
    """``(model folder, version directory, version)`` for a zoo name or a path.

    A path may be a model folder (its highest numeric version is used) or one
    version directory. Raises ValueError for unknown names, FileNotFoundError
    naming what is missing from an incomplete folder.
    """
    name_or_path = os.fspath(name_or_path)
    looks_like_path = (os.sep in name_or_path or bool(os.altsep and os.altsep in name_or_path)
                       or name_or_path.startswith("."))
    names = [] if looks_like_path else available()
    if name_or_path in names:  # zoo names win over a same-named folder in the cwd
        folder = os.path.join(zoo_dir(), name_or_path)
    elif os.path.isdir(name_or_path):
        folder = os.path.abspath(name_or_path)
    elif looks_like_path:
        raise FileNotFoundError(f"No model folder at {name_or_path!r}.")
    else:
        where = zoo_dir()
        listing = ", ".join(names) if names else f"none (the zoo {where or 'saved_models/'} is empty)"
        raise ValueError(f"Unknown pretrained model {name_or_path!r}; available: {listing}.")

    if os.path.isfile(os.path.join(folder, "saved_model.pb")) and os.path.basename(folder).isdigit():
        version_dir, folder = folder, os.path.dirname(folder)  # a version directory was given
        version = int(os.path.basename(version_dir))
    else:
        restore_set_aside(folder)
        versions = numeric_versions(folder)
        if version is None:
            if not versions:
                raise FileNotFoundError(
                    f"{folder} has no numeric version directory (expected e.g. {folder}/1/ "
                    "holding saved_model.pb and variables/).")
            version = versions[-1]
        elif int(version) not in versions:
            raise FileNotFoundError(f"{folder} has no version {version}; it has {versions or 'none'}.")
        version_dir = os.path.join(folder, str(int(version)))

    missing = []
    if not os.path.isfile(os.path.join(version_dir, "saved_model.pb")):
        missing.append(f"{version_dir}/saved_model.pb")
    if not os.path.isfile(os.path.join(version_dir, "variables", "variables.index")):
        missing.append(f"{version_dir}/variables/ (variables.index and data shards)")
    if require_card and not (os.path.isfile(os.path.join(folder, CARD))
                             or os.path.isfile(os.path.join(version_dir, CARD))):
        missing.append(f"{folder}/{CARD} (written by `ae-zoo export`; a folder of "
                       "export_saved_model loads without it with require_card=False)")
    if missing:
        raise FileNotFoundError(f"Incomplete model folder {folder}: missing " + "; ".join(missing) + ".")
    return folder, version_dir, int(version)


def read_card(folder, required=True, version_dir=None):
    """The parsed card of a version (``version_dir/card.json``) or, for exports without
    one, of the model folder when it describes that version ({} when it describes another
    one, or is absent and not required)."""
    path = os.path.join(version_dir, CARD) if version_dir else None
    if not path or not os.path.isfile(path):
        path = os.path.join(folder, CARD)
    if not os.path.isfile(path):
        if required:
            raise FileNotFoundError(f"{folder} has no {CARD}.")
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            card = json.load(f)
    except (OSError, ValueError) as err:
        raise ValueError(f"Corrupted {path}: {err}") from err
    if not isinstance(card, dict):
        raise ValueError(f"Corrupted {path}: expected a JSON object, got {type(card).__name__}.")
    check_card(card, path)
    if version_dir and path == os.path.join(folder, CARD) and card.get("version") is not None \
            and str(card["version"]) != os.path.basename(os.path.normpath(version_dir)):
        return {}  # the folder's card describes another version: this one has none
    return card


#: What a loader relies on in a card: key -> (JSON types, what to call them). Every key may
#: be absent, and any but ``version`` null (an export without its run records no dataset).
_CARD_TYPES = {
    "version": ((int,), "an integer"),
    **dict.fromkeys(("seed", "epochs", "batch_size", "latent_dim", "num_classes"),
                    ((int,), "an integer or null")),
    "learning_rate": ((int, float), "a number or null"),
    **dict.fromkeys(("name", "model", "class", "dataset", "recipe", "command", "sampler",
                     "architecture", "family", "source", "run_dir"), ((str,), "a string or null")),
    **dict.fromkeys(("metrics", "capabilities", "signatures", "data_options", "model_options",
                     "recipe_config", "split", "versions", "trained_with"),
                    ((dict,), "an object or null")),
    "input_shape": ((list,), "a list or null"),
}


def check_card(card, path):
    """Raises ValueError naming the key and ``path`` when a card value has the wrong type (a
    hand-edited or foreign card), so that it fails when loaded, not when a value is used."""
    for key, (types, what) in _CARD_TYPES.items():
        value = card.get(key)
        if key not in card or (value is None and key != "version"):
            continue
        if isinstance(value, bool) or not isinstance(value, types):
            raise ValueError(f"Corrupted {path}: {key!r} must be {what}, got {value!r}.")
    for key, value in (card.get("metrics") or {}).items():
        if key.startswith("test_") and value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ValueError(f"Corrupted {path}: 'metrics.{key}' must be a number or null, "
                             f"got {value!r}.")
    return card


def numeric_versions(base_dir):
    """The integer version directories in ``base_dir``, sorted (TF Serving's notion)."""
    if not os.path.isdir(base_dir):
        return []
    return sorted(int(n) for n in os.listdir(base_dir)
                  if n.isdigit() and os.path.isdir(os.path.join(base_dir, n)))


def set_aside(folder, version):
    """Renames version ``version`` of ``folder`` to a hidden name (TF Serving skips it) that
    records the version and this process: if the process dies before the replacement is in
    place, :func:`restore_set_aside` puts it back. Returns the new path."""
    path = os.path.join(folder, f"{EXPORT_PREFIX}{os.getpid()}-replaced-{int(version)}")
    os.rename(os.path.join(folder, str(int(version))), path)
    return path


def restore_set_aside(folder):
    """Puts back every version that an export killed while replacing it had set aside (its
    process gone and no version of that number published since): an interrupted
    replacement leaves the old version, never none. Returns the restored version numbers;
    a folder that cannot be written (a read-only zoo) is left as it is."""
    restored = []
    for name in os.listdir(folder) if os.path.isdir(folder) else []:
        match = _SET_ASIDE.fullmatch(name)
        if not match or process_alive(int(match[1])):
            continue
        version = os.path.join(folder, match[2])
        if os.path.exists(version):  # the replacement was published: the copy is stale
            continue
        try:
            os.rename(os.path.join(folder, name), version)
        except OSError:
            continue
        restored.append(int(match[2]))
    return restored
