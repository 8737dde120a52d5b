"""The model zoo. Every model subclasses :class:`Autoencoder` and is registered by name
(``@ae_zoo.register("name")``); other packages add models through the ``ae_zoo.models``
entry-point group (see :mod:`ae_zoo.models.registry`)."""

from ae_zoo.models import hparams
from ae_zoo.models.adversarial import AAE, VAEGAN
from ae_zoo.models.base import CAPABILITIES, RECONSTRUCTION_LOSSES, Autoencoder, KerasEngine
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
from ae_zoo.models.flows import VAEIAF, VAENF, FlowVAE
from ae_zoo.models.iwae import CIWAE, IWAE, MIWAE, PIWAE, ImportanceWeighted
from ae_zoo.models.priors import MixtureOfGaussiansVAE, MixturePrior, VampPriorVAE
from ae_zoo.models.preset import from_preset
from ae_zoo.models.rae import RAE, RAEGP, RAEL2
from ae_zoo.models.registry import create, get, load_plugins, names, plugins, register
from ae_zoo.models.sparse import SparseAutoencoder
from ae_zoo.models.vae import VAE, BetaVAE
from ae_zoo.models.vq_vae import VQVAE
from ae_zoo.models.wae import WAE, InfoVAE, kernel_matrix, mmd_unbiased

__all__ = [
    "AAE",
    "CAPABILITIES",
    "RECONSTRUCTION_LOSSES",
    "AnnealedVAE",
    "Autoencoder",
    "BetaTCVAE",
    "BetaVAE",
    "CIWAE",
    "ConditionalVAE",
    "ConvAutoencoder",
    "DIPVAE",
    "DIPVAEI",
    "DIPVAEII",
    "DenoisingAutoencoder",
    "FactorVAE",
    "FlowVAE",
    "IWAE",
    "ImportanceWeighted",
    "InfoVAE",
    "KerasEngine",
    "MIWAE",
    "MixtureOfGaussiansVAE",
    "MixturePrior",
    "PIWAE",
    "RAE",
    "RAEGP",
    "RAEL2",
    "SparseAutoencoder",
    "VAE",
    "VAEGAN",
    "VAEIAF",
    "VAENF",
    "VQVAE",
    "VampPriorVAE",
    "WAE",
    "create",
    "dip_covariance_penalty",
    "from_preset",
    "get",
    "hparams",
    "kernel_matrix",
    "load_plugins",
    "minibatch_weighted_tc",
    "mmd_unbiased",
    "names",
    "plugins",
    "register",
]
