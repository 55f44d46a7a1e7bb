"""Make the README's screenshots on a real X server (Xvfb), from a real Taichung cell.

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python docs/make_screenshots.py

Writes docs/screenshots/taichung_analysed.png (the cell analysed by the default model),
taichung_karyogram.png (its karyogram) and grabcut.png (GrabCut outlines drawn from the VOC boxes of
one region by real mouse drags, the last one still a preview). The cell is the first one of the
default pipeline's validation split unless --cell names another. Xvfb comes from Debian's `xvfb`
package; Qt's xcb platform also needs libxcb-cursor0 and libxkbcommon-x11-0.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "docs" / "screenshots"
TAICHUNG = ROOT.parent / "shared" / "data" / "taichung"
GRABCUT_OUTLINES = 8  # VOC boxes nearest the region's centre turned into outlines


def first_validation_cell(root: Path) -> str:
    sys.path.insert(0, str(ROOT))
    from benchmarks.bench_default_pipeline import _TRAIN_DEFAULTS, validation_ids
    return validation_ids(root, _TRAIN_DEFAULTS["val_fraction"], _TRAIN_DEFAULTS["seed"])[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--taichung", type=Path, default=TAICHUNG)
    parser.add_argument("--cell", help="Taichung image id (default: first validation cell)")
    parser.add_argument("--out", type=Path, default=SCREENSHOTS)
    args = parser.parse_args(argv)
    if not os.environ.get("DISPLAY") or os.environ.get("QT_QPA_PLATFORM", "xcb") != "xcb":
        parser.error("needs an X display: run it under xvfb-run (and without QT_QPA_PLATFORM)")

    import numpy as np
    from PySide6.QtCore import QPointF, QRectF, Qt
    from PySide6.QtTest import QTest

    from karyostudio.gui.app import SCREENSHOT_SIZE, create_application, write_screenshot
    from karyostudio.gui.dialogs.messages import non_interactive
    from karyostudio.gui.main_window import MainWindow
    from karyostudio.io.voc import read_voc

    cell = args.cell or first_validation_cell(args.taichung)
    truth = read_voc(args.taichung / "annotations" / f"{cell}.xml", image_dirs=[args.taichung / "JEPG"])
    args.out.mkdir(parents=True, exist_ok=True)
    app = create_application()

    def new_window() -> MainWindow:
        window = MainWindow()
        window.models.refresh()
        window.resize(*SCREENSHOT_SIZE)
        window.show()
        QTest.qWaitForWindowExposed(window)
        if not window.files.open_path(truth.image_path):
            raise SystemExit(f"could not open {truth.image_path}")
        return window

    with non_interactive():
        window = new_window()
        failures: list[str] = []
        window.models.runner.failed.connect(failures.append)
        if not window.models.run():
            raise SystemExit("the model run could not start")
        window.models.runner.wait()
        app.processEvents()
        if failures:
            raise SystemExit(f"the model run failed: {failures[0]}")
        window.view.fit_to_window()
        QTest.qWait(200)
        write_screenshot(window, args.out / "taichung_analysed.png")
        window.karyogram.show_for_screenshot()
        QTest.qWait(200)
        write_screenshot(window, args.out / "taichung_karyogram.png")
        window.discard_and_close()

        # GrabCut: boxes around the VOC chromosomes nearest the image centre, dragged with the mouse.
        window = new_window()
        boxes = np.array([inst.bbox for inst in truth.instances], dtype=float)
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        height, width = window.session.document.image.shape[:2]
        nearest = np.argsort(np.linalg.norm(centres - (width / 2, height / 2), axis=1))[:GRABCUT_OUTLINES]
        region = np.concatenate([boxes[nearest, :2].min(axis=0) - 40, boxes[nearest, 2:].max(axis=0) + 40])
        window.view.fit_region(QRectF(*region[:2], *(region[2:] - region[:2])))
        next(a for a in window.actions() if a.text() == "&GrabCut outline").trigger()  # the toolbar button
        tool = window.edit_tools.grabcut
        if window.view.tool is not tool:
            raise SystemExit("the GrabCut tool did not start")
        viewport = window.view.viewport()
        for n, k in enumerate(nearest):
            x0, y0, x1, y1 = boxes[k] + (-4, -4, 4, 4)
            start = window.view.mapFromScene(QPointF(x0, y0))
            end = window.view.mapFromScene(QPointF(x1, y1))
            QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
            QTest.mouseMove(viewport, end)
            QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)
            if n < len(nearest) - 1 and tool.outline is not None:
                tool.accept(truth.instances[k].label)  # as if its class key had been typed
        QTest.qWait(200)
        write_screenshot(window, args.out / "grabcut.png")
        window.discard_and_close()
    print(f"cell {cell}: screenshots written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
