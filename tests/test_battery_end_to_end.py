"""The end-to-end half of the shared battery (tests/battery.py) over every registered model:
fit on arrays against Keras' own loop, user networks, XLA on and off, ``ae-zoo train``."""

import pytest

from ae_zoo import models
from tests import battery

NAMES = models.names()
#: Models that differ from ``iwae`` only in the bound their objective weighs the same draws
#: with (MIWAE's groups, CIWAE's mixture with the ELBO): their end-to-end checks (fit on
#: arrays, user networks, XLA, the CLI) repeat the IWAE's and run with --run-slow; the
#: battery's other checks (test_battery.py) run on every model.
IWAE_SIBLINGS = ("miwae", "ciwae")
END_TO_END = [pytest.param(n, marks=pytest.mark.slow) if n in IWAE_SIBLINGS else n for n in NAMES]


@pytest.mark.parametrize("name", END_TO_END)
def test_fit_on_arrays_is_keras_fit_on_the_stream(name):
    battery.check_fit_on_arrays_is_keras_fit_on_the_stream(name)


@pytest.mark.parametrize("name", END_TO_END)
def test_user_networks(tmp_path, name):
    battery.check_user_networks(name, tmp_path)


@pytest.mark.parametrize("name", END_TO_END)
def test_xla_on_and_off(name):
    battery.check_xla(name)


@pytest.mark.parametrize("name", END_TO_END)
def test_cli_train_writes_its_run(tmp_path, name):
    battery.check_cli_train(name, tmp_path)
