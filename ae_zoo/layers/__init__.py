"""Custom Keras layers: input corruptions, pooling with switches, conditioning, and a
faster transposed convolution for image outputs."""

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
from ae_zoo.layers.pooling import MaxPoolingWithArgmax2D, MaxUnpooling2D

__all__ = [
    "CORRUPTIONS",
    "ConcatCondition",
    "GaussianCorruption",
    "Masking",
    "MaxPoolingWithArgmax2D",
    "MaxUnpooling2D",
    "Occlusion",
    "SaltAndPepper",
    "SubPixelConv2DTranspose",
    "make_corruption",
]
