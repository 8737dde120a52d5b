"""Training: the recipes runner, callbacks, schedules and the fused Adam optimizer."""

from ae_zoo.training.optimizers import FusedAdam  # noqa: F401
from ae_zoo.training.schedules import BetaSchedule  # noqa: F401
