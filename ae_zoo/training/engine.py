"""The speed engine every ae_zoo model trains on (``import ae_zoo`` installs it).

:class:`FastEngine` is the :attr:`ae_zoo.models.Autoencoder.engine` of every model,
plugins included: the models declare what to compute, the engine decides how it runs.

* ``compile(jit_compile="auto")`` compiles the train step with XLA where that is faster:
  always on GPUs; on CPUs for dense networks but not for convolutional ones, whose XLA CPU
  kernels run about 2x slower than TensorFlow's oneDNN kernels
  (``benchmarks/throughput.py``); never when a layer does not support XLA
  (``supports_jit = False``) or under a tf.distribute strategy with several replicas.
* ``compile(steps_per_execution="auto")`` (the default) runs several steps per call of
  the compiled function, up to 64, a divisor of the epoch's steps when ``fit`` knows them
  (:func:`resolve_steps_per_execution`), and 1 when a callback must see every batch
  (:func:`needs_every_step`: a user callback with a batch hook, a per-step
  ``BetaSchedule``); an integer the user gives is kept.
* With XLA, ``steps_per_execution > 1`` and no strategy (:func:`fuses`), the steps of an
  execution run as one XLA program (:mod:`ae_zoo.training.fused`), and ``fit`` on arrays
  streams whole executions, stacked by tf.data (:meth:`ArrayPipeline.executions`).
* ``fit`` on in-memory arrays (numpy, eager tensors, an ``ImageDataset``) trains on
  :class:`~ae_zoo.training.pipeline.ArrayPipeline`: batches gathered from one in-memory
  tensor in a (seed, epoch)-determined order, the whole run one stream of epochs (Keras
  keeps one iterator instead of replacing it every epoch), the last partial batch of an
  epoch included. A ``StreamingImageDataset`` (a TFDS split over the memory budget) trains
  the same way on :class:`~ae_zoo.training.pipeline.StreamPipeline`, read from its files. The seed is the model's ``seed`` (else drawn from numpy's global
  generator, which ``keras.utils.set_random_seed`` seeds). Everything else of ``fit`` is
  Keras': ``validation_data`` / ``validation_split`` (the last fraction of the arrays, as
  Keras takes it), ``shuffle``, ``initial_epoch``, ``steps_per_epoch`` (at most that many
  batches per epoch), callbacks (``on_train_batch_end`` once per execution, as Keras
  documents for ``steps_per_execution``), ``BackupAndRestore``, the progress bar and the
  history. A ``tf.data.Dataset`` or any other input goes to Keras unchanged.
"""

import keras
import numpy as np
import tensorflow as tf

from ae_zoo.data import ImageDataset, StreamingImageDataset
from ae_zoo.training import fused
from ae_zoo.training.pipeline import ArrayPipeline, StreamPipeline

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


def resolve_steps_per_execution(value, steps_per_epoch, longest=64, shortest=16):
    """``auto``: several steps per call of the compiled function, preferably a divisor of
    the epoch's steps, so that :func:`fit_inputs` can stream the epochs.

    The whole epoch when it has at most ``longest`` (64) steps; else its largest divisor
    up to 64 if that is at least ``shortest`` (16); else 64, with a short last execution.
    Every call costs 1-2 ms besides its steps (the compiled loop's entry and exit, Keras'
    loop and callbacks): on the dense VAE of ``benchmarks/throughput.py`` (40 steps an
    epoch, ~5 ms each) the whole epoch in one call trains ~3.5% faster than four calls of
    10 steps (median of paired epochs on the 2-core CPU).
    """
    if value != "auto":
        return int(value)
    if steps_per_epoch <= longest:
        return steps_per_epoch
    largest = max(d for d in range(1, longest + 1) if steps_per_epoch % d == 0)
    return largest if largest >= shortest else longest


_BATCH_HOOKS = ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end")


def needs_every_step(callback):
    """Whether ``callback`` must see every training batch: its ``needs_every_step``
    attribute if it sets one, else whether it overrides a batch hook of
    ``keras.callbacks.Callback`` (Keras' own callbacks excepted: they are written for
    ``steps_per_execution``). ``steps_per_execution="auto"`` then resolves to 1, so that
    "auto" never changes what a callback sees."""
    declared = getattr(callback, "needs_every_step", None)
    if declared is not None:
        return bool(declared)
    if type(callback).__module__.startswith("keras."):
        return False
    return any(getattr(type(callback), hook, None) is not getattr(keras.callbacks.Callback, hook)
               for hook in _BATCH_HOOKS)


def fit_inputs(pipeline, steps_per_execution, fused_steps=False):
    """``(dataset, steps_per_epoch)`` for ``fit``: the endless :meth:`ArrayPipeline.stream`
    when whole executions make up an epoch (Keras then keeps one iterator for the run),
    else the one-epoch :meth:`ArrayPipeline.dataset` (``steps_per_epoch`` None). With
    ``fused_steps`` (the train function runs an execution as one program: :func:`fuses`),
    the stream of whole executions, :meth:`ArrayPipeline.executions`, where it serves them."""
    if pipeline.steps_per_epoch % int(steps_per_execution):
        return pipeline.dataset(), None
    if fused_steps and pipeline.stacks(steps_per_execution):
        return pipeline.executions(steps_per_execution), pipeline.steps_per_epoch
    return pipeline.stream(), pipeline.steps_per_epoch


