"""What a long command shows on the console besides Keras' own progress bar: one line per
finished epoch, for a driver that trains several models quietly.
"""

import time

import keras


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
