"""The speed engine every ae_zoo model trains on (``import ae_zoo`` installs it).

:class:`FastEngine` is the :attr:`ae_zoo.models.Autoencoder.engine` of every model,
plugins included: the models declare what to compute, the engine decides how it runs.

* ``compile(jit_compile="auto")`` compiles the train step with XLA where that is faster:
  always on GPUs; on CPUs for dense networks but not for convolutional ones, whose XLA CPU
  kernels run about 2x slower than TensorFlow's oneDNN kernels
  (``benchmarks/throughput.py``); never when a layer does not support XLA
  (``supports_jit = False``) or under a tf.distribute strategy with several replicas.
* With XLA, ``steps_per_execution > 1`` and no strategy, the steps of an execution run as
  one XLA program (:mod:`ae_zoo.training.fused`).
"""

import keras
import tensorflow as tf

from ae_zoo.training import fused

_CONVOLUTIONS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D,
                 keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose,
                 keras.layers.Conv3DTranspose, keras.layers.DepthwiseConv2D,
                 keras.layers.SeparableConv2D)


def _layers(layer):
    """``layer`` and every layer of the models inside it (``Model.layers``, recursively)."""
    yield layer
    for sub in getattr(layer, "layers", ()):
        yield from _layers(sub)


def xla_helps(model):
    """Whether XLA-compiling ``model``'s train step is supported and faster here."""
    if tf.distribute.has_strategy() and tf.distribute.get_strategy().num_replicas_in_sync > 1:
        return False
    layers = list(_layers(model))
    if not all(getattr(layer, "supports_jit", True) for layer in layers):
        return False
    if not tf.config.list_physical_devices("GPU"):
        return not any(isinstance(layer, _CONVOLUTIONS) for layer in layers)
    return True


class FastEngine:
    """ae_zoo's engine: the XLA policy and several steps in one XLA program (see the module)."""

    def compile_options(self, model, jit_compile="auto", **options):
        if jit_compile == "auto":
            jit_compile = xla_helps(model)
        return {"jit_compile": jit_compile, **options}

    def train_function(self, model, function):
        default_strategy = (not tf.distribute.has_strategy()
                            and model.distribute_strategy is tf.distribute.get_strategy())
        if model.jit_compile and not model.run_eagerly and model.steps_per_execution > 1 \
                and default_strategy:
            return fused.fused_train_function(model, function)
        return function
