"""The pinned Qt binding survives sustained use.

PySide6 6.12.0 on CPython 3.11 leaks a reference to None/True/False on every void call and signal
emit until the interpreter aborts ("deallocating None"); karyostudio pins a release without that
fault. This test runs the pattern in a child interpreter so a regression fails instead of crashing
the test session.
"""

import subprocess
import sys

SCRIPT = """
import os, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QApplication, QLabel

class Emitter(QObject):
    fired = Signal(int)

app = QApplication([])
label, emitter, received = QLabel(), Emitter(), []
emitter.fired.connect(received.append)
for i in range(100_000):
    label.setText("x")
    label.setVisible(False)
    emitter.fired.emit(i)
print(len(received))
"""


def test_many_void_calls_and_signal_emits_do_not_crash_the_interpreter():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "100000"
