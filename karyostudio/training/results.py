"""What every trainer returns and how it talks to callbacks (shared by all model families).

Callbacks are plain objects; a trainer calls the methods they have, on the main process:
``on_fit_start(info)``, ``on_data_progress(done, total, message)``, ``on_step_end(step, losses)``,
``on_epoch_end(epoch, metrics)``, ``on_fit_end(result)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence


@dataclass
class FitResult:
    out_dir: Path
    steps: int
    epochs: int  # epochs completed, all stages
    best_epoch: int | None
    best_metrics: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)  # one record per validated epoch
    last_checkpoint: Path | None = None
    best_checkpoint: Path | None = None
    manifest: Path | None = None  # the exported model's manifest
    stopped_early: bool = False  # the time budget ran out
    elapsed_s: float = 0.0


def emit(callbacks: Sequence[Any], name: str, *args: Any) -> None:
    """Call ``name(*args)`` on every callback that has it."""
    for cb in callbacks:
        method = getattr(cb, name, None)
        if method is not None:
            method(*args)
