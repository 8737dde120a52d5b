"""What a recipe builds before training: the model, the optimizer and its learning-rate
schedule, the tf.distribute strategy and the dtype policy. Shared by ``ae-zoo train``
(:mod:`ae_zoo.experiments.train`) and ``ae-zoo tune`` (:mod:`ae_zoo.tuning`)."""

import contextlib
import inspect

import keras
import tensorflow as tf

from ae_zoo import models as model_lib
from ae_zoo.optimizers import FusedAdam

#: Network options given as YAML lists that the builders take as tuples.
_TUPLE_OPTIONS = ("hidden_units", "filters", "dense_units", "kernel_size", "strides", "pool_size")


def build_model(name, train_set, latent_dim=None, seed=0, architecture=None, **options):
    """Creates the registered model ``name`` for ``train_set``'s image shape (and, for a
    conditional model, its number of classes; for a model that takes ``dataset_size``, the
    number of training examples)."""
    cls = model_lib.get(name)
    kwargs = dict(options)
    if latent_dim is not None:
        kwargs["latent_dim"] = latent_dim
    if architecture is not None:
        kwargs["architecture"] = architecture
    for key in _TUPLE_OPTIONS:
        if isinstance(kwargs.get(key), list):
            kwargs[key] = tuple(kwargs[key])
    if "dataset_size" in inspect.signature(cls.__init__).parameters:
        kwargs.setdefault("dataset_size", len(train_set))  # beta-TCVAE's estimator needs N
    if cls.conditional:
        if train_set.y is None:
            raise ValueError(f"Model {name!r} needs class labels; dataset {train_set.name!r} has none.")
        kwargs.setdefault("num_classes", int(train_set.num_classes or train_set.y.max() + 1))
    return cls(input_shape=train_set.input_shape, seed=seed, **kwargs)


def make_optimizer(config, total_steps):
    """The Keras optimizer (with its learning-rate schedule) of ``training.optimizer``."""
    opt, schedule = config["optimizer"], config["lr_schedule"]
    lr = opt["learning_rate"]
    if schedule and schedule["name"] == "cosine":
        warmup = schedule["warmup_steps"]
        lr = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=0.0 if warmup else lr,
            decay_steps=schedule["decay_steps"] or max(1, total_steps - warmup),
            alpha=schedule["alpha"], warmup_target=lr if warmup else None, warmup_steps=warmup)
    elif schedule and schedule["name"] == "exponential":
        lr = keras.optimizers.schedules.ExponentialDecay(lr, schedule["decay_steps"],
                                                         schedule["decay_rate"])
    common = {"learning_rate": lr}
    if opt["clipnorm"]:
        common["clipnorm"] = opt["clipnorm"]
    betas = {k: opt[k] for k in ("beta_1", "beta_2") if opt[k] is not None}
    if opt["name"] == "adam":
        return FusedAdam(**common, **betas)
    if opt["name"] == "adamw":
        return keras.optimizers.AdamW(weight_decay=opt["weight_decay"] or 0.004, **common, **betas)
    if opt["name"] == "sgd":
        return keras.optimizers.SGD(momentum=opt["momentum"] or 0.0, **common)
    return keras.optimizers.RMSprop(momentum=opt["momentum"] or 0.0, **common)


def make_strategy(name):
    """``tf.distribute`` strategy for ``training.strategy`` (None: the default strategy).

    ``mirrored``: every local GPU (or the CPU); ``multiworker``: the cluster in the
    ``TF_CONFIG`` environment variable, one process per machine.
    """
    if name in (None, "default"):
        return None
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.MultiWorkerMirroredStrategy()


def worker_role(strategy):
    """``(is_chief, task_id)`` of this process in a multi-worker cluster (chief alone: True)."""
    resolver = getattr(strategy, "cluster_resolver", None) if strategy else None
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True, 0
    task_type, task_id = resolver.task_type, resolver.task_id
    is_chief = task_type == "chief" or (task_type == "worker" and task_id == 0
                                        and "chief" not in resolver.cluster_spec().as_dict())
    return is_chief, int(task_id or 0)


@contextlib.contextmanager
def dtype_policy(name):
    """Builds layers under the mixed-precision policy ``name`` (float32 when None)."""
    previous = keras.config.dtype_policy()
    if name:
        keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
