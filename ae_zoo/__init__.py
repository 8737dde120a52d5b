"""ae_zoo: autoencoders for Keras 3 / TensorFlow.

    >>> import ae_zoo
    >>> train = ae_zoo.data.load("mnist5k", "train")
    >>> vae = ae_zoo.models.create("vae", latent_dim=16, input_shape=train.input_shape)
    >>> vae.compile()
    >>> vae.fit(train.x, epochs=10)

Importing ae_zoo registers every model for ``keras.models.load_model``, installs the
training engine (:class:`ae_zoo.training.FastEngine`) on every model, and loads the model
plugins of other packages (the ``ae_zoo.models`` entry points).
"""

from ae_zoo._version import __version__  # noqa: E402,F401
from ae_zoo import data, layers, models, nets  # noqa: E402
from ae_zoo.models import (  # noqa: E402
    VAE,
    Autoencoder,
    BetaVAE,
    ConditionalVAE,
    ConvAutoencoder,
    DenoisingAutoencoder,
    SparseAutoencoder,
    create,
    register,
)
from ae_zoo import samplers  # noqa: E402
from ae_zoo import training  # noqa: E402
from ae_zoo import export  # noqa: E402
from ae_zoo.export import export_saved_model, load_pretrained  # noqa: E402

# The composition root: the models declare what to compute, the training engine how it runs.
models.Autoencoder.engine = training.FastEngine()
# Last, so that a plugin importing ae_zoo finds everything above in place.
models.load_plugins()

__all__ = [
    "VAE",
    "Autoencoder",
    "BetaVAE",
    "ConditionalVAE",
    "ConvAutoencoder",
    "DenoisingAutoencoder",
    "SparseAutoencoder",
    "create",
    "data",
    "export",
    "export_saved_model",
    "load_pretrained",
    "layers",
    "models",
    "nets",
    "register",
    "samplers",
    "training",
]
