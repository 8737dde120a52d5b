"""The training runner behind ``ae-zoo train``: recipe -> data, model, fit, evaluation, files.

A run directory holds ``run.json`` (the validated recipe and versions, to reproduce or
export the run), ``model.keras``, ``history.csv``, ``metrics.json``,
``reconstructions.png``, ``traversal_animation.gif`` (every latent dimension swept, side by
side) and ``samples.png`` (for every model that can sample: after
training the runner fits the recipe's ``sampler``, by default the model's own default
sampler, to the training codes and attaches it, so ``model.keras`` and the export carry
it; a generative model without one samples its prior); with the matching
callbacks also ``best.keras`` and TensorBoard ``logs/``, and with an ``export`` section a
SavedModel. Every file is written under a temporary name and renamed when complete. An
interrupted run resumes from its last finished epoch (``backup/``,
:class:`ae_zoo.training.backup.RunBackup`) and ends with the weights an uninterrupted run
would have. A run that goes non-finite stops, writes ``last_finite.keras`` and raises
:class:`ae_zoo.training.guard.TrainingDiverged`; a finished run is never replaced unless
``overwrite=True``.
"""

import contextlib
import os
import platform
import shutil
import time

import keras
import tensorflow as tf
import yaml

from ae_zoo import data as data_lib
from ae_zoo import samplers
from ae_zoo._io import refuse_to_replace, save_model, write_json
from ae_zoo._version import __version__
from ae_zoo.evaluation.latent import latent_stats
from ae_zoo.evaluation.measures import evaluate_model
from ae_zoo.experiments.figures import SCATTER_POINTS, make_figures
from ae_zoo.export import export_saved_model
from ae_zoo.training import recipes as recipe_lib
from ae_zoo.training.backup import RunBackup, check_backup, fingerprint
from ae_zoo.training.build import build_model, dtype_policy, make_optimizer, make_strategy, worker_role
from ae_zoo.training.guard import FiniteCheckpoint, FiniteGuard, TrainingDiverged
from ae_zoo.training.pipeline import epoch_steps, step_plan
from ae_zoo.training.schedules import BetaSchedule
from ae_zoo.viz.tensorboard import FigureLogger


def versions():
    return {"ae_zoo": __version__, "tensorflow": tf.__version__,
            "keras": keras.__version__, "python": platform.python_version()}


#: What a run writes into its directory: removed before ``overwrite=True`` trains into it.
RUN_FILES = ("model.keras", "best.keras", "last_finite.keras", "metrics.json", "history.csv",
             ".history.csv.partial", "run.json", "reconstructions.png", "samples.png",
             "traversal_animation.gif", "logs", "backup")
#: The figures a run draws (:func:`ae_zoo.experiments.figures.make_figures`).
RUN_FIGURES = ("reconstructions", "samples", "traversal_animation")


def _callbacks(recipe, model, out, preview_set, guard, expected):
    cfg = recipe["callbacks"]
    result = []
    if cfg["beta_schedule"]:  # first, so the loggers after it see the epoch's beta
        result.append(BetaSchedule(**{k: v for k, v in cfg["beta_schedule"].items() if v is not None}))
    result.append(guard)  # before the loggers and savers: they skip a non-finite epoch
    history = os.path.join(out, ".history.csv.partial")
    if cfg["csv_log"]:  # before the backup: a row the backup lacks is dropped on resume
        result.append(keras.callbacks.CSVLogger(history, append=os.path.exists(history)))
    if cfg["backup"]:
        result.append(RunBackup(os.path.join(out, "backup"), expected, guard,
                                history=history if cfg["csv_log"] else None))
    if cfg["checkpoint"]:
        result.append(FiniteCheckpoint(
            guard, os.path.join(out, "best.keras"), monitor=cfg["checkpoint"]["monitor"],
            mode=cfg["checkpoint"]["mode"], save_best_only=True))
    if cfg["early_stopping"]:
        result.append(keras.callbacks.EarlyStopping(**cfg["early_stopping"]))
    if cfg["tensorboard"]:
        log_dir = os.path.join(out, "logs")
        result.append(keras.callbacks.TensorBoard(log_dir))
        if cfg["tensorboard"]["images"]:
            labels = preview_set.y[:16] if model.conditional else None
            result.append(FigureLogger(log_dir, preview_set.x[:16], labels=labels,
                                       every_n_epochs=cfg["tensorboard"]["every_n_epochs"]))
    return result


