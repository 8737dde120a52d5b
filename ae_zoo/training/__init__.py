"""Training: the speed engine every model runs on, the input pipelines, recipes,
schedules and the fused Adam optimizer."""

from ae_zoo.optimizers import FusedAdam  # noqa: F401  (the default optimizer, kept here too)
from ae_zoo.training.engine import FastEngine  # noqa: F401
from ae_zoo.training.schedules import BetaSchedule  # noqa: F401
