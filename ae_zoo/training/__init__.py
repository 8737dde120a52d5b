"""Training: the recipes runner, callbacks and schedules."""

from ae_zoo.training.schedules import BetaSchedule  # noqa: F401
