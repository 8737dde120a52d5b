"""``load_pretrained(name)``: the SavedModels of the zoo, with numpy in and numpy out.

The zoo is the top-level ``saved_models/`` folder of the repository, shipped inside
the package as ``ae_zoo/_pretrained`` by ``pip install .`` (editable installs read
the repository folder itself); how names resolve and what a model folder holds:
:mod:`ae_zoo._zoo`. ``AE_ZOO_SAVED_MODELS=/some/dir`` points the loader at another zoo.
"""

import os

import keras
import numpy as np
import tensorflow as tf

from ae_zoo._zoo import CARD, ENV_VAR, available, read_card, resolve, zoo_dir  # noqa: F401
from ae_zoo.layers import CORRUPTIONS, make_corruption
from ae_zoo.models import CAPABILITIES, _checks
from ae_zoo.export.saved_model import read_model_info, signature_specs


def load_pretrained(name_or_path, version=None, require_card=True):
    """Loads a pretrained SavedModel by zoo name (``"vae_mnist5k"``) or path.

    Returns a :class:`PretrainedModel`: the methods of an in-memory model, numpy in and
    numpy out (``encode``, ``decode``, ``reconstruct``, and ``sample`` for a generative
    model; ``labels=`` for a conditional one), its declared capabilities, and
    ``signatures``, ``signature_specs``, ``card`` and ``path``. Large inputs run in batches.

    Example:
        >>> import ae_zoo
        >>> vae = ae_zoo.load_pretrained("vae_mnist5k")
        >>> images = vae.sample(16, seed=0)          # (16, 28, 28, 1)
        >>> codes = vae.encode(test_images)          # posterior means
        >>> vae.card["metrics"]["test_reconstruction_mse"]
    """
    folder, version_dir, version = resolve(name_or_path, version, require_card)
    card = read_card(folder, required=require_card, version_dir=version_dir)
    try:
        specs = signature_specs(version_dir)
        loaded = tf.saved_model.load(version_dir)
    except Exception as err:  # noqa: BLE001  (a corrupted protobuf or variables)
        raise ValueError(f"Could not load the SavedModel in {version_dir}: {err}") from err
    signatures = dict(loaded.signatures)
    for needed in ("encode", "decode", "reconstruct"):
        if needed not in signatures:
            raise ValueError(f"{version_dir} has no {needed!r} signature; it has {sorted(signatures)}. "
                             "Export it with ae_zoo.export_saved_model.")
    return PretrainedModel(loaded, signatures, specs, card, version_dir, version,
                           info=read_model_info(version_dir))


def tfsm_layer(name_or_path, endpoint="serving_default", version=None, *, trainable=False,
               name=None):
    """``keras.layers.TFSMLayer`` calling one signature of a zoo model (by name), a model
    folder (its highest version) or a version directory; frozen unless ``trainable``.

    Example:
        >>> encode = ae_zoo.export.tfsm_layer("vae_mnist5k", "encode")
        >>> codes = encode(images)["code"]             # inside a functional model too
    """
    _, version_dir, _ = resolve(name_or_path, version, require_card=False)
    endpoints = sorted(signature_specs(version_dir))
    if endpoint not in endpoints:
        raise ValueError(f"{version_dir} has no endpoint {endpoint!r}; it has {', '.join(endpoints)}.")
    return keras.layers.TFSMLayer(version_dir, call_endpoint=endpoint, trainable=trainable,
                                  name=name)


#: A card's old "family" field, for cards written before capabilities were recorded.
_FAMILY_PRIOR = {"vae": "standard_normal", "conditional_vae": "standard_normal"}


def _capabilities(signatures, specs, card, info):
    """What an exported model can do: its signatures say it; what they cannot say (the
    prior, the kind of codes) the export's own record does, else the card."""
    recorded = info.get("capabilities") or card.get("capabilities") or {}
    samples = "sample" in signatures or "generate" in signatures
    generative = recorded.get("generative", samples)  # with a sampler, a model samples too
    prior = recorded.get("prior_type", _FAMILY_PRIOR.get(card.get("family")) if generative else None)
    return {
        **CAPABILITIES,
        "conditional": "generate" in signatures,
        "generative": generative,
        "has_likelihood": False,  # the signatures expose no likelihood
        "latent_kind": recorded.get("latent_kind", CAPABILITIES["latent_kind"]),
        "posterior_type": "gaussian" if "z_log_var" in specs["encode"]["outputs"] else None,
        "prior_type": prior,
        "denoising": False,  # the corruption is not in the graph (see _corruption)
    }


