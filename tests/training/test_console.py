"""TensorFlow's retracing warnings are said once, in plain words (ae_zoo.training.console)."""

import logging

import tensorflow as tf

from ae_zoo import cli
from ae_zoo.training.console import RETRACING, RETRACING_NOTE, RetracingNote, retracing_note


def _trace_repeatedly(times=12):
    """A new tf.function of the same code each time, as each new model compiles its own:
    TensorFlow's frequent-tracing detector warns after a few."""
    def double(x):
        return 2.0 * x

    for i in range(times):
        tf.function(double, autograph=False)(tf.constant(float(i)))


def test_retracing_warnings_become_one_plain_line(capfd):
    logger = logging.getLogger("tensorflow")
    level, filters = logger.level, list(logger.filters)
    # An `ae-zoo` command run earlier in this process raised the level and installed its own
    # note, which would take the warning first.
    logger.setLevel(logging.WARNING)
    logger.filters[:] = [f for f in filters if not isinstance(f, RetracingNote)]
    try:
        with retracing_note() as note:
            _trace_repeatedly()
            _trace_repeatedly()
    finally:
        logger.setLevel(level)
        logger.filters[:] = filters
    err = capfd.readouterr().err
    assert note.said  # TensorFlow did warn; the note stood in for it
    assert err.count(RETRACING_NOTE) == 1 and RETRACING not in err


def test_the_command_keeps_errors_and_says_retracing_once():
    logger = logging.getLogger("tensorflow")
    level, filters = logger.level, list(logger.filters)
    try:
        cli.load_tensorflow(verbose=False)
        cli.load_tensorflow(verbose=False)  # a second command in the same process
        notes = [f for f in logger.filters if isinstance(f, RetracingNote)]
        assert len(notes) == 1 and notes[0].min_level == logging.ERROR
        warning = logging.LogRecord("tensorflow", logging.WARNING, "", 0, "some warning", (), None)
        error = logging.LogRecord("tensorflow", logging.ERROR, "", 0, "an error", (), None)
        assert not logger.filter(warning) and logger.filter(error)
    finally:
        logger.setLevel(level)
        logger.filters[:] = filters