def prepare_run_dir(recipe, out, overwrite=False, restart=False):
    """Checks ``out`` before anything is trained: a finished run there is refused unless
    ``overwrite`` (then its files are removed), a backup of another run unless ``restart``.
    Returns the backup's fingerprint of this run."""
    refuse_to_replace(os.path.join(out, "model.keras"), "a finished run", overwrite)
    if overwrite:
        for name in RUN_FILES:
            path = os.path.join(out, name)
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.exists(path):
                os.remove(path)
    expected = fingerprint(recipe, {k: v for k, v in versions().items() if k != "python"})
    if recipe["callbacks"]["backup"]:
        state = check_backup(os.path.join(out, "backup"), expected, restart)
        if state is None and os.path.exists(os.path.join(out, ".history.csv.partial")):
            os.remove(os.path.join(out, ".history.csv.partial"))  # nothing to resume
    elif os.path.exists(os.path.join(out, ".history.csv.partial")):
        os.remove(os.path.join(out, ".history.csv.partial"))
    return expected


def _head(dataset, n):
    """The first ``n`` images of ``dataset`` (in memory or streamed), float32 in [0, 1]."""
    if isinstance(dataset, data_lib.StreamingImageDataset):
        return dataset.head(n).x
    return data_lib.ImageDataset(dataset.name, dataset.split, dataset.images[:n]).x


class _Stages:
    """The steps after training: each announced on a line as it starts, and timed."""

    def __init__(self, log):
        self.log, self.seconds = log, {}

    @contextlib.contextmanager
    def __call__(self, key, what):
        if self.log:
            self.log(f"  {what} ...")
        start = time.time()
        yield
        self.seconds[key] = time.time() - start

    def summary(self):
        if self.log and self.seconds:
            self.log("  after training: " + ", ".join(f"{key} {seconds:.1f} s"
                                                       for key, seconds in self.seconds.items()))


def _figures(model, test_set, out, seed):
    """Draws the run's figures (test reconstructions, samples, the traversal animation);
    returns ``{figure: file name}``."""
    n = min(len(test_set), SCATTER_POINTS)
    stats = latent_stats(model, test_set.x[:n],
                         labels=test_set.y[:n] if model.conditional else None)
    return make_figures(model, test_set, out, stats=stats, seed=seed, figures=RUN_FIGURES)[0]


def _diverged(model, guard, out):
    """Keeps the last finite weights in ``out/last_finite.keras`` and raises."""
    epoch, weights = guard.last_finite
    model.set_weights(weights)
    path = save_model(model, os.path.join(out, "last_finite.keras"))
    raise TrainingDiverged(guard.message(path))