def fuses(model):
    """Whether ``model``'s train function runs each execution's steps as one XLA program
    (:mod:`ae_zoo.training.fused`): XLA, several steps per execution, no tf.distribute
    strategy."""
    default_strategy = (not tf.distribute.has_strategy()
                        and model.distribute_strategy is tf.distribute.get_strategy())
    return bool(model.jit_compile and not model.run_eagerly and model.steps_per_execution > 1
                and default_strategy)


def in_memory(x):
    """Whether ``x`` is data ``fit`` feeds through its own pipeline: an array, an eager
    tensor, an ``ImageDataset`` (its stored images, uint8 ones included) or a
    ``StreamingImageDataset`` (read from its files)."""
    return isinstance(x, (np.ndarray, ImageDataset, StreamingImageDataset)) or (
        isinstance(x, tf.Tensor) and hasattr(x, "numpy"))


def pipeline_for(model, x, y=None, batch_size=32, seed=0, shuffle=True, steps_per_epoch=None):
    """The pipeline of ``x``: :class:`StreamPipeline` for a streamed dataset (its labels for
    a conditional model), else :class:`ArrayPipeline` with the partial last batch."""
    if isinstance(x, StreamingImageDataset):
        return StreamPipeline(x, batch_size, seed=seed, shuffle=shuffle, labels=model.conditional,
                              steps_per_epoch=steps_per_epoch)
    if isinstance(x, ImageDataset):
        x = x.images
    return ArrayPipeline(x, y, batch_size, seed=seed, shuffle=shuffle,
                         steps_per_epoch=steps_per_epoch, drop_remainder=False)


def _last_fraction(arrays, fraction):
    """Keras' ``validation_split``: the last ``fraction`` of every array held out."""
    total = len(arrays[0])
    split = int(total * (1.0 - fraction))
    if not 0 < split < total:
        raise ValueError(f"`validation_split`={fraction} leaves no training or no validation "
                         f"examples of {total}.")
    return [None if a is None else a[:split] for a in arrays], \
        [None if a is None else a[split:] for a in arrays]


class FastEngine:
    """ae_zoo's engine: the XLA policy, steps per execution, several steps in one XLA
    program, and ``fit`` on arrays through the in-memory pipeline (see the module)."""

    def compile_options(self, model, jit_compile="auto", steps_per_execution="auto", **options):
        if jit_compile == "auto":
            jit_compile = xla_helps(model)
        if steps_per_execution == "auto":
            steps_per_execution = 1  # until fit knows the epoch
        return {"jit_compile": jit_compile, "steps_per_execution": steps_per_execution, **options}

    def _set_steps_per_execution(self, model, steps_per_epoch, callbacks=None):
        """Resolves ``"auto"`` for an epoch of ``steps_per_epoch`` steps (unknown, or a
        callback that must see every batch: 1)."""
        if not getattr(model, "auto_steps_per_execution", False):
            return
        every_step = any(needs_every_step(c) for c in (callbacks or []))
        steps = resolve_steps_per_execution("auto", steps_per_epoch) \
            if steps_per_epoch and not every_step else 1
        if steps != model.steps_per_execution:
            model.steps_per_execution = steps
            model.train_function = model.test_function = model.predict_function = None

    def fit(self, model, keras_fit, x=None, y=None, batch_size=None, validation_split=0.0,
            validation_data=None, shuffle=True, steps_per_epoch=None, callbacks=None,
            validation_batch_size=None, **arguments):
        if not in_memory(x):
            cardinality = int(x.cardinality()) if isinstance(x, tf.data.Dataset) else -1
            self._set_steps_per_execution(model, steps_per_epoch or max(cardinality, 0), callbacks)
            return keras_fit(x=x, y=y, batch_size=batch_size, validation_split=validation_split,
                             validation_data=validation_data, shuffle=shuffle,
                             steps_per_epoch=steps_per_epoch, callbacks=callbacks,
                             validation_batch_size=validation_batch_size, **arguments)
        if validation_split and validation_data is None:
            if isinstance(x, StreamingImageDataset):
                x, held_out = x.hold_out(validation_split)
                validation_data = (held_out,)
            else:
                x = x.images if isinstance(x, ImageDataset) else x
                (x, y), validation_data = _last_fraction([x, y], validation_split)
        batch_size = int(batch_size or 32)  # Keras' default
        seed = model.seed if model.seed is not None else int(np.random.randint(2**31 - 1))
        pipeline = pipeline_for(model, x, y, batch_size, seed, bool(shuffle), steps_per_epoch)
        self._set_steps_per_execution(model, pipeline.steps_per_epoch, callbacks)
        dataset, per_epoch = fit_inputs(pipeline, model.steps_per_execution, fuses(model))
        if validation_data is not None:
            if in_memory(validation_data):
                validation_data = (validation_data,)
            vx, vy, _ = keras.utils.unpack_x_y_sample_weight(tuple(validation_data))
            if in_memory(vx):
                validation_data = pipeline_for(model, vx, vy, int(validation_batch_size or batch_size),
                                               shuffle=False).dataset()
        return keras_fit(x=dataset, steps_per_epoch=per_epoch, shuffle=False,
                         callbacks=[pipeline.callback(), *(callbacks or [])],
                         validation_data=validation_data, **arguments)

    def train_function(self, model, function):
        if fuses(model):
            return fused.fused_train_function(model, function)
        return function