def _corruption(info, card):
    """The corruption layer a denoising model trained with, as its export recorded it
    (exports older than the record: rebuilt from the card's ``corruption`` and
    ``noise_level`` model options), or None."""
    if info.get("corruption"):
        try:
            return keras.saving.deserialize_keras_object(info["corruption"])
        except (TypeError, ValueError):  # a user's layer that is not registered here
            return None
    options = card.get("model_options") or {}
    if options.get("corruption") in CORRUPTIONS:
        return make_corruption(options["corruption"], options.get("noise_level"),
                               clip=options.get("reconstruction_loss", "bce") == "bce")
    return None


class PretrainedModel:
    """An exported ae_zoo model behind the interface of an in-memory one: numpy in, numpy
    out, the same methods (labels keyword-only) and declared capabilities.

    Attributes:
        path: the version directory that was loaded; ``version`` its number.
        card: the model card (dict from ``card.json``).
        signatures: ``{name: concrete function}`` (call with keyword tensors).
        signature_specs: ``{name: {"inputs": ..., "outputs": ...}}`` with shapes and dtypes.
        example_shape, latent_dim: one image's shape and the code size.
        conditional, generative, has_likelihood, latent_kind, posterior_type, prior_type,
        denoising: the capabilities (see :data:`ae_zoo.models.CAPABILITIES`); a denoising
            model also has ``corruption`` (the layer its export or card records),
            ``corrupt(x)`` and ``corruption_description()``, for the figures.
        can_sample: whether it exports ``sample`` (or ``generate``): a generative model,
            or one exported with a sampler (``sampler_name``).
    """

    #: An exported model tracks no loss terms: its signatures give no training loss.
    loss_terms = ()

    def __init__(self, loaded, signatures, specs, card, path, version, info=None):
        self._loaded = loaded  # keeps the variables alive
        self.info = dict(info or {})
        self.signatures = signatures
        self.signature_specs = specs
        self.card = card
        self.path = path
        self.version = version
        self.example_shape = tuple(specs["reconstruct"]["inputs"]["x"]["shape"][1:])
        self.latent_dim = int(specs["decode"]["inputs"]["z"]["shape"][1])
        for name, value in _capabilities(signatures, specs, card, self.info).items():
            setattr(self, name, value)
        self.can_sample = "sample" in signatures or "generate" in signatures
        self.sampler_name = self.info.get("sampler")
        self.corruption = _corruption(self.info, card)
        self.denoising = self.corruption is not None

    def capabilities(self):
        return {name: getattr(self, name) for name in CAPABILITIES}

    def corrupt(self, x):
        """A freshly corrupted copy of ``x`` (a denoising model: its recorded corruption),
        as the model saw its inputs in training; for the figures."""
        if self.corruption is None:
            raise TypeError(f"{self.name} is not a denoising model: it records no corruption.")
        return np.asarray(self.corruption(tf.constant(np.asarray(x, "float32")), training=True))

    def corruption_description(self):
        """The corruption in words (e.g. "salt-and-pepper noise on 20% of the pixels")."""
        describe = getattr(self.corruption, "describe", None)
        return describe() if describe else type(self.corruption).__name__

    def input_range(self):
        """The range inputs must lie in, as the exported model recorded it (exports older
        than the record: from the card's reconstruction loss, BCE by default)."""
        if "input_range" in self.info:
            return None if self.info["input_range"] is None else tuple(self.info["input_range"])
        loss = (self.card.get("model_options") or {}).get("reconstruction_loss", "bce")
        return (0.0, 1.0) if loss == "bce" else None

    @property
    def name(self):
        return self.card.get("name") or os.path.basename(os.path.dirname(self.path))

    @property
    def registry_name(self):
        return self.info.get("model") or self.card.get("model") or self.name

    @property
    def num_classes(self):
        return self.info.get("num_classes") or self.card.get("num_classes")

    def __repr__(self):
        return (f"<{type(self).__name__} {self.name!r} v{self.version}: "
                f"signatures {', '.join(sorted(self.signatures))}>")

    def _run(self, signature, batch_size=256, **inputs):
        """Calls ``signature`` on numpy ``inputs`` in batches; returns ``{output: numpy}``."""
        spec = self.signature_specs[signature]["inputs"]
        if set(inputs) != set(spec):
            raise TypeError(f"{signature!r} takes inputs {sorted(spec)}, got {sorted(inputs)}.")
        arrays = {}
        for name, value in inputs.items():
            array = np.asarray(value)
            if spec[name]["dtype"] == "int64":
                if array.size and not np.all(np.equal(np.mod(array, 1), 0)):
                    raise TypeError(f"`{name}` must hold integers, got {array.dtype}.")
                array = array.astype("int64").reshape(-1)
            else:
                array = array.astype(spec[name]["dtype"])
                expected = tuple(spec[name]["shape"][1:])
                if array.ndim == len(expected):
                    array = array[None]  # one example
                if tuple(array.shape[1:]) != expected:
                    raise ValueError(f"`{name}` must have shape (batch, {', '.join(map(str, expected))}), "
                                     f"got {array.shape}.")
            arrays[name] = array
        sizes = {len(a) for a in arrays.values()}
        if len(sizes) != 1:
            raise ValueError(f"Inputs of {signature!r} have different batch sizes: "
                             f"{ {k: len(v) for k, v in arrays.items()} }.")
        n = sizes.pop()
        fn = self.signatures[signature]
        parts = []
        for start in range(0, max(n, 1), int(batch_size)):
            batch = {k: tf.constant(v[start:start + int(batch_size)]) for k, v in arrays.items()}
            parts.append({k: t.numpy() for k, t in fn(**batch).items()})
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def _inputs(self, main, value, labels):
        """The signature's inputs, checked as the in-memory model checks them: ``main`` (x,
        or z; one example may come without its batch axis) and, if conditional, ``label``."""
        shape = self.example_shape if main == "x" else (self.latent_dim,)
        array = np.asarray(value)
        if array.ndim == len(shape):
            array = array[None]
        _checks.check_array(array, shape, self.input_range() if main == "x" else None, main,
                            allow_empty=True)
        _checks.check_labels(self, labels, len(array))
        inputs = {main: array}
        if self.conditional:
            inputs["label"] = labels
        return inputs

    def encode(self, x, *, labels=None, batch_size=256, return_distribution=False,
               return_all=False):
        """The codes of ``x`` (the posterior mean for a Gaussian posterior); with
        ``return_distribution``, ``(mean, scale)`` of q(z|x); with ``return_all``, the
        signature's dict (``code``, and ``z_mean``, ``z_log_var``)."""
        out = self._run("encode", batch_size, **self._inputs("x", x, labels))
        if return_distribution:
            if self.posterior_type != "gaussian":
                raise TypeError(f"{self.name} has no posterior distribution: it exports codes only.")
            return out["z_mean"], np.exp(0.5 * out["z_log_var"])
        return out if return_all else out["code"]

    def decode(self, z, *, labels=None, batch_size=256):
        """The mean images decoded from codes ``z``."""
        return self._run("decode", batch_size, **self._inputs("z", z, labels))["reconstruction"]

    def reconstruct(self, x, *, labels=None, batch_size=256):
        """``decode(encode(x))``: the mean reconstruction of ``x``."""
        return self._run("reconstruct", batch_size, **self._inputs("x", x, labels))["reconstruction"]

    def sample(self, num_samples, *, labels=None, seed=None, batch_size=256):
        """``num_samples`` images from the model's sampler or prior; image ``i`` from seed ``seed + i``
        (the same images as the in-memory model's ``sample(num_samples, seed=seed)``). A
        conditional model draws under ``labels`` (default: the classes in turn)."""
        if not self.can_sample:
            raise TypeError(f"{self.name} is not generative and was exported without a sampler: "
                            "it has no sample signature.")
        num_samples = _checks.check_count(num_samples, "num_samples")
        seeds = _seeds(num_samples, _checks.check_seed(seed))
        if not self.conditional:
            _checks.check_labels(self, labels, num_samples)
            return self._run("sample", batch_size, seed=seeds)["image"]
        if labels is None:
            if not self.num_classes:
                raise ValueError("The card has no num_classes; pass `labels`.")
            labels = np.arange(num_samples) % int(self.num_classes)
        _checks.check_labels(self, labels, num_samples)
        return self._run("generate", batch_size, label=labels, seed=seeds)["image"]

    def generate(self, labels, seed=None, batch_size=256):
        """One image per label (a conditional model): ``sample(len(labels), labels=labels)``."""
        labels = np.asarray(labels).reshape(-1)
        return self.sample(len(labels), labels=labels, seed=seed, batch_size=batch_size)


def _seeds(num, seed):
    if seed is None:
        seed = int(np.random.randint(0, 2**31 - 1 - num))
    return np.arange(num, dtype="int64") + int(seed)
