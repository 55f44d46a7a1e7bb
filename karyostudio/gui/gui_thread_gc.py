"""Python's cycle collector runs on the GUI thread only.

With automatic collection on, a collection starts in whichever thread happens to allocate
when a threshold is crossed: often a model-loading or training worker. If the garbage then
holds Qt objects (a closed dialog caught in a reference cycle), their C++ destructors run
off the GUI thread and the process can crash. So automatic collection is switched off and
a timer on the GUI thread collects instead, generation by generation with the interpreter's
own thresholds (the approach of pyqtgraph's GarbageCollector, which cannot be stopped again).
Reference counting still frees everything that is not in a cycle at once, in any thread.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

DEFAULT_INTERVAL_MS = 1000


class GuiThreadGarbageCollector(QObject):
    """Create and start on the GUI thread; ``stop`` gives collection back to the interpreter."""

    def __init__(self, interval_ms: int = DEFAULT_INTERVAL_MS, parent: QObject | None = None):
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.collect_due)
        self._was_enabled = False

    @property
    def active(self) -> bool:
        return self._timer.isActive()

    def start(self) -> None:
        if self.active:
            return
        self._was_enabled = gc.isenabled()
        gc.disable()
        self._timer.start()

    def stop(self) -> None:
        """Collect what is left here, on the GUI thread, then restore automatic collection."""
        if not self.active:
            return
        self._timer.stop()
        gc.collect()
        if self._was_enabled:
            gc.enable()

    def collect_due(self) -> None:
        """Collect the generations whose allocation counts passed their thresholds."""
        thresholds = gc.get_threshold()
        counts = gc.get_count()
        generation = -1
        for level in range(3):
            if counts[level] <= thresholds[level]:
                break
            generation = level
        if generation >= 0:
            gc.collect(generation)


_installed: GuiThreadGarbageCollector | None = None


def install(parent: QObject) -> GuiThreadGarbageCollector:
    """Start the one collector of this process (kept here, so it lives as long as the process)."""
    global _installed
    if _installed is None:
        _installed = GuiThreadGarbageCollector(parent=parent)
    _installed.start()
    return _installed
