"""StatusSink: where controllers report to the user (the window's status bar, a fake in tests)."""

from __future__ import annotations

from typing import Protocol


class StatusSink(Protocol):
    def message(self, text: str, timeout_ms: int = ...) -> None:
        """Show a one-line message; timeout_ms 0 keeps it until the next one."""

    def set_progress(self, done: int, total: int, message: str) -> None:
        """Progress of the running job (total 0: busy without a measure)."""

    def set_model_state(self, text: str) -> None:
        """Which model Run model uses, and whether it is installed."""
