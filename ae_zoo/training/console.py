"""What a long command shows on the console besides Keras' own progress bar: one line per
finished epoch (for a driver that trains several models quietly), and TensorFlow's
retracing warnings said once in plain words.

TensorFlow warns "N out of the last M calls to <function> triggered tf.function
retracing" when one piece of code is traced often. It counts traces by the code, not by
the function object, so a command that builds several models (compare, tune, study,
benchmark), each compiling its own copy of the same methods once, trips the warning
although nothing is traced twice for one model: the cost is the expected compilation of
each new model, not a recompilation per batch. :class:`RetracingNote` replaces the
warnings by one line that says so.
"""

import contextlib
import logging
import sys
import time

import keras

#: The text of TensorFlow's retracing warning (tf.function's frequent-tracing detector).
RETRACING = "triggered tf.function retracing"
#: What is said instead, once per process.
RETRACING_NOTE = (
    "Note: TensorFlow reported retracing (compiling a function again). A command that "
    "builds several models does that by design: each model compiles its own functions "
    "once, which costs seconds, not accuracy. With a single model, rerun with "
    "--verbose-logs (AE_ZOO_VERBOSE=1) to see TensorFlow's warning and which function it "
    "names.")


class RetracingNote(logging.Filter):
    """A filter for TensorFlow's logger: its retracing warnings become :data:`RETRACING_NOTE`,
    written once to ``stream`` (stderr); other records pass from ``min_level`` up (the
    console of ``ae-zoo``: errors only)."""

    def __init__(self, min_level=logging.NOTSET, stream=None):
        super().__init__()
        self.min_level, self.stream, self.said = min_level, stream, False

    def filter(self, record):
        if RETRACING in record.getMessage():
            if not self.said:
                self.said = True
                print(RETRACING_NOTE, file=self.stream or sys.stderr, flush=True)
            return False
        return record.levelno >= self.min_level


@contextlib.contextmanager
def retracing_note(logger=None):
    """Within the block, TensorFlow's retracing warnings are said once in plain words
    (:class:`RetracingNote`); the logger's other records are left as they are."""
    logger = logger or logging.getLogger("tensorflow")
    note = RetracingNote()
    logger.addFilter(note)
    try:
        yield note
    finally:
        logger.removeFilter(note)


class EpochProgress(keras.callbacks.Callback):
    """One line per finished epoch, ``"{prefix}epoch 3/10: loss 0.1234, val_loss 0.1301
    (1.2 s)"``, for a driver that trains with Keras' progress bar off (``verbose=0``)."""

    def __init__(self, log=print, prefix="", keys=("loss", "val_loss")):
        super().__init__()
        self.log, self.prefix, self.keys = log, prefix, tuple(keys)
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        shown = ", ".join(f"{k} {float(logs[k]):.4g}" for k in self.keys if k in logs)
        total = (self.params or {}).get("epochs")
        seconds = time.time() - (self._start or time.time())
        self.log(f"{self.prefix}epoch {epoch + 1}{f'/{total}' if total else ''}: {shown} "
                 f"({seconds:.1f} s)")
