"""The model zoo. Every model subclasses :class:`Autoencoder` and is registered by name."""

from ae_zoo.models.base import RECONSTRUCTION_LOSSES, Autoencoder
from ae_zoo.models.convolutional import ConvAutoencoder
from ae_zoo.models.cvae import ConditionalVAE
from ae_zoo.models.denoising import DenoisingAutoencoder
from ae_zoo.models.disentangling import (
    DIPVAE,
    DIPVAEI,
    DIPVAEII,
    AnnealedVAE,
    BetaTCVAE,
    FactorVAE,
    dip_covariance_penalty,
    minibatch_weighted_tc,
)
from ae_zoo.models.registry import create, get, names, register
from ae_zoo.models.sparse import SparseAutoencoder
from ae_zoo.models.vae import VAE, BetaVAE

__all__ = [
    "RECONSTRUCTION_LOSSES",
    "AnnealedVAE",
    "Autoencoder",
    "BetaTCVAE",
    "BetaVAE",
    "ConditionalVAE",
    "ConvAutoencoder",
    "DIPVAE",
    "DIPVAEI",
    "DIPVAEII",
    "DenoisingAutoencoder",
    "FactorVAE",
    "SparseAutoencoder",
    "VAE",
    "create",
    "dip_covariance_penalty",
    "get",
    "minibatch_weighted_tc",
    "names",
    "register",
]
