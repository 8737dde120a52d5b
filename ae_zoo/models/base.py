"""The one base class of every ae_zoo model, and the contract a model keeps.

A model states only what makes it different (the README's "Add your own model"):

* its objective, ``objective(x, y=None, *, labels=None, training=False)``: a dict of named
  scalar terms, ``"loss"`` the one minimized. ``loss_terms`` names them; the base class
  tracks exactly those, and a dict with a missing or an extra key is an error at the
  first step that names the key;
* its capabilities, class attributes that the rest of the package reads instead of
  asking what class a model is (:data:`CAPABILITIES`);
* its hyperparameters (``__init__`` arguments, checked there, and ``get_config``), their
  search space (:meth:`Autoencoder.search_space`) and the serving functions it adds.

The base class owns the gradient step, the trackers, ``test_step``, the one signature of
every method (labels are keyword-only: ``encode(x, *, labels=None)``), the input checks,
the seed states saved with the weights, and the config (the training, checking and
saving half lives in :mod:`ae_zoo.models._training`). How ``compile`` and ``fit`` run (XLA,
several steps per execution) is the ``engine``'s business: ``import ae_zoo`` installs
ae_zoo's training engine, and plain Keras runs otherwise.
"""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from ae_zoo import _random, nets
from ae_zoo.models import _checks, registry, serving
from ae_zoo.models._sampling import Sampling
from ae_zoo.models._training import KerasEngine, Trainable  # noqa: F401  (KerasEngine: re-exported)
from ae_zoo.models.registry import register

RECONSTRUCTION_LOSSES = ("mse", "bce")
#: The capabilities every model declares (class attributes), with the base class's values.
CAPABILITIES = {
    "conditional": False,     # methods take labels= (class ids); fit(x, labels); num_classes
    "generative": False,      # sample(n, seed=) decodes sample_codes(seeds): a prior or sampler
    "has_likelihood": False,  # log_likelihood(x, num_samples=) and a tracked "elbo"
    "latent_kind": "continuous",  # or "discrete": codes are codebook vectors picked by index;
                                  # encode(x, return_indices=True) -> (codes, indices)
    "posterior_type": None,   # "gaussian": encode(x, return_distribution=True) -> (mean, scale)
    "prior_type": None,       # what sample_codes draws from: "standard_normal", "learned"
    "denoising": False,       # trains on corrupt(x); figures show the corrupted inputs
}


def reconstruction_error(x, logits, kind):
    """Per-example mean over elements of the squared error or the BCE on logits."""
    x = ops.cast(x, "float32")
    logits = ops.cast(logits, "float32")
    if kind == "mse":
        err = ops.square(x - logits)
    else:
        err = ops.binary_crossentropy(x, logits, from_logits=True)
    return ops.mean(ops.reshape(err, (ops.shape(err)[0], -1)), axis=-1)


