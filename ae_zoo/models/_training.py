"""How a model trains, is checked and is saved in Keras: the part of the model contract
that every model inherits unchanged (:class:`~ae_zoo.models.Autoencoder` mixes it in).

``train_step`` differentiates the objective's ``"loss"`` and returns the trackers'
results (an override, such as FactorVAE's with its second optimizer, returns
``self.track(losses, x)`` too); ``test_step`` tracks the same terms; ``fit``, ``evaluate``
and ``predict`` check their inputs before Keras sees them; ``compile`` defaults to Adam and
asks the model's :attr:`engine` how to run; the seed generators' states are saved with the
weights. How compile and fit run is the engine's business: :class:`KerasEngine` is plain
Keras, and ``import ae_zoo`` installs ``ae_zoo.training.FastEngine`` in its place.
"""

import os

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from ae_zoo import _random
from ae_zoo.data import ImageDataset, StreamingImageDataset
from ae_zoo.models import _checks, preset
from ae_zoo.optimizers import FusedAdam


class KerasEngine:
    """How ``compile`` and ``fit`` run without ae_zoo's speed machinery: as Keras runs them.

    An engine has three hooks: ``compile_options(model, **options)`` returns the keyword
    arguments of ``keras.Model.compile`` (resolving ``jit_compile`` and
    ``steps_per_execution`` given as ``"auto"``), ``train_function(model, function)``
    returns the train function ``fit`` calls, given Keras' own, and ``fit(model, keras_fit,
    **arguments)`` runs ``fit`` (Keras' ``fit`` is ``keras_fit``; the arguments are checked
    and named). :class:`ae_zoo.training.FastEngine` is the one ``import ae_zoo`` installs.
    """

    def compile_options(self, model, steps_per_execution="auto", **options):
        if steps_per_execution == "auto":
            steps_per_execution = 1  # Keras' default
        return {"steps_per_execution": steps_per_execution, **options}

    def train_function(self, model, function):
        return function

    def fit(self, model, keras_fit, x=None, validation_data=None, **arguments):
        if isinstance(x, StreamingImageDataset):
            raise TypeError("A StreamingImageDataset trains on ae_zoo's engine (import ae_zoo); "
                            "with plain Keras, pass its head() or a tf.data.Dataset.")
        if isinstance(x, ImageDataset):  # Keras takes arrays
            x = x.x
        if validation_data is not None and isinstance(validation_data[0], ImageDataset):
            validation_data = (validation_data[0].x, *validation_data[1:])
        return keras_fit(x=x, validation_data=validation_data, **arguments)


def _first_tensor(x):
    while isinstance(x, (tuple, list, dict)):
        x = next(iter(x.values())) if isinstance(x, dict) else x[0]
    return x


