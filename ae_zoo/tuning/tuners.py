"""The three keras-tuner tuners ``ae-zoo tune`` offers, usable without TensorBoard installed.

keras-tuner 1.4.8 imports ``tensorboard`` at the start of every trial on the
TensorFlow backend (``Tuner._configure_tensorboard_dir``, for its HParams callback),
and TensorFlow 2.21 no longer depends on ``tensorboard``: without it every trial fails
with ``ModuleNotFoundError``. These subclasses import it only when the trial has a
``keras.callbacks.TensorBoard`` callback; without the package such a callback still
gets its per-trial log directory, just no HParams summary.
"""

import keras_tuner

TUNERS = ("random", "bayesian", "hyperband")


class _OptionalTensorBoard:
    def _configure_tensorboard_dir(self, callbacks, trial, execution=0):
        boards = [cb for cb in callbacks if cb.__class__.__name__ == "TensorBoard"]
        if not boards:
            return
        try:
            import tensorboard.plugins.hparams.api  # noqa: F401  (optional: is it installed?)
        except ImportError:
            for board in boards:
                board.log_dir = self._get_tensorboard_dir(board.log_dir, trial.trial_id, execution)
            return
        super()._configure_tensorboard_dir(callbacks, trial, execution)


class RandomSearch(_OptionalTensorBoard, keras_tuner.RandomSearch):
    """``keras_tuner.RandomSearch`` that runs without the ``tensorboard`` package."""


class BayesianOptimization(_OptionalTensorBoard, keras_tuner.BayesianOptimization):
    """``keras_tuner.BayesianOptimization`` that runs without the ``tensorboard`` package."""


class Hyperband(_OptionalTensorBoard, keras_tuner.Hyperband):
    """``keras_tuner.Hyperband`` that runs without the ``tensorboard`` package."""


def make_tuner(name, hypermodel, objective, max_trials, *, epochs=10, directory=None,
               project_name="search", overwrite=False, seed=None, distribution_strategy=None):
    """The tuner ``name`` (``random``, ``bayesian`` or ``hyperband``) over ``hypermodel``.

    ``max_trials`` bounds every tuner; Hyperband runs its brackets over
    ``max_epochs=epochs`` with factor 3, repeated until ``max_trials`` trials have run.
    ``directory``/``project_name`` hold the state: with ``overwrite=False`` an existing
    project is reloaded and its search continues.
    """
    if name not in TUNERS:
        raise ValueError(f"Unknown tuner {name!r}; expected one of {', '.join(TUNERS)}.")
    common = dict(hypermodel=hypermodel, objective=objective, directory=directory,
                  project_name=project_name, overwrite=overwrite, seed=seed,
                  distribution_strategy=distribution_strategy)
    if name == "random":
        return RandomSearch(max_trials=max_trials, **common)
    if name == "bayesian":
        return BayesianOptimization(max_trials=max_trials, **common)
    tuner = Hyperband(max_epochs=epochs, factor=3, hyperband_iterations=10**6, **common)
    tuner.oracle.max_trials = max_trials  # not part of the saved state: set on every run
    return tuner
