"""Progress reporting and cooperative cancellation for long work.

Long functions take ``progress`` (called as progress(done, total, message)) and ``cancel``
(a CancelToken) and call ``cancel.raise_if_cancelled()`` between tiles, images, batches or
epochs. The GUI wraps them in worker threads; the CLI passes a tqdm-backed callback.
"""

from __future__ import annotations

import threading
from typing import Protocol


class ProgressCallback(Protocol):
    def __call__(self, done: int, total: int, message: str = "") -> None: ...


class Cancelled(Exception):
    """Raised inside long work when its CancelToken was cancelled."""


class CancelToken:
    """Thread-safe flag set by the requester (GUI, Ctrl-C handler) and polled by the worker."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled("cancelled by the user")


def report(progress: ProgressCallback | None, done: int, total: int, message: str = "") -> None:
    """Call a progress callback if there is one."""
    if progress is not None:
        progress(done, total, message)


def check(cancel: CancelToken | None) -> None:
    """Raise Cancelled if a token was given and cancelled."""
    if cancel is not None:
        cancel.raise_if_cancelled()
