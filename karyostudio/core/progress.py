"""Progress reporting and cooperative cancellation for long work.

Long functions take ``progress`` (called as progress(done, total, message)) and ``cancel``
(a CancelToken) and call ``cancel.raise_if_cancelled()`` between tiles, images, batches or
epochs. The GUI wraps them in worker threads; the CLI passes a tqdm-backed callback.

Cooperative checks are the rule, but a stage that holds on for seconds without one (a
third-party loop, a model family that checks only between stages) would make Cancel hang. So
whoever runs work it does not own can wrap the call in ``with token.interruptible():``: if the
token is cancelled and the work has not stopped by itself within ``INTERRUPT_GRACE_S``, Cancelled
is raised in that thread at its next Python instruction (CPython's asynchronous exceptions; a
long C call still finishes first). Outside such a block nothing is ever raised asynchronously.
``cancel_after`` turns a token into a time limit (``predict --timeout``).
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
from typing import Iterator, Protocol

INTERRUPT_GRACE_S = 0.25  # time given to cooperative checks before an interruptible block is interrupted
USER_CANCEL = "cancelled by the user"


class ProgressCallback(Protocol):
    def __call__(self, done: int, total: int, message: str = "") -> None: ...


class Cancelled(Exception):
    """Raised inside long work when its CancelToken was cancelled."""


class CancelToken:
    """Thread-safe flag set by the requester (GUI, Ctrl-C handler, a timer) and polled by the worker."""

    def __init__(self, *, interrupt_grace_s: float = INTERRUPT_GRACE_S) -> None:
        self._event = threading.Event()
        self._reason = USER_CANCEL
        self._grace = float(interrupt_grace_s)
        self._lock = threading.Lock()
        self._threads: dict[int, int] = {}  # thread id -> depth of interruptible blocks
        self._interrupted: set[int] = set()
        self._timers: list[threading.Timer] = []  # time limits (cancel_after)
        self._grace_timers: list[threading.Timer] = []  # pending interrupts

    def cancel(self, reason: str = USER_CANCEL) -> None:
        with self._lock:
            if self._event.is_set():
                return
            self._reason = reason
            self._event.set()
            if self._threads:
                self._grace_timers.append(_start_timer(self._grace, self._interrupt))

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    @property
    def reason(self) -> str:
        """Why the token was cancelled (the message of the Cancelled it raises)."""
        return self._reason

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled(self._reason)

    def cancel_after(self, seconds: float, reason: str) -> None:
        """Cancel the token with ``reason`` once ``seconds`` have passed (a time limit); see ``dispose``."""
        with self._lock:
            self._timers.append(_start_timer(seconds, lambda: self.cancel(reason)))

    def dispose(self) -> None:
        """Stop the timers of this token (a finished run no longer needs its time limit)."""
        with self._lock:
            timers, self._timers = self._timers, []
        for timer in timers:
            timer.cancel()

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        """Let ``cancel`` interrupt the calling thread inside this block (see the module docstring)."""
        ident = threading.get_ident()
        with self._lock:
            self._threads[ident] = self._threads.get(ident, 0) + 1
            if self._event.is_set():
                self._grace_timers.append(_start_timer(self._grace, self._interrupt))
        try:
            yield
        finally:
            idle: list[threading.Timer] = []
            with self._lock:
                depth = self._threads.pop(ident, 1) - 1
                if depth > 0:
                    self._threads[ident] = depth
                elif ident in self._interrupted:
                    # An interrupt aimed at this block must not surface after it.
                    self._interrupted.discard(ident)
                    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), None)
                if not self._threads:
                    idle, self._grace_timers = self._grace_timers, []
            for timer in idle:  # nobody left to interrupt
                timer.cancel()
                if timer is not threading.current_thread():
                    timer.join()

    def _interrupt(self) -> None:
        with self._lock:
            reason = self._reason
            exc_type = type("Cancelled", (Cancelled,), {"__init__": lambda self: Cancelled.__init__(self, reason),
                                                        "__module__": __name__})
            for ident in self._threads:
                if ident not in self._interrupted:
                    self._interrupted.add(ident)
                    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(exc_type))


def _start_timer(seconds: float, action) -> threading.Timer:
    timer = threading.Timer(max(0.0, seconds), action)
    timer.daemon = True
    timer.start()
    return timer


def report(progress: ProgressCallback | None, done: int, total: int, message: str = "") -> None:
    """Call a progress callback if there is one."""
    if progress is not None:
        progress(done, total, message)


def check(cancel: CancelToken | None) -> None:
    """Raise Cancelled if a token was given and cancelled."""
    if cancel is not None:
        cancel.raise_if_cancelled()
