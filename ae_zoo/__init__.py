"""ae_zoo: autoencoders for Keras 3 / TensorFlow.

    >>> import ae_zoo
    >>> train = ae_zoo.data.load("mnist5k", "train")
    >>> vae = ae_zoo.models.create("vae", latent_dim=16, input_shape=train.input_shape)
    >>> vae.compile()
    >>> vae.fit(train.x, epochs=10)
"""

__version__ = "0.1.0"

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
)
from ae_zoo import export  # noqa: E402
from ae_zoo.export import export_saved_model, load_pretrained  # noqa: E402

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
]
