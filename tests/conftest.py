"""Shared pytest configuration: quiet TensorFlow, opt-in slow tests."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402

# The README's example model: imported here so that it registers before collection and
# the shared battery (tests/test_battery*.py) runs over it as over every model.
import ae_zoo.examples.mmd_vae  # noqa: E402,F401


def pytest_addoption(parser):
    parser.addoption(
        "--run-slow", action="store_true", default=False,
        help="also run the slow end-to-end tests (marked 'slow')",
    )


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: slow end-to-end test, run with --run-slow")
    # Keras' numpy conversion trips a NumPy 2 deprecation notice on every call; it is not ours.
    config.addinivalue_line("filterwarnings", "ignore:__array__ implementation:DeprecationWarning")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow; run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)

