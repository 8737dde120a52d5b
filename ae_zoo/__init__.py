"""ae_zoo: autoencoders for Keras 3 / TensorFlow.

    >>> import ae_zoo
    >>> train = ae_zoo.data.load("mnist5k", "train")
    >>> vae = ae_zoo.models.create("vae", latent_dim=16, input_shape=train.input_shape)
    >>> vae.compile()
    >>> vae.fit(train.x, epochs=10)

Importing ae_zoo registers every model for ``keras.models.load_model``, installs the
training engine (:class:`ae_zoo.training.FastEngine`) on every model, and loads the model
plugins of other packages (the ``ae_zoo.models`` entry points).

The ``ae-zoo`` command (the console script, ``python -m ae_zoo``) defers all that, and
TensorFlow, until a command needs it, so that ``ae-zoo --help`` and ``ae-zoo list`` start
at once: there the first use of any name below (or :func:`load_all`) imports it.
"""

import importlib
import os
import sys

from ae_zoo._version import __version__  # noqa: F401

#: The package's public names, each from its module (imported by :func:`load_all`).
_EXPORTS = {
    **{name: "ae_zoo.models" for name in (
        "VAE", "Autoencoder", "BetaVAE", "ConditionalVAE", "ConvAutoencoder",
        "DenoisingAutoencoder", "SparseAutoencoder", "create", "register")},
    "export_saved_model": "ae_zoo.export",
    "load_pretrained": "ae_zoo.export",
}
_MODULES = ("data", "layers", "models", "nets", "samplers", "training", "export")

__all__ = sorted([*_EXPORTS, *_MODULES])


def load_all():
    """Imports the package (TensorFlow and every model), installs the training engine and
    loads the model plugins; once. ``import ae_zoo`` calls it, but in the ``ae-zoo`` command."""
    if _state["loaded"]:
        return
    _state["loaded"] = True
    package = sys.modules[__name__]
    for module in _MODULES:
        importlib.import_module(f"ae_zoo.{module}")
    for name, module in _EXPORTS.items():
        setattr(package, name, getattr(sys.modules[module], name))
    models = sys.modules["ae_zoo.models"]
    # The composition root: the models declare what to compute, the training engine how it runs.
    models.Autoencoder.engine = sys.modules["ae_zoo.training"].FastEngine()
    # Last, so that a plugin importing ae_zoo finds everything above in place.
    models.load_plugins()


def __getattr__(name):
    """The deferred names of the ``ae-zoo`` command: the first use imports the package."""
    if (name in _EXPORTS or name in _MODULES) and not _state["loaded"]:
        load_all()
    if name in globals():  # absent while load_all() runs: the import system finds submodules
        return globals()[name]
    raise AttributeError(f"module 'ae_zoo' has no attribute {name!r}")


def _started_as_the_command():
    """Whether this interpreter runs the ``ae-zoo`` console script or ``python -m ae_zoo``."""
    script = os.path.basename(sys.argv[0]) if sys.argv else ""
    if script.removesuffix(".exe").removesuffix("-script.py") == "ae-zoo":
        return True
    argv = list(getattr(sys, "orig_argv", ()))
    return any(a == "-m" and b == "ae_zoo" for a, b in zip(argv, argv[1:])) or "-mae_zoo" in argv


_state = {"loaded": False}
if not _started_as_the_command():
    load_all()
