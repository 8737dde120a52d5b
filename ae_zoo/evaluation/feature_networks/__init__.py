"""The feature networks of the generation metrics: small classifiers shipped in the package.

Each is trained on its dataset's train split only, and its card (``<name>.json`` and
``<name>.md`` beside ``<name>.keras``) gives its test accuracy, the command that
reproduces it and the feature layer (the penultimate dense layer, ``features``, after its
ReLU) whose activations the metrics compare:

* ``mnist5k``: LeNet-style (two 5x5 convolutions with max pooling, dense 64, 10 classes)
  on the 4,000 mnist5k training digits; also the network for TFDS ``mnist``.
* ``dsprites``: the same shape of network for 64x64 sprites, classifying dSprites'
  shape factor (square, ellipse, heart), trained on the 20,000 procedural training sprites.

Other datasets (fashion_mnist, cifar10, celeb_a, shapes3d, digits) have none: pass a Keras
model of your own (:func:`ae_zoo.evaluation.generation.feature_extractor` adapts e.g. an
Inception network to the images). ``ae-zoo feature-network NAME`` retrains one.
"""

import functools
import json
import os
import time

import keras
import numpy as np
import tensorflow as tf

from ae_zoo import data as data_lib
from ae_zoo._io import save_model, write_json, write_text
from ae_zoo._version import __version__
from ae_zoo.models.preset import load_keras

HERE = os.path.dirname(os.path.abspath(__file__))
FEATURE_LAYER = "features"
#: How each shipped network is built and trained; :func:`train` reproduces it.
SPECS = {
    "mnist5k": {
        "dataset": "mnist5k", "target": "digit class", "factor": None, "num_classes": 10,
        # filters, kernel, stride, padding; each convolution is followed by 2x2 max pooling
        "convolutions": ((16, 5, 1, "same"), (32, 5, 1, "valid")), "feature_dim": 64,
        "augment": {"translation": 0.1, "rotation": 0.03}, "dropout": 0.3,
        "epochs": 40, "batch_size": 64, "learning_rate": 2e-3,
    },
    "dsprites": {
        "dataset": "dsprites", "target": "shape factor", "factor": 0, "num_classes": 3,
        "convolutions": ((16, 5, 2, "same"), (32, 3, 1, "same"), (32, 3, 1, "same")),
        "feature_dim": 64, "augment": None, "dropout": 0.0,
        "epochs": 6, "batch_size": 128, "learning_rate": 2e-3,
    },
}
#: The shipped network for each dataset that has one.
FOR_DATASET = {"mnist5k": "mnist5k", "mnist": "mnist5k", "dsprites": "dsprites"}
NO_NETWORK = (
    "pass a Keras model mapping its images to features (feature_network= / --feature-network "
    "FILE.keras); for natural images the usual choice is Inception: ae_zoo.evaluation."
    "feature_extractor(keras.applications.InceptionV3(include_top=False, pooling='avg'), "
    "(299, 299), keras.applications.inception_v3.preprocess_input)")


def names():
    """The shipped feature networks."""
    return sorted(SPECS)


def for_dataset(dataset):
    """The name of the shipped feature network for ``dataset``; a ValueError saying what to
    pass instead when there is none."""
    if dataset in FOR_DATASET:
        return FOR_DATASET[dataset]
    raise ValueError(f"no shipped feature network fits dataset {dataset!r} (shipped: "
                     f"{', '.join(f'{n} for {d}' for d, n in FOR_DATASET.items())}): {NO_NETWORK}")


def card(name):
    """The card of a shipped network (its ``<name>.json``)."""
    if name not in SPECS:
        raise ValueError(f"unknown feature network {name!r}; shipped: {', '.join(names())}")
    with open(os.path.join(HERE, f"{name}.json"), encoding="utf-8") as f:
        return json.load(f)


class FeatureNetwork:
    """A function from images (float32 NHWC in [0, 1]) to features, with what it is."""

    def __init__(self, function, info, input_shape=None):
        self.function, self.info, self.input_shape = function, dict(info), input_shape

    def features(self, images, batch_size=256, what="images"):
        """float64 (N, d) features of ``images``, ``batch_size`` at a time."""
        images = np.asarray(images, dtype="float32")
        if images.ndim != 4:
            raise ValueError(f"`{what}` must be a batch of images (N, H, W, C), got shape "
                             f"{images.shape}")
        if self.input_shape is not None and tuple(images.shape[1:]) != tuple(self.input_shape):
            raise ValueError(f"`{what}` are {images.shape[1:]} images, but the feature network "
                             f"{self.info.get('name')!r} takes {tuple(self.input_shape)}: "
                             + ("pass one for these images; " + NO_NETWORK
                                if self.info.get("source") == "shipped" else
                                "wrap it with ae_zoo.evaluation.feature_extractor(model, "
                                "image_size=...), which resizes them"))
        parts = [np.asarray(self.function(images[i:i + batch_size]))
                 for i in range(0, len(images), int(batch_size))]
        out = np.concatenate(parts).astype(np.float64)
        return out.reshape(len(out), -1)

    def describe(self):
        """What the metrics record about the network."""
        return dict(self.info)