class Trainable:
    """The training, checking and saving half of every ae_zoo model (a mixin of
    :class:`~ae_zoo.models.Autoencoder`)."""

    #: How compile and fit run (see :class:`KerasEngine`).
    engine = KerasEngine()

    # ---------------------------------------------------------------- training
    @property
    def metrics(self):
        return list(self._trackers.values())

    def terms(self, x, y=None, training=False):
        """The checked dict of :meth:`objective` for a batch (``y``: the labels of a
        conditional model, else a reconstruction target), with the layers' own
        regularization losses added to ``"loss"``."""
        labels, target = (y, None) if self.conditional else (None, y)
        losses = dict(self.objective(x, target, labels=labels, training=training))
        missing = [k for k in self.loss_terms if k not in losses]
        extra = [k for k in losses if k not in self._trackers]
        if missing or extra:
            raise ValueError(
                f"{type(self).__name__}.objective returned {sorted(losses)}, but its loss_terms "
                f"are {list(self.loss_terms)}: "
                + "; ".join(filter(None, [missing and f"missing {missing}",
                                          extra and f"not declared {extra}"]))
                + ". Return exactly the declared terms, or declare the new ones in loss_terms.")
        if self.losses:  # layer regularizers of the encoder/decoder
            losses["loss"] = losses["loss"] + ops.cast(ops.sum(self.losses), losses["loss"].dtype)
        return losses

    def track(self, losses, x):
        """Updates the trackers with a batch's ``losses`` (weighted by its size); returns
        their results, which is what ``train_step`` and ``test_step`` return."""
        batch = ops.cast(ops.shape(_first_tensor(x))[0], "float32")
        for name, tracker in self._trackers.items():
            tracker.update_state(losses[name], sample_weight=batch)
        results = self.tracker_results()
        if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
            # Keras 3 averages per-replica results with strategy.reduce(MEAN, axis=0),
            # which needs rank >= 1 under MultiWorkerMirroredStrategy (tensorflow#72388).
            results = {name: ops.reshape(value, (1,)) for name, value in results.items()}
        return results

    def tracker_results(self):
        """``{term: running mean}`` of every tracked term."""
        return {name: tracker.result() for name, tracker in self._trackers.items()}

    @staticmethod
    def _unpack(data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if sample_weight is not None:
            raise ValueError("ae_zoo models do not take `sample_weight`.")
        return x, y

    def scale_loss(self, loss, optimizer=None):
        """The loss to differentiate: divided by the replica count and loss-scaled.

        Call it inside the ``GradientTape``; it matches what Keras does for its
        own losses under tf.distribute and mixed precision.
        """
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        loss = loss / ops.cast(replicas, loss.dtype)
        return (optimizer or self.optimizer).scale_loss(loss)

    @property
    def optimized_weights(self):
        """The weights the model's optimizer updates (all trainable ones by default)."""
        return self.trainable_weights

    def _build_optimizer(self):
        """Builds the optimizer on ``optimized_weights`` (before Keras builds it on all)."""
        networks_built = all(net is not None and net.built for net in (self.encoder, self.decoder))
        if getattr(self, "optimizer", None) is not None and not self.optimizer.built and self.built \
                and networks_built:  # subclassed user networks have no weights until called
            with self.distribute_strategy.scope():
                self.optimizer.build(self.optimized_weights)

    def train_step(self, data):
        """One gradient step on ``loss``. An override returns ``self.track(losses, x)``
        (the engine may run several steps in one program and report the trackers)."""
        x, y = self._unpack(data)
        with tf.GradientTape() as tape:
            losses = self.terms(x, y, training=True)
            scaled = self.scale_loss(losses["loss"])
        weights = self.optimized_weights  # after the forward pass: subclassed nets build lazily
        grads = tape.gradient(scaled, weights)
        self.optimizer.apply_gradients(zip(grads, weights))
        return self.track(losses, x)

    def test_step(self, data):
        x, y = self._unpack(data)
        return self.track(self.terms(x, y, training=False), x)

    def predict_step(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        if self.conditional and y is None and isinstance(x, (tuple, list)) and len(x) == 2:
            x, y = x  # predict((x, labels)) arrives as a 1-tuple
        return self((x, y) if self.conditional else x, training=False)

    def make_train_function(self, force=False):
        """Keras' train function, as the :attr:`engine` runs it."""
        if self.train_function is not None and not force:
            return self.train_function
        super().make_train_function(force=True)
        self.train_function = self.engine.train_function(self, self.train_function)
        return self.train_function

    def compile(self, optimizer=None, loss=None, metrics=None, jit_compile="auto",
                steps_per_execution="auto", **kwargs):
        """Keras ``compile``; with no optimizer, Adam(1e-3) (:class:`~ae_zoo.optimizers.FusedAdam`,
        Keras's Adam applied by TensorFlow's fused kernel). The loss is the model's own.

        ``jit_compile="auto"`` lets the :attr:`engine` decide whether XLA compiles the
        train step (ae_zoo's: where that is faster); ``True`` forces it.
        ``steps_per_execution="auto"``: the engine picks it when ``fit`` knows the epoch
        (ae_zoo's: the whole epoch, or a divisor of its steps, up to 64); an integer is kept.
        """
        if loss is not None:
            raise ValueError(
                "ae_zoo models define their own loss; choose it with the model's arguments "
                "(e.g. reconstruction_loss='mse') instead of compile(loss=...)."
            )
        if metrics:
            raise ValueError("ae_zoo models track their own loss terms; compile(metrics=...) is not used.")
        options = self.engine.compile_options(self, jit_compile=jit_compile,
                                              steps_per_execution=steps_per_execution, **kwargs)
        self.auto_steps_per_execution = steps_per_execution == "auto"
        super().compile(optimizer=optimizer or FusedAdam(1e-3), **options)

    @classmethod
    def from_preset(cls, name_or_path, version=None, *, compile=True):
        """A zoo entry (``"vae_mnist5k"``, a model folder, a version directory or a
        ``.keras`` file) as a trained model of this class, compiled and ready to ``fit``
        (see :func:`ae_zoo.models.from_preset`)."""
        model = preset.from_preset(name_or_path, version, compile=compile)
        if not isinstance(model, cls):
            raise TypeError(f"{os.fspath(name_or_path)!r} holds a {type(model).__name__}, not a "
                            f"{cls.__name__}: load it with ae_zoo.models.from_preset(...) or "
                            f"{type(model).__name__}.from_preset(...).")
        return model

    def compile_from_config(self, config):
        """Recompiles a loaded model the way it was compiled (used by ``load_model``)."""
        config = keras.saving.deserialize_keras_object(config)
        unused = ("loss", "metrics", "weighted_metrics", "loss_weights")
        self.compile(**{k: v for k, v in config.items() if k not in unused or v})
        self._build_optimizer()

    # ------------------------------------------------------- input validation
    def check_inputs(self, x, y=None, what="x"):
        """Raises a clear error for bad ``x`` (and its labels or reconstruction target
        ``y``) before any training starts."""
        _checks.check_model_inputs(self, x, y, self.input_range(), what)

    def input_range(self):
        """The range inputs must lie in: [0, 1] for a Bernoulli (BCE) decoder, else None."""
        return (0.0, 1.0) if getattr(self, "reconstruction_loss", None) == "bce" else None

    def _check_concrete(self, x, shape, what, value_range=None):
        """Checks eager inputs of encode/decode/reconstruct; symbolic ones pass through."""
        if isinstance(x, tf.Tensor) and not hasattr(x, "numpy"):
            return
        _checks.check_array(x, shape, value_range, what, allow_empty=True)

    def _check_validation(self, validation_data):
        if isinstance(validation_data, (tuple, list)) and validation_data \
                and isinstance(validation_data[0], (ImageDataset, StreamingImageDataset)):
            labels = validation_data[1] if len(validation_data) > 1 else None
            self.check_inputs(validation_data[0], labels, what="validation_data")
            return
        if validation_data is None or isinstance(validation_data, tf.data.Dataset):
            if validation_data is not None:
                self.check_inputs(validation_data, what="validation_data")
            return
        if isinstance(validation_data, list):
            validation_data = tuple(validation_data)
        vx, vy, vw = keras.utils.unpack_x_y_sample_weight(validation_data)
        if vw is not None:
            raise ValueError("ae_zoo models do not take sample weights (in `validation_data`).")
        self.check_inputs(vx, vy, what="validation_data")

    def _prepare(self, x, y=None):
        self.check_inputs(x, y)
        if not self.built:
            if isinstance(x, (ImageDataset, StreamingImageDataset)):
                sample_shape = (None, *x.input_shape)
            elif isinstance(x, tf.data.Dataset):
                sample_shape = _checks._first(x.element_spec).shape
            else:
                sample_shape = np.shape(_checks._first(x))
            self.build((None, *sample_shape[1:]))
        if not self.compiled:
            self.compile()
        self._build_optimizer()

    @staticmethod
    def _reject_weights(kwargs):
        for key in ("sample_weight", "class_weight"):
            if kwargs.get(key) is not None:
                raise ValueError(f"ae_zoo models do not take `{key}`: every example counts once.")

    def _arrays(self, x, y=None):
        """``(x, y)``, an ``ImageDataset`` taken apart (its labels for a conditional model)."""
        if isinstance(x, ImageDataset):
            if y is None and self.conditional:
                y = x.y
            x = x.x
        return x, y

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1):
        """Keras ``fit``, its arguments checked first; ``x`` may also be an ``ImageDataset``
        (and ``validation_data`` one: its labels go with it for a conditional model). The
        engine decides how arrays train (ae_zoo's: :class:`ae_zoo.training.FastEngine`)."""
        self._reject_weights({"sample_weight": sample_weight, "class_weight": class_weight})
        if isinstance(x, ImageDataset) and y is None and self.conditional:
            y = x.y
        if isinstance(validation_data, (ImageDataset, StreamingImageDataset)):
            validation_data = (validation_data, validation_data.y) if self.conditional \
                else (validation_data,)
        self._prepare(x, y)
        self._check_validation(validation_data)
        return self.engine.fit(
            self, super().fit, x=x, y=y, batch_size=batch_size, epochs=epochs, verbose=verbose,
            callbacks=callbacks, validation_split=validation_split,
            validation_data=validation_data, shuffle=shuffle, initial_epoch=initial_epoch,
            steps_per_epoch=steps_per_epoch, validation_steps=validation_steps,
            validation_batch_size=validation_batch_size, validation_freq=validation_freq)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        self._reject_weights(kwargs)
        x, y = self._arrays(x, y)
        if not kwargs.get("_use_cached_eval_dataset"):  # fit's validation: checked by fit
            self._prepare(x, y)
        return super().evaluate(x, y, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        if isinstance(x, ImageDataset):
            x = (x.x, x.y) if self.conditional else x.x
        self._prepare(x)
        return super().predict(x, *args, **kwargs)

    # ------------------------------------------------------------- saving
    def _ensure_built(self):
        if not self.built and self._input_shape is not None:
            self.build((None, *self._input_shape))

    def save(self, filepath, *args, **kwargs):
        self._ensure_built()
        return super().save(filepath, *args, **kwargs)

    def save_weights(self, filepath, *args, **kwargs):
        self._ensure_built()
        return super().save_weights(filepath, *args, **kwargs)

    def save_own_variables(self, store):
        """Keras' own variables, plus the seed generators' states (so a resumed run draws
        the noise an uninterrupted one would)."""
        super().save_own_variables(store)
        for i, state in enumerate(_random.seed_states(self)):
            store[f"seed_state_{i}"] = state

    def load_own_variables(self, store):
        seed_keys = [k for k in store.keys() if k.startswith("seed_state_")]
        super().load_own_variables({k: store[k] for k in store.keys() if k not in seed_keys})
        states = _random.seed_states(self)
        if len(seed_keys) == len(states):
            for i, state in enumerate(states):
                state.assign(store[f"seed_state_{i}"])