def _after_fit(model, recipe, splits, out, facts, *, figures, verbose, log):
    """The steps after training, each announced (``log``) and timed: the test metrics, the
    sampler, model.keras and metrics.json, the figures, the export. Returns the metrics and
    ``{figure: file name}``."""
    training, seed = recipe["training"], recipe["training"]["seed"]
    train_set, test_set, validation_set = splits
    stage = _Stages(log)
    iwae = training["iwae_samples"] if model.has_likelihood else 0
    with stage("test metrics", f"test metrics on {len(test_set)} examples"
               + (f" (-log p(x): {iwae} importance samples)" if iwae else "")):
        metrics = evaluate_model(model, test_set, batch_size=training["batch_size"],
                                 iwae_samples=training["iwae_samples"])
    sampler = samplers.resolve(model, recipe["sampler"]["name"])
    if sampler is not None:  # fitted to the codes of the first training examples
        with stage("sampler", f"fitting the {sampler} sampler to the training codes"):
            samplers.create(sampler, **recipe["sampler"]["options"]).fit(
                model, _head(train_set, recipe["sampler"]["examples"]), seed=seed, verbose=verbose)
        metrics["sampler_seconds"] = stage.seconds["sampler"]
    metrics.update(**facts, steps=int(model.optimizer.iterations.numpy()),
                   num_train_examples=len(train_set), num_test_examples=len(test_set),
                   num_validation_examples=0 if validation_set is None else len(validation_set))
    with stage("saving", "saving model.keras and metrics.json"):
        save_model(model, os.path.join(out, "model.keras"))
        write_json(os.path.join(out, "metrics.json"), metrics)
    drawn = {}
    if figures:
        with stage("figures", "drawing the figures"):
            drawn = _figures(model, test_set, out, seed)
    if recipe["export"] and recipe["export"]["dir"]:
        export_dir = os.path.join(out, recipe["export"]["dir"])  # relative: inside the run
        with stage("export", f"exporting the SavedModel to {export_dir}/"):
            metrics["export_path"] = export_saved_model(model, export_dir,
                                                        version=recipe["export"]["version"])
    stage.summary()
    return metrics, drawn


