"""The training runner behind ``ae-zoo train``: recipe -> data, model, fit, evaluation, files.

A run directory holds ``run.json`` (the validated recipe and versions, to reproduce or
export the run), ``model.keras``, ``history.csv``, ``metrics.json`` and
``reconstructions.png``; with the matching callbacks also ``best.keras`` and
TensorBoard ``logs/``. Every file is written under a temporary name and renamed when
complete. An interrupted run resumes from its last finished epoch (``backup/``, Keras'
``BackupAndRestore``) and ends with the weights an uninterrupted run would have.
"""

import contextlib
import inspect
import math
import os
import platform
import shutil
import time

import keras
import numpy as np
import tensorflow as tf

import ae_zoo
from ae_zoo import data as data_lib
from ae_zoo import models as model_lib
from ae_zoo._io import save_model, write_json
from ae_zoo.models.vae import VAE
from ae_zoo.training import recipes as recipe_lib
from ae_zoo.training.optimizers import FusedAdam
from ae_zoo.training.pipeline import ArrayPipeline


def versions():
    return {"ae_zoo": ae_zoo.__version__, "tensorflow": tf.__version__,
            "keras": keras.__version__, "python": platform.python_version()}


def is_conditional(model):
    return isinstance(model, model_lib.ConditionalVAE)


def build_model(name, train_set, latent_dim=None, seed=0, architecture=None, **options):
    """Creates the registered model ``name`` for ``train_set``'s image shape (and classes)."""
    cls = model_lib.get(name)
    kwargs = dict(options)
    if latent_dim is not None:
        kwargs["latent_dim"] = latent_dim
    if architecture is not None:
        kwargs["architecture"] = architecture
    for key in ("hidden_units", "filters", "dense_units", "kernel_size", "strides", "pool_size"):
        if isinstance(kwargs.get(key), list):  # YAML lists -> tuples, as the builders document
            kwargs[key] = tuple(kwargs[key])
    if "dataset_size" in inspect.signature(cls.__init__).parameters:
        kwargs.setdefault("dataset_size", len(train_set))  # beta-TCVAE's estimator needs N
    if issubclass(cls, model_lib.ConditionalVAE):
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


def resolve_steps_per_execution(value, steps_per_epoch, auto=16, whole_epoch=64):
    """``auto``: several steps per call of the compiled function, preferably a divisor of
    the epoch's steps, so that :func:`fit_inputs` can stream the epochs.

    The largest divisor up to ``auto`` (16) if it is at least 4; else the whole epoch when
    it has at most ``whole_epoch`` steps; else ``auto``, with a short last execution.
    """
    if value != "auto":
        return int(value)
    if steps_per_epoch <= auto:
        return steps_per_epoch
    largest = max(d for d in range(1, auto + 1) if steps_per_epoch % d == 0)
    if largest >= 4:
        return largest
    return steps_per_epoch if steps_per_epoch <= whole_epoch else auto


def fit_inputs(pipeline, steps_per_execution):
    """``(dataset, steps_per_epoch)`` for ``fit``: the endless :meth:`ArrayPipeline.stream`
    when whole executions make up an epoch (Keras then keeps one iterator for the run),
    else the one-epoch :meth:`ArrayPipeline.dataset` (``steps_per_epoch`` None)."""
    if pipeline.steps_per_epoch % int(steps_per_execution) == 0:
        return pipeline.stream(), pipeline.steps_per_epoch
    return pipeline.dataset(), None


def evaluate_model(model, test_set, batch_size=128, iwae_samples=50, iwae_examples=1000):
    """Test metrics: every tracked loss term, the per-pixel reconstruction MSE, and for
    the VAE family the importance-weighted -log p(x) (nats per example)."""
    conditional = is_conditional(model)
    x, y = test_set.x, test_set.y
    results = model.evaluate(x, y if conditional else None, batch_size=batch_size, verbose=0,
                             return_dict=True)
    metrics = {f"test_{k}": float(v) for k, v in results.items()}
    recon = model.predict((x, y) if conditional else x, batch_size=batch_size, verbose=0)
    metrics["test_reconstruction_mse"] = float(np.mean((recon - x) ** 2))
    if isinstance(model, VAE) and iwae_samples:
        n = min(len(x), iwae_examples)
        args = (x[:n], y[:n]) if conditional else (x[:n],)
        log_px = model.log_likelihood(*args, num_samples=iwae_samples, batch_size=100)
        metrics["test_iwae_nll"] = float(-np.mean(log_px))
        metrics["iwae_samples"] = int(iwae_samples)
        metrics["iwae_examples"] = int(n)
    return metrics


