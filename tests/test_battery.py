"""The shared battery over every registered model (tests/battery.py): the built-ins, the
README's example model and any plugin installed here. A model gets it by registering.
Its end-to-end half (fit on arrays, user networks, XLA, the CLI) is in
test_battery_end_to_end.py, a file of its own so that pytest-xdist runs the two halves on
different workers."""

import pytest

from ae_zoo import models
from tests import battery

NAMES = models.names()


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


@pytest.mark.parametrize("name", NAMES)
def test_keras_round_trip(tmp_path, name):
    battery.check_keras_round_trip(name, tmp_path)


@pytest.mark.parametrize("name", NAMES)
def test_mixed_bfloat16(name):
    battery.check_mixed_precision(name)


@pytest.mark.parametrize("name", NAMES)
def test_tuner_builds_its_hypermodel(name):
    battery.check_tuner(name)