def run(recipe, *, verbose=1, callbacks=None, command=None, figures=True, overwrite=False,
        restart=False, log=None):
    """Runs a validated recipe (see :mod:`ae_zoo.training.recipes`) end to end; with
    ``figures``, draws the test reconstructions and samples and the traversal animation
    into the run directory. ``log`` (e.g. ``print``) takes a line per step after training
    (test metrics, sampler, saving, figures, export) and one with their times.

    A finished run in the recipe's ``out`` is refused unless ``overwrite``; an interrupted
    one resumes from its backup (one of another recipe, seed or code version is refused
    unless ``restart``). A run that goes non-finite raises :class:`TrainingDiverged` and
    publishes nothing. Returns a dict with the model, the Keras history, the test metrics,
    the run directory and ``figures`` (``{figure: file name}``).
    """
    multiworker = None
    training = recipe.get("training") if isinstance(recipe, dict) else None
    if isinstance(training, dict) and training.get("strategy") == "multiworker":
        # Collective ops are configured before TensorFlow runs anything, and validation
        # already builds a model (its argument checks).
        multiworker = make_strategy("multiworker")
    recipe = recipe_lib.validate(recipe)
    training, model_cfg, data_cfg = recipe["training"], recipe["model"], recipe["data"]
    out = recipe["out"]
    expected = prepare_run_dir(recipe, out, overwrite, restart)
    seed = training["seed"]
    keras.utils.set_random_seed(seed)
    data_kwargs = dict(data_cfg["options"], memory_budget_mb=data_cfg["memory_budget_mb"])
    if data_cfg["data_dir"]:
        data_kwargs["data_dir"] = data_cfg["data_dir"]
    train_set = data_lib.load(data_cfg["name"], data_cfg["train_split"], **data_kwargs)
    test_set = data_lib.load(data_cfg["name"], data_cfg["test_split"], **data_kwargs)
    if isinstance(test_set, data_lib.StreamingImageDataset):  # evaluation needs it in memory
        test_set = test_set.head(data_cfg["evaluation_examples"])
    validation_set = None
    if data_cfg["validation_split"]:
        # Validation (checkpoints, early stopping) never sees the test split: it is held out
        # of the train split, so the test metrics stay an unbiased estimate.
        train_set, validation_set = train_set.hold_out(data_cfg["validation_split"], seed)

    strategy = multiworker or make_strategy(training["strategy"])
    with (strategy.scope() if strategy else contextlib.nullcontext()):
        with dtype_policy(training["mixed_precision"]):
            model = build_model(model_cfg["name"], train_set, latent_dim=model_cfg["latent_dim"],
                                seed=seed, architecture=model_cfg["architecture"],
                                **model_cfg["options"])
        labels = train_set.y if model.conditional else None
        model.check_inputs(train_set, labels)  # clear errors before anything is trained
        steps_per_epoch = epoch_steps(len(train_set), training["batch_size"],
                                      training["steps_per_epoch"])
        epochs, fit_steps_per_epoch = training["epochs"], training["steps_per_epoch"]
        if training["steps"]:  # exactly that many: whole epochs of equal length
            epochs, steps_per_epoch = step_plan(training["steps"], steps_per_epoch)
            fit_steps_per_epoch = steps_per_epoch
        model.compile(optimizer=make_optimizer(training, epochs * steps_per_epoch),
                      jit_compile=training["jit_compile"],
                      steps_per_execution=training["steps_per_execution"])

    is_chief, task_id = worker_role(strategy)
    if not is_chief:
        # Every worker runs the same program; only the chief's files are the run's.
        out = os.path.join(out, f".worker-{task_id}")
    os.makedirs(out, exist_ok=True)
    write_json(os.path.join(out, "run.json"), {
        "recipe": recipe, "command": command, "versions": versions(),
        "input_shape": list(train_set.input_shape), "steps_per_epoch": steps_per_epoch,
        "epochs": epochs, "registry_name": model_cfg["name"],
    })
    preview_set = test_set if validation_set is None else validation_set  # for TensorBoard images
    guard = FiniteGuard(stop_on_batch=recipe["callbacks"]["terminate_on_nan"])
    all_callbacks = [*_callbacks(recipe, model, out, preview_set, guard, expected),
                     *(callbacks or [])]
    start = time.time()  # fit on the data: the engine streams it (ae_zoo.training.engine)
    history = model.fit(train_set, labels, batch_size=training["batch_size"], epochs=epochs,
                        steps_per_epoch=fit_steps_per_epoch, callbacks=all_callbacks,
                        validation_data=validation_set, verbose=verbose)
    train_seconds = time.time() - start
    if guard.diverged is not None:
        _diverged(model, guard, out)
    if recipe["callbacks"]["csv_log"]:
        os.replace(os.path.join(out, ".history.csv.partial"), os.path.join(out, "history.csv"))

    metrics, drawn = _after_fit(model, recipe, (train_set, test_set, validation_set), out,
                                {"train_seconds": train_seconds, "epochs": epochs},
                                figures=figures, verbose=verbose, log=log)
    shutil.rmtree(os.path.join(out, "backup"), ignore_errors=True)  # finished: nothing to resume
    if not is_chief:
        shutil.rmtree(out, ignore_errors=True)  # a worker's copy of the chief's files
    return {"model": model, "history": history.history, "metrics": metrics, "out": out,
            "recipe": recipe, "figures": drawn}


def recipe_for(model, dataset="mnist5k"):
    """The shipped recipe for ``model`` on ``dataset`` if there is one, else a minimal one."""
    path = recipe_lib.find(f"{model}_{dataset}")
    if path:
        with open(path, encoding="utf-8") as f:
            return yaml.safe_load(f) or {}
    return {"model": {"name": model}, "data": {"name": dataset}}


def train(model="vae", dataset="mnist5k", *, epochs=None, batch_size=None, latent_dim=None,
          seed=None, out=None, architecture=None, learning_rate=None, model_options=None,
          steps=None, iwae_samples=None, jit_compile=None, overrides=(), verbose=1,
          callbacks=None, command=None, overwrite=False, restart=False, log=None):
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
    return run(recipe, verbose=verbose, callbacks=callbacks, command=command, overwrite=overwrite,
               restart=restart, log=log)