def reconstruction_figure(model, test_set, path, n=10):
    from ae_zoo.viz import reconstruction_grid

    x = test_set.x[:n]
    corrupted = None
    if is_conditional(model):
        recon = model.reconstruct(x, test_set.y[:n])
    elif isinstance(model, model_lib.DenoisingAutoencoder):
        corrupted = np.asarray(model.corrupt(x))
        recon = model.reconstruct(corrupted)
    else:
        recon = model.reconstruct(x)
    title = f"{model.registry_name or type(model).__name__} on {test_set.name}"
    return reconstruction_grid(x, np.asarray(recon), corrupted=corrupted, n=n, title=title, path=path)


def _callbacks(recipe, model, out, preview_set, resuming):
    cfg = recipe["callbacks"]
    result = []
    if cfg["beta_schedule"]:  # first, so the loggers after it see the epoch's beta
        from ae_zoo.training.schedules import BetaSchedule

        result.append(BetaSchedule(**{k: v for k, v in cfg["beta_schedule"].items() if v is not None}))
    if cfg["backup"]:
        result.append(keras.callbacks.BackupAndRestore(os.path.join(out, "backup")))
    if cfg["csv_log"]:
        result.append(keras.callbacks.CSVLogger(os.path.join(out, ".history.csv.partial"),
                                                append=resuming))
    if cfg["terminate_on_nan"]:
        result.append(keras.callbacks.TerminateOnNaN())
    if cfg["checkpoint"]:
        result.append(keras.callbacks.ModelCheckpoint(
            os.path.join(out, "best.keras"), monitor=cfg["checkpoint"]["monitor"],
            mode=cfg["checkpoint"]["mode"], save_best_only=True))
    if cfg["early_stopping"]:
        result.append(keras.callbacks.EarlyStopping(**cfg["early_stopping"]))
    if cfg["tensorboard"]:
        log_dir = os.path.join(out, "logs")
        result.append(keras.callbacks.TensorBoard(log_dir))
        if cfg["tensorboard"]["images"]:
            from ae_zoo.viz.tensorboard import FigureLogger

            labels = preview_set.y[:16] if is_conditional(model) else None
            result.append(FigureLogger(log_dir, preview_set.x[:16], labels=labels,
                                       every_n_epochs=cfg["tensorboard"]["every_n_epochs"]))
    return result


