"""The shared battery over every registered model (tests/battery.py): the built-ins, the
README's example model and any plugin installed here. A model gets it by registering."""

import pytest

from ae_zoo import models
from tests import battery

NAMES = models.names()
#: Models that differ from ``iwae`` only in the bound their objective weighs the same draws
#: with (MIWAE's groups, CIWAE's mixture with the ELBO): their end-to-end checks (fit on
#: arrays, user networks, XLA, the CLI) repeat the IWAE's and run with --run-slow; every
#: other check runs on every model.
IWAE_SIBLINGS = ("miwae", "ciwae")
END_TO_END = [pytest.param(n, marks=pytest.mark.slow) if n in IWAE_SIBLINGS else n for n in NAMES]


@pytest.fixture(scope="module")
def trained():
    """``trained(name)``: one tiny model per name, fit once (do not train it further)."""
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = battery.train(name)
        return cache[name]

    return get


@pytest.mark.parametrize("name", NAMES)
def test_fit_lowers_the_loss(trained, name):
    battery.check_fit_lowers_the_loss(*trained(name))


@pytest.mark.parametrize("name", NAMES)
def test_declarations_and_one_signature(trained, name):
    battery.check_declarations(trained(name)[0])


@pytest.mark.parametrize("name", NAMES)
def test_export_equals_the_model(trained, tmp_path, name):
    battery.check_export(trained(name)[0], tmp_path)


@pytest.mark.parametrize("name", END_TO_END)
def test_fit_on_arrays_is_keras_fit_on_the_stream(name):
    battery.check_fit_on_arrays_is_keras_fit_on_the_stream(name)


@pytest.mark.parametrize("name", NAMES)
def test_keras_round_trip(tmp_path, name):
    battery.check_keras_round_trip(name, tmp_path)


@pytest.mark.parametrize("name", END_TO_END)
def test_user_networks(tmp_path, name):
    battery.check_user_networks(name, tmp_path)


@pytest.mark.parametrize("name", END_TO_END)
def test_xla_on_and_off(name):
    battery.check_xla(name)


@pytest.mark.parametrize("name", NAMES)
def test_mixed_bfloat16(name):
    battery.check_mixed_precision(name)


@pytest.mark.parametrize("name", NAMES)
def test_tuner_builds_its_hypermodel(name):
    battery.check_tuner(name)


@pytest.mark.parametrize("name", END_TO_END)
def test_cli_train_writes_its_run(tmp_path, name):
    battery.check_cli_train(name, tmp_path)