@register("ae")
class Autoencoder(Sampling, Trainable, keras.Model):
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

    # ------------------------------------------------------------ declarations
    conditional = CAPABILITIES["conditional"]
    generative = CAPABILITIES["generative"]
    has_likelihood = CAPABILITIES["has_likelihood"]
    latent_kind = CAPABILITIES["latent_kind"]
    posterior_type = CAPABILITIES["posterior_type"]
    prior_type = CAPABILITIES["prior_type"]
    denoising = CAPABILITIES["denoising"]
    #: The terms ``objective`` returns, in the order they are tracked and logged.
    loss_terms = ("loss", "reconstruction_loss")
    #: Tracked terms that are better when larger (every other term is a loss).
    maximized_terms = ()
    #: Tracked terms that measure a helper network or a schedule, not the model itself:
    #: never an objective to select models by.
    auxiliary_terms = ()
    #: What a hyperparameter search maximizes or minimizes unless told otherwise: a
    #: validation term that the searched hyperparameters do not weigh.
    tuning_objective = "val_loss"
    #: Whether the ``beta`` variable weighs a KL term (``BetaSchedule`` anneals it).
    beta_is_kl_weight = False
    #: Keyword arguments of a base class that this model does not take (it sets or refuses
    #: them): recipes and searches never offer them.
    excluded_arguments = ()
    default_architecture = "mlp"

    @classmethod
    def capabilities(cls):
        """``{name: value}`` of every declared capability (:data:`CAPABILITIES`)."""
        return {name: getattr(cls, name) for name in CAPABILITIES}

    @classmethod
    def search_space(cls, options):
        """The model's own hyperparameters to search, ``{name: spec}`` (see
        :mod:`ae_zoo.models.hparams`), centred on its keyword arguments ``options``; the
        tuner adds latent_dim, the network widths and the learning rate to every model."""
        return {}

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
        self._compiled_functions = {}  # encode/decode/reconstruct in batches (_in_batches)
        self._sampler = None  # a fitted sampler of ae_zoo.samplers (attach_sampler)
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

    @property
    def code_dim(self):
        """The width of the encoder's output (``2 * latent_dim`` for a Gaussian posterior)."""
        return self.latent_dim

    def network_spec(self):
        """Widths the networks need: encoder output, decoder input and the condition."""
        spec = {"code_dim": self.code_dim, "latent_dim": self.latent_dim}
        if self.conditional:
            spec.update(latent_dim=self.latent_dim + self.num_classes,
                        condition_dim=self.num_classes)
        return spec

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
    def condition(self, labels, count=None, what="labels"):
        """The one-hot condition (float32) of class ids ``labels`` for a conditional model,
        None for an unconditional one. Concrete labels are checked: none given to an
        unconditional model, some given to a conditional one, ``count`` of them,
        integers in [0, num_classes)."""
        _checks.check_labels(self, labels, count, what)
        if labels is None:
            return None
        labels = ops.reshape(ops.cast(labels, "int32"), (-1,))
        return ops.one_hot(labels, self.num_classes, dtype="float32")

    def _encoder_head(self, x, training=False, condition=None):
        """Runs the encoder: returns (head output, side outputs for the decoder)."""
        inputs = x if condition is None else [x, condition]
        out = self.encoder(inputs, training=training)
        if isinstance(out, dict) and "code" in out:
            side = dict(out)
            return side.pop("code"), side
        return out, {}

    def decoder_input(self, z, condition=None):
        """What the decoder sees for code ``z``: z, with the condition appended if any."""
        if condition is None:
            return z
        return ops.concatenate([z, ops.cast(condition, z.dtype)], axis=-1)

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

    def codes(self, x, condition=None, training=False, return_distribution=False):
        """The codes of a batch of tensors (``encode`` without its checks and batching)."""
        if return_distribution:
            raise TypeError(f"{type(self).__name__} has no posterior distribution "
                            "(posterior_type is None): it encodes to one code per example.")
        return self._encoder_head(x, training, condition)[0]

    # ---------------------------------------------------------------- objective
    def forward(self, x, training=False, condition=None):
        """``(code, decoder outputs)`` for inputs ``x`` (under a one-hot ``condition``)."""
        code, side = self._encoder_head(x, training, condition)
        return code, self._decoder_logits(self.decoder_input(code, condition), side, training)

    @property
    def reconstruction_definition(self):
        """What ``reconstruction_loss`` measures, in words (for reports)."""
        return (f"mean per-pixel {self.reconstruction_loss.upper()} "
                f"({'on logits' if self.reconstruction_loss == 'bce' else 'of the output'})"
                ", the training loss")

    def reconstruction_loss_value(self, target, logits):
        """Batch mean of the per-example reconstruction error."""
        return ops.mean(reconstruction_error(target, logits, self.reconstruction_loss))

    def objective(self, x, y=None, *, labels=None, training=False):
        """Named scalar loss terms for a batch; ``"loss"`` is the one minimized."""
        _, logits = self.forward(x, training, self.condition(labels))
        rec = self.reconstruction_loss_value(self.reconstruction_target(x, y), logits)
        return {"loss": rec, "reconstruction_loss": rec}

    # ------------------------------------------------------------- public API
    def call(self, inputs, training=False):
        """The reconstruction of ``inputs`` (mean image); ``(x, labels)`` if conditional."""
        x, labels = self._split_inputs(inputs)
        return self.output_mean(self.forward(x, training, self.condition(labels))[1])

    def _split_inputs(self, inputs):
        if not self.conditional:
            return inputs, None
        if not (isinstance(inputs, (tuple, list)) and len(inputs) == 2):
            raise ValueError(f"{type(self).__name__} is conditional: call it on (x, labels).")
        return inputs[0], inputs[1]

    def encode(self, x, *, labels=None, batch_size=None, return_distribution=False,
               return_indices=False):
        """The codes of ``x`` (the posterior mean for a Gaussian posterior); with
        ``return_distribution``, ``(mean, scale)`` of q(z|x); with ``return_indices`` (discrete
        codes), ``(codes, indices)``, the codebook index of each code position. With
        ``batch_size`` it runs in batches through one compiled function and returns numpy."""
        self._check_concrete(x, self._input_shape, "x", self.input_range())
        condition = self.condition(labels, _count(x))
        if return_indices and self.latent_kind != "discrete":
            raise TypeError(f"{type(self).__name__} has continuous codes (latent_kind "
                            f"{self.latent_kind!r}): there are no code indices.")
        if batch_size:
            kind = "indices" if return_indices else "encode"
            return self._in_batches(kind, x, condition, batch_size, return_distribution)
        x = ops.convert_to_tensor(x)
        if return_indices:
            return self.discrete_codes(x, condition)
        return self.codes(x, condition, return_distribution=return_distribution)

    def discrete_codes(self, x, condition=None, training=False):
        """``(codes, indices)`` of a batch of tensors (a model with discrete codes)."""
        raise NotImplementedError(f"{type(self).__name__} has no discrete codes.")

    def decode(self, z, *, labels=None, batch_size=None):
        """The mean reconstruction decoded from codes ``z``."""
        self._check_concrete(z, None, "z")
        condition = self.condition(labels, _count(z))
        if batch_size:
            return self._in_batches("decode", z, condition, batch_size)
        return self._decode(ops.convert_to_tensor(z, "float32"), condition)

    def reconstruct(self, x, *, labels=None, batch_size=None):
        """``decode(encode(x))``, passing any pooling switches along."""
        self._check_concrete(x, self._input_shape, "x", self.input_range())
        _checks.check_labels(self, labels, _count(x))
        if batch_size:
            return self._in_batches("reconstruct", x, self.condition(labels), batch_size)
        x = ops.convert_to_tensor(x)
        return self((x, labels) if self.conditional else x, training=False)

    def _decode(self, z, condition=None):
        return self.output_mean(self._decoder_logits(self.decoder_input(z, condition)))

    def _reconstruct(self, x, condition=None):
        return self.output_mean(self.forward(x, False, condition)[1])

    def _in_batches(self, kind, x, condition, batch_size, return_distribution=False):
        """``encode``/``decode``/``reconstruct`` of ``x`` (under the one-hot ``condition``)
        ``batch_size`` examples at a time through one compiled function; numpy out."""
        key = (kind, return_distribution)
        if key not in self._compiled_functions:
            ops_of = {"encode": lambda t, c: self.codes(t, c, return_distribution=return_distribution),
                      "indices": self.discrete_codes,
                      "decode": self._decode, "reconstruct": self._reconstruct}
            self._compiled_functions[key] = tf.function(ops_of[kind], reduce_retracing=True)
        function = self._compiled_functions[key]
        x = np.asarray(x, "float32")
        step = _checks.check_count(batch_size, "batch_size")
        parts = [function(tf.constant(x[i:i + step]),
                          None if condition is None else condition[i:i + step])
                 for i in range(0, len(x), step)]
        if not parts:  # no examples: the empty result of a single call
            parts = [function(tf.constant(x), condition)]
        if isinstance(parts[0], tuple):
            return tuple(np.concatenate([ops.convert_to_numpy(p[k]) for p in parts])
                         for k in range(len(parts[0])))
        return np.concatenate([ops.convert_to_numpy(p) for p in parts])

    def log_likelihood(self, x, *, labels=None, num_samples=50, batch_size=64, seed=0):
        """An estimate of log p(x) per example (a model with a likelihood implements it)."""
        raise TypeError(f"{type(self).__name__} has no likelihood (has_likelihood is False).")

    def next_seed(self):
        """A fresh stateless seed (int32, shape [2]) from the model's SeedGenerator.

        Under tf.distribute the replica id is folded in, so replicas draw
        different noise.
        """
        return _random.next_seed(self.seed_generator)

    # ---------------------------------------------------------------- serving
    def serving_functions(self):
        """``{signature: (function, input_signature)}`` that ``export_saved_model`` traces:
        ``reconstruct``, ``encode`` and ``decode`` for every model, ``sample`` (or, when
        conditional, ``generate``) for a generative one. A model adds its own by extending
        the dict; see :mod:`ae_zoo.models.serving` for the names and rules."""
        return serving.common_functions(self)

    def serving_encode(self, x, condition=None):
        """The ``encode`` signature's outputs for a batch: ``{"code": ...}``."""
        return {"code": serving.tensor(self.codes(x, condition), "code")}

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
        if self.sampler is not None:
            config["sampler"] = keras.saving.serialize_keras_object(self.sampler)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        sampler = config.pop("sampler", None)
        for key in ("encoder", "decoder", "dtype"):
            if isinstance(config.get(key), dict):
                config[key] = keras.saving.deserialize_keras_object(config[key])
        model = cls(**config)
        if sampler is not None:  # its variables exist now; load_model fills them in
            model.attach_sampler(keras.saving.deserialize_keras_object(sampler))
        return model


def _count(x):
    """The number of examples in ``x`` (None for a symbolic batch)."""
    shape = getattr(x, "shape", None)
    if shape is None:
        return len(x)
    return None if shape[0] is None else int(shape[0])
