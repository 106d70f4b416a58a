"""Once a second, the target's backlog: queue depth, outbox, unsettled orders, availability."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Sampler:
    def __init__(self, sample: Callable[[], dict], interval: float = 1.0):
        self._sample = sample
        self.interval = interval
        self.samples: list[dict] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="spike-sampler", daemon=True)

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.samples.append(self._sample())
            except Exception as exc:  # noqa: BLE001 - a fault may take a source away for a while
                self.samples.append({"t": time.time(), "error": repr(exc)})
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def stop(self) -> list[dict]:
        self._stop.set()
        self._thread.join(timeout=10)
        return self.samples


def backlog(sample: dict) -> int | None:
    """Work accepted and not done yet: unsettled orders + queued messages + unpublished outbox."""
    parts = [
        sample.get(k) for k in ("unsettled", "queue_depth", "outbox_order", "outbox_fulfillment")
    ]
    if any(p is None for p in parts):
        return None
    return sum(parts)
