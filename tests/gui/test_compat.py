"""The PySide6 6.12 / CPython 3.11 reference-count guard (karyostudio.gui.compat)."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QLabel

from karyostudio.gui.compat import needs_singleton_guard


class _Emitter(QObject):
    fired = Signal(int)


def test_many_void_qt_calls_and_emits_do_not_exhaust_singletons(qapp):
    # Without the guard on CPython 3.11 this aborts the interpreter ("deallocating None")
    # after a few thousand calls.
    label = QLabel()
    emitter = _Emitter()
    received = []
    emitter.fired.connect(received.append)
    for i in range(20_000):
        label.setText("x")
        emitter.fired.emit(i)
    assert len(received) == 20_000
    if needs_singleton_guard():
        assert min(sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False)) > 1 << 40