def run(recipe, *, verbose=1, callbacks=None, command=None):
    """Runs a validated recipe (see :mod:`ae_zoo.training.recipes`) end to end.

    Returns a dict with the model, the Keras history, the test metrics and the run
    directory.
    """
    recipe = recipe_lib.validate(recipe)
    training, model_cfg, data_cfg = recipe["training"], recipe["model"], recipe["data"]
    out = recipe["out"]
    seed = training["seed"]
    keras.utils.set_random_seed(seed)
    data_kwargs = dict(data_cfg["options"])
    if data_cfg["data_dir"]:
        data_kwargs["data_dir"] = data_cfg["data_dir"]
    train_set = data_lib.load(data_cfg["name"], data_cfg["train_split"], **data_kwargs)
    test_set = data_lib.load(data_cfg["name"], data_cfg["test_split"], **data_kwargs)
    validation_set = None
    if data_cfg["validation_split"]:
        # Validation (checkpoints, early stopping) never sees the test split: it is held out
        # of the train split, so the test metrics stay an unbiased estimate.
        train_set, validation_set = train_set.hold_out(data_cfg["validation_split"], seed)

    strategy = make_strategy(training["strategy"])
    with (strategy.scope() if strategy else contextlib.nullcontext()):
        with dtype_policy(training["mixed_precision"]):
            model = build_model(model_cfg["name"], train_set, latent_dim=model_cfg["latent_dim"],
                                seed=seed, architecture=model_cfg["architecture"],
                                **model_cfg["options"])
        conditional = is_conditional(model)
        labels = train_set.y if conditional else None
        pipeline = ArrayPipeline(train_set.x, labels, training["batch_size"], seed=seed,
                                 steps_per_epoch=training["steps_per_epoch"])
        validation_pipeline = None if validation_set is None else ArrayPipeline(
            validation_set.x, validation_set.y if conditional else None, training["batch_size"],
            shuffle=False)
        model.check_inputs(train_set.x, labels)  # clear errors before anything is trained
        epochs = training["epochs"]
        if training["steps"]:
            epochs = math.ceil(training["steps"] / pipeline.steps_per_epoch)
        total_steps = epochs * pipeline.steps_per_epoch
        model.compile(optimizer=make_optimizer(training, total_steps),
                      jit_compile=training["jit_compile"],
                      steps_per_execution=resolve_steps_per_execution(
                          training["steps_per_execution"], pipeline.steps_per_epoch))

    is_chief, task_id = worker_role(strategy)
    if not is_chief:
        # Every worker runs the same program; only the chief's files are the run's.
        out = os.path.join(out, f".worker-{task_id}")
    os.makedirs(out, exist_ok=True)
    resuming = os.path.isdir(os.path.join(out, "backup"))
    if not resuming and os.path.exists(os.path.join(out, ".history.csv.partial")):
        os.remove(os.path.join(out, ".history.csv.partial"))
    write_json(os.path.join(out, "run.json"), {
        "recipe": recipe, "command": command, "versions": versions(),
        "input_shape": list(train_set.input_shape), "steps_per_epoch": pipeline.steps_per_epoch,
        "epochs": epochs, "registry_name": model_cfg["name"],
    })
    preview_set = test_set if validation_set is None else validation_set  # for TensorBoard images
    all_callbacks = [pipeline.callback(), *_callbacks(recipe, model, out, preview_set, resuming),
                     *(callbacks or [])]
    dataset, steps_per_epoch = fit_inputs(pipeline, model.steps_per_execution)
    start = time.time()
    history = model.fit(dataset, epochs=epochs, steps_per_epoch=steps_per_epoch,
                        callbacks=all_callbacks,
                        validation_data=validation_pipeline and validation_pipeline.dataset(),
                        verbose=verbose, shuffle=False)
    train_seconds = time.time() - start
    if recipe["callbacks"]["csv_log"]:
        os.replace(os.path.join(out, ".history.csv.partial"), os.path.join(out, "history.csv"))

    metrics = evaluate_model(model, test_set, batch_size=training["batch_size"],
                             iwae_samples=training["iwae_samples"])
    metrics.update(train_seconds=train_seconds, epochs=epochs,
                   steps=int(model.optimizer.iterations.numpy()),
                   num_train_examples=len(train_set), num_test_examples=len(test_set),
                   num_validation_examples=0 if validation_set is None else len(validation_set))
    save_model(model, os.path.join(out, "model.keras"))
    write_json(os.path.join(out, "metrics.json"), metrics)
    reconstruction_figure(model, test_set, os.path.join(out, "reconstructions.png"))
    if recipe["export"] and recipe["export"]["dir"]:
        from ae_zoo.export import export_saved_model

        export_dir = os.path.join(out, recipe["export"]["dir"])  # relative: inside the run
        metrics["export_path"] = export_saved_model(model, export_dir,
                                                    version=recipe["export"]["version"])
    if not is_chief:
        shutil.rmtree(out, ignore_errors=True)  # a worker's copy of the chief's files
    return {"model": model, "history": history.history, "metrics": metrics, "out": out,
            "recipe": recipe}


def recipe_for(model, dataset="mnist5k"):
    """The shipped recipe for ``model`` on ``dataset`` if there is one, else a minimal one."""
    path = recipe_lib.find(f"{model}_{dataset}")
    if path:
        with open(path, encoding="utf-8") as f:
            import yaml

            return yaml.safe_load(f) or {}
    return {"model": {"name": model}, "data": {"name": dataset}}


def train(model="vae", dataset="mnist5k", *, epochs=None, batch_size=None, latent_dim=None,
          seed=None, out=None, architecture=None, learning_rate=None, model_options=None,
          steps=None, iwae_samples=None, jit_compile=None, overrides=(), verbose=1,
          callbacks=None, command=None):
    """Trains a registered model on a dataset and writes the run directory.

    Starts from the shipped recipe ``recipes/<model>_<dataset>.yaml`` when there is
    one; every argument given overrides it (``overrides``: ``"key.path=value"``
    strings). Returns what :func:`run` returns.
    """
    recipe = recipe_for(model, dataset)
    recipe.setdefault("model", {})["name"] = model
    recipe.setdefault("data", {})["name"] = dataset
    flags = {
        ("training", "epochs"): epochs, ("training", "batch_size"): batch_size,
        ("model", "latent_dim"): latent_dim, ("training", "seed"): seed, ("out",): out,
        ("model", "architecture"): architecture, ("training", "steps"): steps,
        ("training", "optimizer", "learning_rate"): learning_rate,
        ("training", "iwae_samples"): iwae_samples, ("training", "jit_compile"): jit_compile,
    }
    given = [(list(path), value) for path, value in flags.items() if value is not None]
    given += [(["model", "options", k], v) for k, v in (model_options or {}).items()]
    recipe = recipe_lib.apply_overrides(recipe, given + list(overrides))
    return run(recipe, verbose=verbose, callbacks=callbacks, command=command)