def _static_shape(model, which):
    """``model.input_shape[1:]`` / ``output_shape[1:]`` when fully known (a subclassed
    model may have none), else None."""
    try:
        shape = tuple(getattr(model, which)[1:])
    except (AttributeError, ValueError, TypeError):
        return None
    return shape if None not in shape else None


def _keras_network(model, info):
    """A FeatureNetwork running ``model`` through one compiled function."""
    function = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    output = _static_shape(model, "output_shape")
    info = {**info, "feature_dim": None if output is None else int(np.prod(output))}
    return FeatureNetwork(lambda x: function(tf.constant(x)), info,
                          _static_shape(model, "input_shape"))


def _cut(model, feature_layer):
    return keras.Model(model.inputs, model.get_layer(feature_layer).output)


@functools.lru_cache(maxsize=None)
def _shipped(name):
    meta = card(name)
    model = load_keras(os.path.join(HERE, f"{name}.keras"))
    return _keras_network(_cut(model, meta["feature_layer"]), {
        "name": name, "source": "shipped", "feature_layer": meta["feature_layer"],
        "dataset": meta["dataset"], "test_accuracy": meta["test_accuracy"]})


def load(name_or_path):
    """A shipped network by name, or a ``.keras`` file (cut at the feature layer its card
    ``<file>.json`` names, else its output)."""
    if name_or_path in SPECS:
        return _shipped(name_or_path)
    path = os.fspath(name_or_path)
    if not os.path.isfile(path):
        raise ValueError(f"no feature network {path!r}: name a shipped one "
                         f"({', '.join(names())}) or a .keras file")
    model = load_keras(path)
    card_path = os.path.splitext(path)[0] + ".json"
    layer = None
    if os.path.isfile(card_path):
        with open(card_path, encoding="utf-8") as f:
            layer = json.load(f).get("feature_layer")
    return _keras_network(_cut(model, layer) if layer else model,
                          {"name": path, "source": "file", "feature_layer": layer or "output"})


def resolve(network):
    """A :class:`FeatureNetwork` from a name or path, a Keras model or a callable."""
    if isinstance(network, FeatureNetwork):
        return network
    if isinstance(network, (str, os.PathLike)):
        return load(network)
    if isinstance(network, keras.Model):
        return _keras_network(network, {"name": network.name, "source": "keras model",
                                        "feature_layer": "output"})
    if callable(network):
        return FeatureNetwork(network, {"name": getattr(network, "__name__", type(network).__name__),
                                        "source": "callable", "feature_layer": "output"})
    raise TypeError(f"feature_network must be a shipped name ({', '.join(names())}), a .keras "
                    f"path, a Keras model or a callable, got {type(network).__name__}")


# ------------------------------------------------------------------ training
def build_classifier(spec, input_shape, seed=0):
    """The classifier of ``spec`` (:data:`SPECS`): augmentation (training only), convolutions
    with ReLU and 2x2 max pooling, dense ``features`` (ReLU), dropout, class logits."""
    inputs = keras.Input(input_shape, name="images")
    x = inputs
    if spec["augment"]:
        shift, turn = spec["augment"]["translation"], spec["augment"]["rotation"]
        x = keras.layers.RandomTranslation(shift, shift, fill_mode="constant", seed=seed)(x)
        x = keras.layers.RandomRotation(turn, fill_mode="constant", seed=seed + 1)(x)
    for filters, kernel, stride, padding in spec["convolutions"]:
        x = keras.layers.Conv2D(filters, kernel, strides=stride, padding=padding,
                                activation="relu")(x)
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(spec["feature_dim"], activation="relu", name=FEATURE_LAYER)(x)
    if spec["dropout"]:
        x = keras.layers.Dropout(spec["dropout"], seed=seed + 2)(x)
    outputs = keras.layers.Dense(spec["num_classes"], name="logits")(x)
    return keras.Model(inputs, outputs, name=f"feature_network_{spec['dataset']}")


def _targets(spec, dataset):
    return dataset.y if spec["factor"] is None else dataset.factors[:, spec["factor"]]


