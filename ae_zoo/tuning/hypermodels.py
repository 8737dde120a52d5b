"""keras-tuner HyperModels for every ae_zoo model, and the objectives to search them by.

One class serves every registered model: :class:`AutoencoderHyperModel` declares the
model family's search space (:mod:`ae_zoo.tuning.spaces`) on the trial's
``HyperParameters``, builds the model with those values and compiles it with its own
loss (``model.compile``) and the trial's learning rate::

    >>> from ae_zoo.tuning import AutoencoderHyperModel, RandomSearch, make_objective
    >>> hypermodel = AutoencoderHyperModel("beta_vae", input_shape=(28, 28, 1))
    >>> tuner = RandomSearch(hypermodel, objective=make_objective("val_elbo"), max_trials=10,
    ...                      directory="runs", project_name="bvae")
    >>> tuner.search(x_train, validation_data=(x_val,), epochs=5)
    >>> model = hypermodel.build(tuner.get_best_hyperparameters()[0])

(``ae_zoo.tuning.RandomSearch`` is ``keras_tuner.RandomSearch`` made to run without the
``tensorboard`` package, which TensorFlow 2.21 no longer installs; see
:mod:`ae_zoo.tuning.tuners`.)

``fit`` takes numpy arrays (``x``; ``x, labels`` for a conditional model) and trains them
with ``model.fit``, on the same seeded, epoch-keyed pipeline as ``ae-zoo train``; datasets
pass through to ``model.fit`` unchanged.
"""

import keras
import keras_tuner
import tensorflow as tf

from ae_zoo import models as model_lib
from ae_zoo.optimizers import FusedAdam
from ae_zoo.training import recipes as recipe_lib
from ae_zoo.training.build import dtype_policy, make_optimizer
from ae_zoo.training.pipeline import epoch_steps
from ae_zoo.tuning import spaces


# --------------------------------------------------------------- objectives
def _models(model_name):
    return [model_lib.get(n) for n in (model_lib.names() if model_name is None else [model_name])]


def objective_names(model_name=None):
    """The objectives ``model_name`` can be searched by: its tracked terms (but the
    auxiliary ones, which measure a helper network or a schedule), with ``val_`` first.

    Keras logs every tracker of the model's ``metrics`` under its name and, on the
    validation data, with a ``val_`` prefix. Without a model: every model's.
    """
    terms = []
    for cls in _models(model_name):
        terms += [t for t in cls.loss_terms if t not in cls.auxiliary_terms and t not in terms]
    return [f"val_{t}" for t in terms] + terms


def objective_direction(name, model_name=None):
    """``"max"`` for a term the model declares better when larger (``maximized_terms``:
    the ELBO), ``"min"`` for every loss term."""
    term = name[4:] if name.startswith("val_") else name
    maximized = {t for cls in _models(model_name) for t in cls.maximized_terms}
    return "max" if term in maximized else "min"


def make_objective(name="val_loss", model_name=None):
    """``keras_tuner.Objective(name, direction)`` with the direction of the term.

    Raises ``ValueError`` for a name the model does not log (listing the ones it does).
    """
    if isinstance(name, keras_tuner.Objective):
        name = name.name
    valid = objective_names(model_name)
    if name not in valid:
        whose = f"{model_name} logs" if model_name else "the models log"
        raise ValueError(f"Unknown objective {name!r}; {whose}: {', '.join(valid)}.")
    return keras_tuner.Objective(name, direction=objective_direction(name, model_name))


def default_objective(model_name):
    """The objective a search of ``model_name`` uses when none is given: the model's
    ``tuning_objective``.

    A loss whose terms are weighted by the searched hyperparameters is not comparable
    across trials (a smaller beta or sparsity weight lowers it by itself). So the VAEs
    declare ``val_elbo`` (-(reconstruction + KL), unweighted), the sparse autoencoder
    ``val_reconstruction_loss``, the others ``val_loss`` (their reconstruction error; the
    denoising autoencoder's on clean validation inputs).
    """
    return make_objective(model_lib.get(model_name).tuning_objective, model_name)


