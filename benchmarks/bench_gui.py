"""Benchmark the desktop app's canvas: big 16-bit images, many outlines, vertex drags, long undo.

Runs the real MainWindow (offscreen unless a display is given) with settings and recovery files
in a temporary folder, and measures:
  open      reading a --width x --height 16-bit TIFF and showing it (Session.open, set_session,
            one synchronous repaint of the canvas)
  render    adding --polygons chromosome-like outlines as one command and repainting, then the
            time of a full repaint with all of them visible (median of --repeats)
  zoom      frame time of a wheel-sized zoom step with every outline visible (each step re-renders
            the cached outlines at the new scale)
  drag      frame time of dragging one vertex of a selected outline: each mouse move goes through
            the view's real mouse handling followed by a synchronous repaint (median, p90, max)
  undo      pushing --undo-steps vertex edits, then undoing and redoing all of them

Example:
  QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_gui.py
  QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_gui.py --polygons 200 --undo-steps 200
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEvent, QPointF, QSettings, Qt  # noqa: E402
from PySide6.QtGui import QMouseEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from karyostudio.core.commands import AddInstances, EditVertices  # noqa: E402
from karyostudio.core.instance import Instance  # noqa: E402
from karyostudio.io.images import write_image  # noqa: E402


def chromosome_outline(rng: np.random.Generator, cx: float, cy: float, length: float, width: float,
                       angle: float, vertices: int) -> np.ndarray:
    """A capsule-like outline with ``vertices`` points, like a traced chromosome."""
    t = np.linspace(0, 2 * np.pi, vertices, endpoint=False)
    x = (width / 2) * np.cos(t) * (1 + 0.05 * rng.standard_normal(vertices))
    y = (length / 2) * np.sign(np.sin(t)) * np.abs(np.sin(t)) ** 0.3
    c, s = np.cos(angle), np.sin(angle)
    return np.stack([cx + c * x - s * y, cy + s * x + c * y], axis=1)


def make_image(path: Path, width: int, height: int, rng: np.random.Generator) -> None:
    image = rng.normal(52000, 2500, size=(height, width)).clip(0, 65535).astype(np.uint16)
    write_image(path, image)


def make_instances(rng: np.random.Generator, count: int, width: int, height: int, vertices: int) -> list[Instance]:
    out = []
    for k in range(count):
        outline = chromosome_outline(rng, rng.uniform(60, width - 60), rng.uniform(60, height - 60),
                                     rng.uniform(40, 110), rng.uniform(12, 20), rng.uniform(0, np.pi), vertices)
        out.append(Instance(id=k + 1, polygon=outline, label=str(1 + k % 22), score=float(rng.uniform(0.5, 1))))
    return out


def repaint(window) -> float:
    t0 = time.perf_counter()
    window.view.viewport().repaint()
    return time.perf_counter() - t0


def send_mouse(widget, kind: QEvent.Type, pos: QPointF, button: Qt.MouseButton, buttons: Qt.MouseButton) -> None:
    event = QMouseEvent(kind, pos, widget.mapToGlobal(pos), button, buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def stats(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    p90 = ms[min(len(ms) - 1, int(round(0.9 * (len(ms) - 1))))]
    return f"median {statistics.median(ms):.1f} ms, p90 {p90:.1f} ms, max {ms[-1]:.1f} ms (n={len(ms)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=3200)
    parser.add_argument("--height", type=int, default=2200)
    parser.add_argument("--polygons", type=int, default=500)
    parser.add_argument("--vertices", type=int, default=60, help="vertices per outline")
    parser.add_argument("--drag-moves", type=int, default=120)
    parser.add_argument("--undo-steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--window", default="1600x1000", help="window size WxH")
    args = parser.parse_args()
    rng = np.random.default_rng(0)

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        QSettings.setDefaultFormat(QSettings.Format.IniFormat)
        QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
        os.environ["KARYOSTUDIO_RECOVERY_DIR"] = str(tmp_path / "recovery")
        app = QApplication.instance() or QApplication([])
        from karyostudio.gui.main_window import MainWindow
        from karyostudio.workspace.session import Session

        window = MainWindow(model_lister=lambda: [])
        w, h = (int(v) for v in args.window.split("x"))
        window.resize(w, h)
        window.show()
        app.processEvents()

        image_path = tmp_path / "big.tif"
        make_image(image_path, args.width, args.height, rng)
        size_mb = image_path.stat().st_size / 2**20
        t0 = time.perf_counter()
        session = Session.open(image_path)
        t1 = time.perf_counter()
        window.set_session(session)
        app.processEvents()
        t2 = time.perf_counter()
        first_paint = repaint(window)
        print(f"open     {args.width}x{args.height} uint16 TIFF ({size_mb:.1f} MiB): read {1000 * (t1 - t0):.0f} ms, "
              f"show {1000 * (t2 - t1):.0f} ms, first repaint {1000 * first_paint:.0f} ms, "
              f"total {1000 * (t2 - t0 + first_paint):.0f} ms")

        instances = make_instances(rng, args.polygons, args.width, args.height, args.vertices)
        t0 = time.perf_counter()
        window.session.history.push(AddInstances(instances))
        app.processEvents()
        add_paint = repaint(window)
        t_add = time.perf_counter() - t0
        paints = [repaint(window) for _ in range(args.repeats)]
        print(f"render   {args.polygons} outlines x {args.vertices} vertices: add + first repaint "
              f"{1000 * t_add:.0f} ms (repaint {1000 * add_paint:.0f} ms); full repaint {stats(paints)}")

        zooms = []
        for k in range(args.repeats * 2):
            t0 = time.perf_counter()
            window.view.zoom_by(1.19 if k % 2 == 0 else 1 / 1.19)
            window.view.viewport().repaint()
            zooms.append(time.perf_counter() - t0)
        print(f"zoom     zoom step + repaint, {args.polygons} outlines visible: {stats(zooms)}")

        # Vertex drag on the first outline, zoomed so the outline is a few hundred pixels big.
        target = instances[0]
        window.selection.set([target.id])
        window.view.centre_on_instance(target.id)
        window.view.zoom_by(4.0 / max(window.view.zoom, 1e-6))
        window.view.centerOn(QPointF(*target.polygon[0]))
        app.processEvents()
        viewport = window.view.viewport()
        start = QPointF(window.view.mapFromScene(QPointF(*target.polygon[0])))
        send_mouse(viewport, QEvent.Type.MouseButtonPress, start, Qt.MouseButton.LeftButton, Qt.MouseButton.LeftButton)
        frames = []
        for k in range(1, args.drag_moves + 1):
            pos = start + QPointF(0.5 * k, 0.3 * k)
            t0 = time.perf_counter()
            send_mouse(viewport, QEvent.Type.MouseMove, pos, Qt.MouseButton.NoButton, Qt.MouseButton.LeftButton)
            viewport.repaint()
            frames.append(time.perf_counter() - t0)
        send_mouse(viewport, QEvent.Type.MouseButtonRelease, pos, Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton)
        moved = not np.allclose(window.session.document.get(target.id).polygon, target.polygon)
        print(f"drag     vertex drag frame (move + repaint, zoom {window.view.zoom:.1f}x, "
              f"{'edit recorded' if moved else 'NO EDIT RECORDED'}): {stats(frames)}")

        # Undo/redo: many small vertex edits, as a long editing session makes.
        history = window.session.history
        base = window.session.document.get(instances[1].id).polygon
        t0 = time.perf_counter()
        for k in range(args.undo_steps):
            history.push(EditVertices(instances[1].id, base + (k + 1) * 0.01))
        app.processEvents()
        t_push = time.perf_counter() - t0
        t0 = time.perf_counter()
        undone = sum(history.undo() for _ in range(args.undo_steps))
        app.processEvents()
        t_undo = time.perf_counter() - t0
        t0 = time.perf_counter()
        redone = sum(history.redo() for _ in range(args.undo_steps))
        app.processEvents()
        t_redo = time.perf_counter() - t0
        print(f"undo     {args.undo_steps} vertex edits: push {1000 * t_push:.0f} ms, undo all {1000 * t_undo:.0f} ms "
              f"({undone} undone), redo all {1000 * t_redo:.0f} ms ({redone} redone)")
        window.discard_and_close()


if __name__ == "__main__":
    main()
