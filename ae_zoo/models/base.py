"""The one base class of every ae_zoo model.

A variant states only what makes it different, usually one
``compute_losses(x, y, training)`` returning named scalar terms plus
``"loss"``. The base class owns the gradient step, the metric trackers, the
``metrics`` property, ``test_step``, input validation and the config.
"""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from ae_zoo import _random, nets
from ae_zoo.models import _checks, _fused
from ae_zoo.models import registry
from ae_zoo.models.registry import register
from ae_zoo.training.optimizers import FusedAdam

RECONSTRUCTION_LOSSES = ("mse", "bce")


def reconstruction_error(x, logits, kind):
    """Per-example mean over elements of the squared error or the BCE on logits."""
    x = ops.cast(x, "float32")
    logits = ops.cast(logits, "float32")
    if kind == "mse":
        err = ops.square(x - logits)
    else:
        err = ops.binary_crossentropy(x, logits, from_logits=True)
    return ops.mean(ops.reshape(err, (ops.shape(err)[0], -1)), axis=-1)


_CONVOLUTIONS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D,
                 keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose,
                 keras.layers.Conv3DTranspose, keras.layers.DepthwiseConv2D,
                 keras.layers.SeparableConv2D)


def _num_replicas():
    return tf.distribute.get_strategy().num_replicas_in_sync


def _multi_worker():
    strategy = tf.distribute.get_strategy()
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and (
        strategy.extended._in_multi_worker_mode())


def _first_tensor(x):
    while isinstance(x, (tuple, list, dict)):
        x = next(iter(x.values())) if isinstance(x, dict) else x[0]
    return x


