"""Cyclic garbage is collected on the GUI thread, never in a worker that happens to allocate."""

from __future__ import annotations

import gc
import threading

from karyostudio.gui import gui_thread_gc
from karyostudio.gui.gui_thread_gc import GuiThreadGarbageCollector


class _Cycle:
    """Garbage that only the cycle collector frees; records the thread that finalised it."""

    def __init__(self, finalised_in: list[int]):
        self.me = self
        self._finalised_in = finalised_in

    def __del__(self):
        self._finalised_in.append(threading.get_ident())


def _allocate_cycles(count: int) -> None:
    for _ in range(count):
        node: dict = {}
        node["self"] = node  # container garbage: drives the collector's allocation counts


def test_a_worker_thread_never_runs_the_collector(qtbot, qapp) -> None:
    collector = gui_thread_gc.install(qapp)
    assert collector.active and not gc.isenabled()
    gui_thread = threading.get_ident()
    collecting_in: list[int] = []
    finalised_in: list[int] = []

    def record(phase: str, info: dict) -> None:
        if phase == "start":
            collecting_in.append(threading.get_ident())

    gc.callbacks.append(record)
    try:
        _Cycle(finalised_in)  # unreachable at once, but only the collector can free it
        worker = threading.Thread(target=_allocate_cycles, args=(200_000,))
        worker.start()
        worker.join()
        assert worker.ident not in collecting_in and finalised_in == []
        qtbot.waitUntil(lambda: finalised_in != [], timeout=5000)  # the timer's next tick
    finally:
        gc.callbacks.remove(record)
    assert set(collecting_in) == {gui_thread}
    assert finalised_in == [gui_thread]


def test_stop_restores_automatic_collection(qapp) -> None:
    installed = gui_thread_gc.install(qapp)
    installed.stop()
    assert gc.isenabled()
    collector = GuiThreadGarbageCollector(interval_ms=10)
    collector.start()
    assert collector.active and not gc.isenabled()
    finalised_in: list[int] = []
    _Cycle(finalised_in)
    collector.stop()  # collects what is left, here
    assert finalised_in == [threading.get_ident()]
    assert not collector.active and gc.isenabled()
    installed.start()  # as the fixture left it


def test_only_generations_past_their_thresholds_are_collected(qapp, monkeypatch) -> None:
    collected: list[int] = []
    monkeypatch.setattr(gc, "collect", lambda generation=2: collected.append(generation) or 0)
    monkeypatch.setattr(gc, "get_threshold", lambda: (700, 10, 10))
    collector = GuiThreadGarbageCollector()
    for counts, expected in [((100, 20, 20), []), ((701, 3, 20), [0]), ((701, 11, 3), [1]),
                             ((701, 11, 11), [2])]:
        collected.clear()
        monkeypatch.setattr(gc, "get_count", lambda counts=counts: counts)
        collector.collect_due()
        assert collected == expected, counts
