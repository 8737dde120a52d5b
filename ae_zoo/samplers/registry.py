"""The samplers by name, and the default sampler of a model."""

from ae_zoo.samplers.gaussian import GaussianMixtureSampler, NormalSampler
from ae_zoo.samplers.learned import MAFSampler, TwoStageSampler
from ae_zoo.samplers.pixelcnn import PixelCNNSampler

SAMPLERS = {cls.sampler_name: cls for cls in (NormalSampler, GaussianMixtureSampler,
                                              TwoStageSampler, MAFSampler, PixelCNNSampler)}


def names():
    """The sampler names: normal, gmm, two_stage, maf, pixelcnn."""
    return list(SAMPLERS)


def get(name):
    """The sampler class named ``name``."""
    if name not in SAMPLERS:
        raise ValueError(f"Unknown sampler {name!r}; available samplers: {', '.join(SAMPLERS)}.")
    return SAMPLERS[name]


def create(name, **options):
    """An unfitted sampler named ``name`` with its keyword ``options``."""
    return get(name)(**options)


def default_for(model):
    """The name of the sampler ``ae-zoo train`` fits to ``model`` after training, or None:
    the model's declared ``default_sampler``; else none for a generative model (it keeps
    its own prior) and ``"gmm"``, the ex-post Gaussian mixture, for any other. A
    conditional model gets none (samplers model unconditional codes)."""
    if model.conditional:
        return None
    if model.default_sampler:
        return model.default_sampler
    return None if model.generative else "gmm"


def resolve(model, name="default"):
    """The sampler ``name`` stands for with ``model`` (``"default"``: :func:`default_for`),
    or None for ``"none"`` or no default."""
    name = default_for(model) if name == "default" else name
    return None if name in (None, "none") else name


def fit_default(model, x, *, name="default", options=None, seed=0, verbose=0):
    """Fits and attaches ``model``'s sampler (``name``: a sampler name, ``"default"`` for
    :func:`default_for`, or ``"none"``) on the images ``x``; returns it, or None."""
    name = resolve(model, name)
    if name is None:
        return None
    return create(name, **(options or {})).fit(model, x, seed=seed, verbose=verbose)
