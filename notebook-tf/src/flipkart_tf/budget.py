"""A wall-clock budget for training on shared CPUs: stop before the next epoch would overrun."""

from __future__ import annotations

import sys
import time

import keras


class WallClockBudget(keras.callbacks.Callback):
    def __init__(self, max_minutes: float, started: float | None = None):
        super().__init__()
        self.max_seconds = max_minutes * 60
        self.started = time.perf_counter() if started is None else started
        self.stopped_at_epoch: int | None = None
        self._longest_epoch = 0.0
        self._epoch_start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        now = time.perf_counter()
        if epoch > 0:  # the first epoch includes graph tracing: do not extrapolate from it
            self._longest_epoch = max(self._longest_epoch, now - self._epoch_start)
        if now - self.started + self._longest_epoch > self.max_seconds:
            self.stopped_at_epoch = epoch + 1
            self.model.stop_training = True
            print(
                f"wall-clock budget of {self.max_seconds / 60:.0f} min reached after epoch "
                f"{epoch + 1}: stopping",
                file=sys.stderr,
                flush=True,
            )
