"""Samplers: draws for a model's decoder from a distribution fitted to its codes.

Every sampler is a Keras layer with ``fit(model, x)`` (which fits it to the model's codes of
the images ``x`` and attaches it to the model) and ``sample(n, seed=None)`` (decoded
images); once attached, ``model.sample`` draws from it, and it is saved with the model and
exported into its ``sample`` signature (see :mod:`ae_zoo.samplers.base`)::

    >>> sampler = ae_zoo.samplers.GaussianMixtureSampler(n_components=10).fit(ae, x_train)
    >>> images = ae.sample(16, seed=0)        # == sampler.sample(16, seed=0)

=====================  ==============  ====================================================
class                  name            models
=====================  ==============  ====================================================
NormalSampler          ``normal``      N(0, I): the VAE family's prior
GaussianMixtureSampler ``gmm``         a Gaussian mixture of the codes (Ghosh et al. 2020)
TwoStageSampler        ``two_stage``   a second VAE on the codes (Dai and Wipf 2019)
MAFSampler             ``maf``         a masked autoregressive flow on the codes
PixelCNNSampler        ``pixelcnn``    a gated PixelCNN over a VQ-VAE's grid of code indices
=====================  ==============  ====================================================
"""

from ae_zoo.samplers.base import Sampler
from ae_zoo.samplers.gaussian import GaussianMixtureSampler, NormalSampler
from ae_zoo.samplers.learned import MAFSampler, TwoStageSampler, build_made
from ae_zoo.samplers.pixelcnn import PixelCNNSampler, build_gated_pixelcnn
from ae_zoo.samplers.registry import (
    SAMPLERS,
    create,
    default_for,
    fit_default,
    get,
    names,
    resolve,
)

__all__ = [
    "SAMPLERS",
    "GaussianMixtureSampler",
    "MAFSampler",
    "NormalSampler",
    "PixelCNNSampler",
    "Sampler",
    "TwoStageSampler",
    "build_gated_pixelcnn",
    "build_made",
    "create",
    "default_for",
    "fit_default",
    "get",
    "names",
    "resolve",
]
