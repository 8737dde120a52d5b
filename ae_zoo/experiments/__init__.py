"""The drivers behind the commands: train a recipe into a run directory (``ae-zoo
train``), evaluate a run or an exported model (``ae-zoo evaluate``), compare two models
(``ae-zoo compare``), the study of Locatello et al.'s three findings (``ae-zoo study``)
and the leaderboard of the whole zoo (``ae-zoo benchmark``). They sit above evaluation
and viz and use both."""

from ae_zoo.experiments.benchmark import benchmark_recipe, run_benchmark
from ae_zoo.experiments.compare import compare_models, matched_recipes
from ae_zoo.experiments.evaluate import evaluate_run
from ae_zoo.experiments.study import (
    DEFAULT_STEPS,
    STUDY_METRIC_SETTINGS,
    hyperparameter_grid,
    run_study,
    study_recipe,
    variance_shares,
)
from ae_zoo.experiments.train import recipe_for, run, train

__all__ = ["DEFAULT_STEPS", "STUDY_METRIC_SETTINGS", "benchmark_recipe", "compare_models",
           "evaluate_run", "hyperparameter_grid", "matched_recipes", "recipe_for", "run",
           "run_benchmark", "run_study", "study_recipe", "train", "variance_shares"]
