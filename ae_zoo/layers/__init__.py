"""Custom Keras layers: input corruptions, pooling with switches, conditioning, a faster
transposed convolution for image outputs, vector quantization, and the masked layers of
autoregressive models (MADE, PixelCNN)."""

from ae_zoo.layers.conditioning import ConcatCondition
from ae_zoo.layers.corruption import (
    CORRUPTIONS,
    GaussianCorruption,
    Masking,
    Occlusion,
    SaltAndPepper,
    make_corruption,
)
from ae_zoo.layers.deconv import SubPixelConv2DTranspose
from ae_zoo.layers.masked import (
    GatedActivation,
    MaskedConv2D,
    MaskedDense,
    made_degrees,
    pixelcnn_mask,
)
from ae_zoo.layers.pooling import MaxPoolingWithArgmax2D, MaxUnpooling2D
from ae_zoo.layers.quantization import VectorQuantizer

__all__ = [
    "CORRUPTIONS",
    "ConcatCondition",
    "GatedActivation",
    "GaussianCorruption",
    "MaskedConv2D",
    "MaskedDense",
    "Masking",
    "MaxPoolingWithArgmax2D",
    "MaxUnpooling2D",
    "Occlusion",
    "SaltAndPepper",
    "SubPixelConv2DTranspose",
    "VectorQuantizer",
    "made_degrees",
    "make_corruption",
    "pixelcnn_mask",
]