# --------------------------------------------------------------- hypermodel
class AutoencoderHyperModel(keras_tuner.HyperModel):
    """A ``keras_tuner.HyperModel`` for the registered model ``model_name``.

    ``build(hp)`` declares the search space on ``hp`` (the model's default
    :func:`~ae_zoo.tuning.spaces.default_search_space`, centred on the base values,
    with ``search_space`` merged over it as a recipe's ``tuning:`` is) and returns the
    model built with the trial's values, compiled by its own ``compile`` with the
    trial's learning rate. ``fit(hp, model, x, [labels], validation_data=..., ...)``
    trains it.

    Args:
        model_name: a registered model (``ae_zoo.models.names()``).
        input_shape: the example shape, e.g. ``(28, 28, 1)``.
        base_options: the model's other keyword arguments (network options such as
            ``hidden_units`` included); the searched values override them.
        num_classes: the conditional VAE's number of classes.
        search_space: ``{name: spec}`` merged over the default space (``null``
            removes a name); see :mod:`ae_zoo.tuning.spaces`.
        latent_dim, architecture, learning_rate, batch_size: the base values
            (defaults: the model's, 1e-3, 128 or the ``training`` section's).
        seed: seeds the model and, in ``build``, Keras' global RNG, so a trial's
            initial weights are a function of its hyperparameters.
        dataset_size: the number of training examples (beta-TCVAE's estimator
            needs it; also sizes ``steps_per_execution="auto"``).
        training: a validated recipe's ``training`` section: optimizer, learning
            rate schedule, XLA, steps per execution, mixed precision.
        compile_options: extra ``model.compile`` arguments (e.g. ``jit_compile=False``).
        epochs: the epochs of a trial (sizes a cosine schedule without ``decay_steps``).
    """

    def __init__(self, model_name, input_shape, base_options=None, num_classes=None,
                 search_space=None, *, latent_dim=None, architecture=None, learning_rate=None,
                 batch_size=None, seed=0, dataset_size=None, training=None,
                 compile_options=None, epochs=None, name=None, tunable=True):
        super().__init__(name=name or f"{model_name}_hypermodel", tunable=tunable)
        self.model_class = model_lib.get(model_name)
        self.model_name = model_name
        if input_shape is None or not all(int(d) >= 1 for d in input_shape):
            raise ValueError(f"`input_shape` must be a tuple of positive sizes, got {input_shape!r}.")
        self.input_shape = tuple(int(d) for d in input_shape)
        self.training = training
        options = dict(base_options or {})
        accepted = recipe_lib.model_parameters(self.model_class) - {"input_shape", "seed", "name"}
        unknown = sorted(set(options) - accepted)
        if unknown:
            raise TypeError(f"{model_name} does not take {', '.join(unknown)}; it takes "
                            f"{', '.join(sorted(accepted))}.")
        if self.model_class.conditional and num_classes is not None:
            options["num_classes"] = int(num_classes)
        if dataset_size is not None and "dataset_size" in accepted:
            options.setdefault("dataset_size", int(dataset_size))  # beta-TCVAE's N
        architecture = options.pop("architecture", None) if architecture is None else architecture
        architecture = architecture or getattr(self.model_class, "default_architecture", "mlp")
        latent_dim = options.pop("latent_dim", None) if latent_dim is None else latent_dim
        train_cfg = training or {}
        self.base = {
            "latent_dim": int(latent_dim or spaces.default_latent_dim(model_name)),
            "architecture": architecture,
            "options": options,
            "learning_rate": float(learning_rate or train_cfg.get("optimizer", {}).get("learning_rate")
                                   or 1e-3),
            "batch_size": int(batch_size or train_cfg.get("batch_size") or 128),
        }
        self.seed = int(seed)
        self.dataset_size = None if dataset_size is None else int(dataset_size)
        self.compile_options = dict(compile_options or {})
        self.epochs = epochs
        self.search_space = spaces.resolve_search_space(
            model_name, search_space, latent_dim=self.base["latent_dim"],
            learning_rate=self.base["learning_rate"], options=options, architecture=architecture)

    @classmethod
    def from_recipe(cls, recipe, input_shape, num_classes=None, dataset_size=None, epochs=None):
        """The hypermodel of a recipe: its model, base values, ``training`` and ``tuning:``."""
        recipe = recipe_lib.validate(recipe)
        model = recipe["model"]
        return cls(model["name"], input_shape, base_options=model["options"],
                   num_classes=num_classes, search_space=recipe.get("tuning"),
                   latent_dim=model["latent_dim"], architecture=model["architecture"],
                   seed=recipe["training"]["seed"], dataset_size=dataset_size,
                   training=recipe["training"], epochs=epochs)

    # ------------------------------------------------------------- settings
    @property
    def conditional(self):
        return self.model_class.conditional

    def config_for(self, hp_or_values):
        """The settings (latent_dim, architecture, options, learning_rate, batch_size) of a trial."""
        values = hp_or_values if isinstance(hp_or_values, dict) else hp_or_values.values
        return spaces.apply_values(self.base, values)

    def steps_per_epoch(self, batch_size):
        """Steps per epoch on ``dataset_size`` examples (None when the size is unknown)."""
        if not self.dataset_size:
            return None
        return epoch_steps(self.dataset_size, batch_size, (self.training or {}).get("steps_per_epoch"))

    def _optimizer(self, config):
        if not self.training:
            return FusedAdam(config["learning_rate"])
        training = dict(self.training)
        training["optimizer"] = {**training["optimizer"], "learning_rate": config["learning_rate"]}
        steps = self.steps_per_epoch(config["batch_size"]) or 1
        return make_optimizer(training, steps * int(self.epochs or 1))

    def _compile_options(self, config):
        options = {}
        if self.training:
            options["jit_compile"] = self.training["jit_compile"]
            options["steps_per_execution"] = self.training["steps_per_execution"]
        options.update(self.compile_options)
        return options

    # --------------------------------------------------------- HyperModel
    def declare_hyperparameters(self, hp):
        spaces.declare(hp, self.search_space)

    def build(self, hp):
        """The model with ``hp``'s values, compiled with its own loss and ``hp``'s learning rate."""
        spaces.declare(hp, self.search_space)
        config = self.config_for(hp)
        keras.utils.set_random_seed(self.seed)
        with dtype_policy((self.training or {}).get("mixed_precision")):
            model = self.model_class(input_shape=self.input_shape, seed=self.seed,
                                     latent_dim=config["latent_dim"],
                                     architecture=config["architecture"], **config["options"])
        model.compile(optimizer=self._optimizer(config), **self._compile_options(config))
        # Variables and optimizer slots exist now, so Hyperband's load_weights of an earlier
        # round restores the optimizer state (and its step count) too.
        model.build((None, *self.input_shape))
        model._build_optimizer()
        return model

    def fit(self, hp, model, x=None, y=None, validation_data=None, batch_size=None, callbacks=None,
            **kwargs):
        """Trains ``model`` with ``model.fit``: batched by the trial's ``batch_size``
        (searched, given, or the base one), at most ``steps_per_epoch`` batches per epoch
        (given, or the recipe's); arrays go through the same in-memory pipeline as
        ``ae-zoo train`` (the model's seed orders the batches)."""
        batch_size = int(self.config_for(hp)["batch_size"] if "batch_size" in hp.values
                         else batch_size or self.base["batch_size"])
        if self.conditional and y is None and not isinstance(x, tf.data.Dataset):
            raise ValueError(f"{self.model_name} needs labels: search(x, labels, ...).")
        if isinstance(x, tf.data.Dataset):
            return model.fit(x, validation_data=validation_data, callbacks=callbacks, **kwargs)
        limit = kwargs.pop("steps_per_epoch", None) or (self.training or {}).get("steps_per_epoch")
        return model.fit(x, y, batch_size=batch_size, steps_per_epoch=limit,
                         validation_data=validation_data, callbacks=callbacks, **kwargs)