def train(name, out, epochs=None, seed=0, verbose=2, command=None):
    """Trains the shipped network ``name`` on its dataset's train split, measures its test
    accuracy, and writes ``out/<name>.keras`` with its card (``.json`` and ``.md``).
    Returns the card."""
    if name not in SPECS:
        raise ValueError(f"unknown feature network {name!r}; shipped: {', '.join(names())}")
    spec = dict(SPECS[name], epochs=int(epochs or SPECS[name]["epochs"]))
    keras.utils.set_random_seed(int(seed))
    train_set, test_set = (data_lib.load(spec["dataset"], split) for split in ("train", "test"))
    model = build_classifier(spec, train_set.input_shape, int(seed))
    steps = spec["epochs"] * int(np.ceil(len(train_set) / spec["batch_size"]))
    model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(
                      spec["learning_rate"], steps)),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    start = time.time()
    model.fit(train_set.x, _targets(spec, train_set), epochs=spec["epochs"],
              batch_size=spec["batch_size"], shuffle=True, verbose=verbose)
    seconds = time.time() - start
    logits = model.predict(test_set.x, batch_size=512, verbose=0)
    accuracy = float(np.mean(np.argmax(logits, -1) == _targets(spec, test_set)))
    os.makedirs(out, exist_ok=True)
    shipped = build_classifier(spec, train_set.input_shape, int(seed))  # no optimizer state
    shipped.set_weights(model.get_weights())
    save_model(shipped, os.path.join(out, f"{name}.keras"))
    meta = {
        "name": name, "dataset": spec["dataset"], "target": spec["target"],
        "train_split": f"train ({len(train_set)} examples)",
        "test_split": f"test ({len(test_set)} examples)", "test_accuracy": accuracy,
        "feature_layer": FEATURE_LAYER, "feature_dim": spec["feature_dim"],
        "input_shape": list(train_set.input_shape), "parameters": int(model.count_params()),
        "file_bytes": os.path.getsize(os.path.join(out, f"{name}.keras")),
        "architecture": _architecture(spec), "seed": int(seed), "train_seconds": seconds,
        "training": {k: spec[k] for k in ("epochs", "batch_size", "learning_rate", "augment")},
        "command": command or f"ae-zoo feature-network {name} --out ae_zoo/evaluation/feature_networks",
        "versions": {"ae_zoo": __version__, "tensorflow": tf.__version__, "keras": keras.__version__},
    }
    write_json(os.path.join(out, f"{name}.json"), meta)
    write_text(os.path.join(out, f"{name}.md"), card_markdown(meta))
    return meta


def _architecture(spec):
    parts = []
    if spec["augment"]:
        parts.append(f"random shifts +-{spec['augment']['translation']:.0%} and rotations "
                     f"+-{spec['augment']['rotation']:.0%} of a turn (training only)")
    parts += [f"conv {f} {k}x{k}{' stride 2' if s == 2 else ''} + maxpool"
              for f, k, s, _ in spec["convolutions"]]
    parts.append(f"dense {spec['feature_dim']} ReLU (`{FEATURE_LAYER}`)")
    if spec["dropout"]:
        parts.append(f"dropout {spec['dropout']}")
    return ", ".join(parts + [f"{spec['num_classes']} logits"])


def card_markdown(meta):
    """The Markdown card of a feature network."""
    training = meta["training"]
    return "\n".join([
        f"# Feature network `{meta['name']}`", "",
        f"A classifier of the {meta['target']} of `{meta['dataset']}`, trained on its "
        f"{meta['train_split']} split only; the generation metrics (FID, KID, precision, recall) "
        f"compare the activations of its `{meta['feature_layer']}` layer "
        f"({meta['feature_dim']} features, after the ReLU).", "",
        "| | |", "|---|---|",
        f"| test accuracy | {meta['test_accuracy']:.2%} on the {meta['test_split']} split |",
        f"| feature layer | `{meta['feature_layer']}`, {meta['feature_dim']} dimensions |",
        f"| input | {' x '.join(map(str, meta['input_shape']))}, float32 in [0, 1] |",
        f"| architecture | {meta['architecture']} |",
        f"| parameters | {meta['parameters']:,} ({meta['file_bytes'] / 1024:.0f} KB file) |",
        f"| training | {training['epochs']} epochs, batch {training['batch_size']}, Adam "
        f"{training['learning_rate']:g} with cosine decay, seed {meta['seed']}, "
        f"{meta['train_seconds']:.0f} s |",
        f"| command | `{meta['command']}` |",
        f"| versions | ae_zoo {meta['versions']['ae_zoo']}, TensorFlow "
        f"{meta['versions']['tensorflow']}, Keras {meta['versions']['keras']} |", ""])