@keras.saving.register_keras_serializable(package="ae_zoo")
@register("ae")
class Autoencoder(keras.Model):
    """Deterministic autoencoder with a low-dimensional bottleneck.

    Minimizes E_x[l(x, g(f(x)))], ``l`` the per-pixel mean squared error
    (``reconstruction_loss="mse"``, linear outputs) or binary cross-entropy
    on the decoder's logits (``"bce"``, data in [0, 1]); Hinton and
    Salakhutdinov (2006).

    Args:
        latent_dim: size of the code.
        architecture: ``"mlp"``, ``"conv"`` or ``"conv_unpool"`` (see
            :mod:`ae_zoo.nets`); network options such as ``hidden_units`` or
            ``filters`` are passed as keyword arguments.
        encoder, decoder: your own Keras models instead of an architecture.
            The encoder maps x to the code, the decoder maps the code to
            pre-activation outputs of x's shape (logits for ``"bce"``).
        input_shape: example shape, e.g. ``(28, 28, 1)``; if omitted the
            networks are built on the first batch.
        seed: seeds the model's ``keras.random.SeedGenerator``.

    Example:
        >>> model = Autoencoder(latent_dim=8, input_shape=(28, 28, 1))
        >>> model.compile()  # Adam(1e-3)
        >>> model.fit(x_train, epochs=5, validation_data=(x_test,))
        >>> codes = model.encode(x_test)
    """

    #: Names of the loss terms this model tracks; ``compute_losses`` returns them.
    loss_terms = ("loss", "reconstruction_loss")
    default_architecture = "mlp"

    @property
    def registry_name(self):
        """The name this model's class is registered under (``"vae"``), or None."""
        return registry.name_of(type(self))

    def __init__(self, latent_dim=16, architecture=None, encoder=None, decoder=None,
                 input_shape=None, reconstruction_loss="bce", seed=None, **kwargs):
        network_options = {k: kwargs.pop(k) for k in list(kwargs) if k in nets.NETWORK_OPTIONS}
        super().__init__(**kwargs)
        if (encoder is None) != (decoder is None):
            raise ValueError("Pass both `encoder` and `decoder`, or neither (and an `architecture`).")
        if encoder is not None and architecture is not None:
            raise ValueError("Pass either `architecture` or your own `encoder`/`decoder`, not both.")
        if isinstance(latent_dim, bool) or not isinstance(latent_dim, (int, np.integer)) \
                or latent_dim < 1:
            raise ValueError(f"`latent_dim` must be a positive integer, got {latent_dim!r}.")
        if reconstruction_loss not in RECONSTRUCTION_LOSSES:
            raise ValueError(
                f"Unknown reconstruction_loss {reconstruction_loss!r}; expected one of "
                f"{', '.join(RECONSTRUCTION_LOSSES)}."
            )
        self.latent_dim = int(latent_dim)
        self.reconstruction_loss = reconstruction_loss
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self._trackers = {name: keras.metrics.Mean(name=name) for name in self.loss_terms}
        self.user_networks = encoder is not None
        if self.user_networks:
            self.architecture = None
            if network_options:
                raise TypeError(
                    f"Network options {sorted(network_options)} only apply to a built-in "
                    "architecture, not to your own encoder/decoder."
                )
            if input_shape is None:
                input_shape = self._user_input_shape(encoder)
        else:
            self.architecture = architecture or self.default_architecture
            nets.validate_options(self.architecture, network_options)
        self.network_options = network_options
        self._input_shape = None if input_shape is None else tuple(int(d) for d in input_shape)
        if encoder is None and self._input_shape is not None:
            encoder, decoder = self._make_networks()
        # Sub-layers are created here, not in build(): subclasses may add their own after.
        self.encoder, self.decoder = encoder, decoder

    # ------------------------------------------------------------------ networks
    @staticmethod
    def _user_input_shape(encoder):
        try:
            spec = encoder.inputs[0]
        except (AttributeError, IndexError, ValueError):
            return None
        shape = tuple(spec.shape[1:])
        return shape if None not in shape else None

    def network_spec(self):
        """Widths the networks need: encoder output, decoder input, condition, channels."""
        return {"code_dim": self.latent_dim, "latent_dim": self.latent_dim}

    def build(self, input_shape):
        if isinstance(input_shape, (list, tuple)) and input_shape and isinstance(
            input_shape[0], (list, tuple)
        ):
            input_shape = input_shape[0]  # (x, labels) for conditional models
        if self._input_shape is None:
            self._input_shape = tuple(int(d) for d in input_shape[1:])
        if self.encoder is None:
            self.encoder, self.decoder = self._make_networks()

    def _make_networks(self):
        return nets.build_networks(
            self.architecture, self._input_shape, **self.network_spec(), **self.network_options
        )

    @property
    def example_shape(self):
        """The shape of one input example, or None before the model is built."""
        return self._input_shape

    # ------------------------------------------------------------ forward parts
    def _encoder_head(self, x, training=False, condition=None):
        """Runs the encoder: returns (head output, side outputs for the decoder)."""
        inputs = x if condition is None else [x, condition]
        out = self.encoder(inputs, training=training)
        if isinstance(out, dict) and "code" in out:
            side = dict(out)
            return side.pop("code"), side
        return out, {}

    def _decoder_logits(self, z, side=None, training=False):
        """Runs the decoder; fills missing switches with -1 (fixed-switch unpooling)."""
        names = self._decoder_side_inputs()
        if not names:
            return self.decoder(z, training=training)
        side = dict(side or {})
        batch = ops.shape(z)[0]
        for name, shape in names.items():
            if name not in side:
                side[name] = -ops.ones((batch, *shape), dtype="int32")
        return self.decoder({"code": z, **side}, training=training)

    def _decoder_side_inputs(self):
        """``{name: shape}`` of the decoder's inputs other than the code."""
        inputs = getattr(self.decoder, "input", None) if isinstance(self.decoder, keras.Model) else None
        if not isinstance(inputs, dict):
            return {}
        return {k: tuple(v.shape[1:]) for k, v in inputs.items() if k != "code"}

    def output_mean(self, logits):
        """Maps decoder outputs to the mean reconstruction (sigmoid for BCE)."""
        if self.reconstruction_loss == "bce":
            return ops.sigmoid(logits)
        return logits

    def reconstruction_target(self, x, y):
        """``fit(x)`` and ``fit(x, x)`` reconstruct x; ``fit(a, b)`` with b shaped like a maps a to b."""
        if y is not None and not isinstance(y, (tuple, list, dict)) and tuple(y.shape) == tuple(x.shape):
            return y
        return x

    # ---------------------------------------------------------------- objective
    def forward(self, x, training=False):
        """``(code, decoder outputs)`` for inputs ``x``."""
        code, side = self._encoder_head(x, training)
        return code, self._decoder_logits(code, side, training)

    def reconstruction_loss_value(self, target, logits):
        """Batch mean of the per-example reconstruction error."""
        return ops.mean(reconstruction_error(target, logits, self.reconstruction_loss))

    def compute_losses(self, x, y=None, training=False):
        """Named scalar loss terms for a batch; ``"loss"`` is the one minimized."""
        _, logits = self.forward(x, training)
        rec = self.reconstruction_loss_value(self.reconstruction_target(x, y), logits)
        return {"loss": rec, "reconstruction_loss": rec}

    # ------------------------------------------------------------- public API
    def call(self, inputs, training=False):
        """The reconstruction of ``inputs`` (mean image)."""
        return self.output_mean(self.forward(inputs, training)[1])

    def encode(self, x, batch_size=None):
        """The code of ``x``; with ``batch_size``, runs in batches and returns numpy."""
        if batch_size:
            return _batched(self.encode, x, batch_size)
        self._check_concrete(x, self._input_shape, "x")
        return self._encoder_head(ops.convert_to_tensor(x), False)[0]

    def decode(self, z, batch_size=None):
        """The mean reconstruction decoded from codes ``z``."""
        if batch_size:
            return _batched(self.decode, z, batch_size)
        self._check_concrete(z, None, "z")
        return self.output_mean(self._decoder_logits(ops.convert_to_tensor(z, "float32")))

    def reconstruct(self, x, batch_size=None):
        """``decode(encode(x))``, passing any pooling switches along."""
        if batch_size:
            return _batched(self.reconstruct, x, batch_size)
        self._check_concrete(x, self._input_shape, "x")
        return self(ops.convert_to_tensor(x), training=False)

    def next_seed(self):
        """A fresh stateless seed (int32, shape [2]) from the model's SeedGenerator.

        Under tf.distribute the replica id is folded in, so replicas draw
        different noise.
        """
        return _random.next_seed(self.seed_generator)

    # ---------------------------------------------------------------- training
    @property
    def metrics(self):
        return list(self._trackers.values())

    def _total_losses(self, x, y, training):
        losses = dict(self.compute_losses(x, y, training=training))
        if self.losses:  # layer regularizers of the encoder/decoder
            losses["loss"] = losses["loss"] + ops.cast(ops.sum(self.losses), losses["loss"].dtype)
        return losses

    def _update_trackers(self, losses, x):
        batch = ops.cast(ops.shape(_first_tensor(x))[0], "float32")
        for name, tracker in self._trackers.items():
            tracker.update_state(losses[name], sample_weight=batch)
        results = {name: tracker.result() for name, tracker in self._trackers.items()}
        if _multi_worker():
            # Keras 3 averages per-replica results with strategy.reduce(MEAN, axis=0),
            # which needs rank >= 1 under MultiWorkerMirroredStrategy (tensorflow#72388).
            results = {name: ops.reshape(value, (1,)) for name, value in results.items()}
        return results

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
        loss = loss / ops.cast(_num_replicas(), loss.dtype)
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
        x, y = self._unpack(data)
        with tf.GradientTape() as tape:
            losses = self._total_losses(x, y, training=True)
            scaled = self.scale_loss(losses["loss"])
        weights = self.optimized_weights  # after the forward pass: subclassed nets build lazily
        grads = tape.gradient(scaled, weights)
        self.optimizer.apply_gradients(zip(grads, weights))
        return self._update_trackers(losses, x)

    #: It returns the trackers' results, so several steps can run in one XLA program
    #: (an override without this mark trains through Keras' own loop).
    train_step.returns_tracker_results = True

    def make_train_function(self, force=False):
        """Keras' train function, or with XLA, ``steps_per_execution > 1`` and no
        tf.distribute strategy, one that runs each execution's steps in a single XLA
        program (see :mod:`ae_zoo.models._fused`)."""
        if self.train_function is not None and not force:
            return self.train_function
        super().make_train_function(force=True)
        default_strategy = (not tf.distribute.has_strategy()
                            and self.distribute_strategy is tf.distribute.get_strategy())
        fusable = (self.jit_compile and not self.run_eagerly and self.steps_per_execution > 1
                   and default_strategy
                   and getattr(type(self).train_step, "returns_tracker_results", False))
        if fusable:
            self.train_function = _fused.fused_train_function(self, self.train_function)
        return self.train_function

    def test_step(self, data):
        x, y = self._unpack(data)
        return self._update_trackers(self._total_losses(x, y, training=False), x)

    def compile(self, optimizer=None, loss=None, metrics=None, jit_compile="auto", **kwargs):
        """Keras ``compile``; with no optimizer, Adam(1e-3) (:class:`~ae_zoo.training.FusedAdam`,
        Keras's Adam applied by TensorFlow's fused kernel). The loss is the model's own.

        ``jit_compile="auto"`` compiles the train step with XLA (also on CPU)
        where that is faster (see :meth:`supports_xla`); ``True`` forces it.
        """
        if loss is not None:
            raise ValueError(
                "ae_zoo models define their own loss; choose it with the model's arguments "
                "(e.g. reconstruction_loss='mse') instead of compile(loss=...)."
            )
        if metrics:
            raise ValueError("ae_zoo models track their own loss terms; compile(metrics=...) is not used.")
        if optimizer is None:
            optimizer = FusedAdam(1e-3)
        if jit_compile == "auto":
            jit_compile = self.supports_xla()
        super().compile(optimizer=optimizer, jit_compile=jit_compile, **kwargs)

    def compile_from_config(self, config):
        """Recompiles a loaded model the way it was compiled (used by ``load_model``)."""
        config = keras.saving.deserialize_keras_object(config)
        unused = ("loss", "metrics", "weighted_metrics", "loss_weights")
        self.compile(**{k: v for k, v in config.items() if k not in unused or v})
        self._build_optimizer()

    def supports_xla(self):
        """Whether ``compile(jit_compile="auto")`` XLA-compiles the train step here.

        Yes, unless a layer does not support XLA, a tf.distribute strategy with
        several replicas is active, or, on a machine without a GPU, the networks
        have convolutions: XLA's CPU convolutions run about 2x slower than
        TensorFlow's oneDNN kernels (``benchmarks/throughput.py``).
        """
        if tf.distribute.has_strategy() and _num_replicas() > 1:
            return False
        layers = list(self._flatten_layers())
        if not all(getattr(layer, "supports_jit", True) for layer in layers):
            return False
        if not tf.config.list_physical_devices("GPU"):
            convolutional = self.architecture in ("conv", "conv_unpool") or any(
                isinstance(layer, _CONVOLUTIONS) for layer in layers)
            return not convolutional
        return True

    # ------------------------------------------------------- input validation
    def check_inputs(self, x, y=None, what="x"):
        """Raises a clear error for bad ``x`` (and a reconstruction target ``y``) before
        any training starts."""
        value_range = (0.0, 1.0) if self.reconstruction_loss == "bce" else None
        _checks.check_inputs(x, self._input_shape, value_range, what)
        if y is not None and np.shape(y) == np.shape(x):  # a target, as in fit(x_in, x_out)
            _checks.check_inputs(y, self._input_shape, value_range, f"the target for {what}")

    def _check_concrete(self, x, shape, what, value_range=None):
        """Checks eager inputs of encode/decode/reconstruct; symbolic ones pass through."""
        if isinstance(x, tf.Tensor) and not hasattr(x, "numpy"):
            return
        _checks.check_array(x, shape, value_range, what, allow_empty=True)

    def _check_validation(self, validation_data):
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
            sample = _checks._first(x)
            if isinstance(x, tf.data.Dataset):
                sample_shape = _checks._first(x.element_spec).shape
            else:
                sample_shape = np.shape(sample)
            self.build((None, *sample_shape[1:]))
        if not self.compiled:
            self.compile()
        self._build_optimizer()

    @staticmethod
    def _reject_weights(kwargs):
        for key in ("sample_weight", "class_weight"):
            if kwargs.get(key) is not None:
                raise ValueError(f"ae_zoo models do not take `{key}`: every example counts once.")

    def fit(self, x=None, y=None, *args, validation_data=None, **kwargs):
        self._reject_weights(kwargs)
        self._prepare(x, y)
        self._check_validation(validation_data)
        return super().fit(x, y, *args, validation_data=validation_data, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        self._reject_weights(kwargs)
        self._prepare(x, y)
        return super().evaluate(x, y, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
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

    def _seed_states(self):
        """State variables of every SeedGenerator in the model (its own and its layers')."""
        states = []
        for layer in self._flatten_layers(include_self=True):
            states.extend(g.state for g in getattr(layer, "_seed_generators", []))
        return states

    def save_own_variables(self, store):
        """Keras' own variables, plus the seed generators' states.

        Keras does not save ``SeedGenerator`` states; saving them makes a run
        resumed from a checkpoint draw the same noise as an uninterrupted one.
        """
        super().save_own_variables(store)
        for i, state in enumerate(self._seed_states()):
            store[f"seed_state_{i}"] = state

    def load_own_variables(self, store):
        seed_keys = [k for k in store.keys() if k.startswith("seed_state_")]
        super().load_own_variables({k: store[k] for k in store.keys() if k not in seed_keys})
        states = self._seed_states()
        if len(seed_keys) == len(states):
            for i, state in enumerate(states):
                state.assign(store[f"seed_state_{i}"])

    # ------------------------------------------------------------------ config
    def get_config(self):
        config = {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.saving.serialize_keras_object(self.dtype_policy),
            "latent_dim": self.latent_dim,
            "input_shape": self._input_shape,
            "reconstruction_loss": self.reconstruction_loss,
            "seed": self.seed,
            **self.network_options,
        }
        if self.user_networks:
            config["encoder"] = keras.saving.serialize_keras_object(self.encoder)
            config["decoder"] = keras.saving.serialize_keras_object(self.decoder)
        else:
            config["architecture"] = self.architecture
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("encoder", "decoder", "dtype"):
            if isinstance(config.get(key), dict):
                config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


def _batched(fn, x, batch_size):
    """Applies ``fn`` to ``x`` in batches and returns one numpy array."""
    x = np.asarray(x)
    parts = [ops.convert_to_numpy(fn(x[i:i + batch_size])) for i in range(0, len(x), batch_size)]
    return np.concatenate(parts, axis=0)
