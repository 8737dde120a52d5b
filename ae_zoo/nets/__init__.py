"""Encoder/decoder builders. The architecture is one axis, the objective another.

``build_networks(architecture, input_shape, code_dim, latent_dim)`` returns a
pair of functional Keras models: the encoder maps ``x`` (and, when
``condition_dim > 0``, a condition vector) to ``code_dim`` linear outputs, the
decoder maps ``latent_dim`` values to pre-activation outputs of the input's
shape (logits for Bernoulli data). ``conv_unpool`` networks also pass the
pooling switches from encoder to decoder (see :mod:`ae_zoo.nets.conv_unpool`).
"""

import inspect

from ae_zoo.nets.conv import build_conv
from ae_zoo.nets.conv_unpool import build_conv_unpool
from ae_zoo.nets.mlp import build_mlp

BUILDERS = {"mlp": build_mlp, "conv": build_conv, "conv_unpool": build_conv_unpool}
ARCHITECTURES = tuple(BUILDERS)
# Every option any builder takes; a model accepts these as keyword arguments.
NETWORK_OPTIONS = ("hidden_units", "filters", "kernel_size", "strides", "pool_size",
                   "dense_units", "activation")


def options_for(architecture):
    """The network options (keyword arguments) that ``architecture`` accepts."""
    params = inspect.signature(_builder(architecture)).parameters
    return tuple(name for name in params if name in NETWORK_OPTIONS)


def _builder(architecture):
    if architecture not in BUILDERS:
        raise ValueError(
            f"Unknown architecture {architecture!r}; expected one of {', '.join(ARCHITECTURES)} "
            "or your own `encoder=` and `decoder=` Keras models."
        )
    return BUILDERS[architecture]


def validate_options(architecture, options):
    """Raises if ``architecture`` is unknown or does not take one of ``options``."""
    allowed = options_for(architecture)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise TypeError(
            f"architecture={architecture!r} does not take option(s) {', '.join(unknown)}; "
            f"it takes {', '.join(allowed)}."
        )


def build_networks(architecture, input_shape, code_dim, latent_dim=None, condition_dim=0,
                   output_channels=None, **options):
    """Builds ``(encoder, decoder)`` for ``architecture`` ("mlp", "conv", "conv_unpool").

    ``code_dim`` is the encoder's output width (the code, or 2 x latent for a
    Gaussian posterior), ``latent_dim`` the decoder's input width (defaults to
    ``code_dim``; add the condition size for a conditional decoder).
    """
    validate_options(architecture, options)
    input_shape = tuple(int(d) for d in input_shape)
    if not input_shape or min(input_shape) < 1:
        raise ValueError(f"`input_shape` must be a tuple of positive sizes, got {input_shape}.")
    for key in ("code_dim", "latent_dim"):
        value = code_dim if key == "code_dim" else latent_dim
        if value is not None and int(value) < 1:
            raise ValueError(f"`{key}` must be a positive integer, got {value}.")
    return BUILDERS[architecture](
        input_shape, int(code_dim), int(latent_dim or code_dim),
        condition_dim=int(condition_dim), output_channels=output_channels, **options,
    )


__all__ = ["ARCHITECTURES", "NETWORK_OPTIONS", "build_conv", "build_conv_unpool", "build_mlp",
           "build_networks", "options_for", "validate_options"]
