"""The convolutional autoencoder."""

from ae_zoo.models.base import Autoencoder
from ae_zoo.models.registry import register


@register("conv_ae")
class ConvAutoencoder(Autoencoder):
    """Autoencoder with the convolutional architecture by default.

    Same objective as :class:`Autoencoder`; the encoder is a stack of strided
    ``Conv2D`` layers and the decoder its ``Conv2DTranspose`` mirror
    (``architecture="conv_unpool"`` gives the max-pooling/unpooling variant).
    """

    default_architecture = "conv"
