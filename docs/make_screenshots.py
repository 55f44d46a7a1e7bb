"""Make the README's screenshots on a real X server (Xvfb), from a real Taichung cell.

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python docs/make_screenshots.py

Writes docs/screenshots/taichung_analysed.png (the cell analysed by the default model, its
karyogram beside it), taichung_karyogram.png (the window with the karyogram large),
karyogram_page.png (the exported karyogram page, reduced from its 300 dpi), karyogram_vs_truth.png
(our karyogram of the cell next to the same cell's chromosomes laid out by hand from its ground
truth: each VOC box's chromosome cut out with crop_from_box, in the same layout, with its true
class) and grabcut.png (GrabCut outlines drawn from the VOC boxes of one region by real mouse
drags, the last one still a preview). The cell is the first one of the default pipeline's
validation split unless --cell names another. Xvfb comes from Debian's `xvfb` package; Qt's xcb
platform also needs libxcb-cursor0 and libxkbcommon-x11-0.
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
PAGE_WIDTH = 1600  # pixels of the karyogram page pictures (the export itself is 3508 wide)


def truth_instances(image, truth):
    """The ground truth's chromosomes as outlines: each VOC box's chromosome cut out of the box."""
    import numpy as np

    from karyostudio.geometry.polygons import box_to_polygon, mask_to_polygon
    from karyostudio.models.classic.crops import crop_from_box, image_levels, to_gray

    gray = to_gray(image)
    levels = image_levels(gray)
    out = []
    for inst in truth.instances:
        mask, (x0, y0) = crop_from_box(gray, inst.bbox, levels)
        outline = mask_to_polygon(mask) if mask.any() else None
        polygon = outline + np.array([x0, y0], float) if outline is not None else box_to_polygon(inst.bbox)
        out.append(inst.with_(polygon=polygon, attributes={}))
    return out


def side_by_side(ours, theirs, left: str, right: str):
    """Two karyogram pages next to each other under their titles (RGB uint8)."""
    import cv2
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    half = PAGE_WIDTH * 3 // 4
    pages = [cv2.resize(p, (half, round(p.shape[0] * half / p.shape[1])), interpolation=cv2.INTER_AREA)
             for p in (ours, theirs)]
    gap, title_h = 24, 56
    canvas = np.full((pages[0].shape[0] + title_h, 2 * half + gap, 3), 255, np.uint8)
    canvas[title_h:, :half] = pages[0]
    canvas[title_h:, half + gap:] = pages[1]
    canvas[title_h:, half + gap // 2 - 1:half + gap // 2 + 1] = 160
    picture = Image.fromarray(canvas)
    draw = ImageDraw.Draw(picture)
    font = ImageFont.load_default(size=26)
    draw.text((16, 14), left, fill=(0, 0, 0), font=font)
    draw.text((half + gap + 16, 14), right, fill=(0, 0, 0), font=font)
    return np.asarray(picture)


def first_validation_cell(root: Path) -> str:
    sys.path.insert(0, str(ROOT))
    from benchmarks.bench_default_pipeline import _TRAIN_DEFAULTS, validation_ids
    return validation_ids(root, _TRAIN_DEFAULTS["val_fraction"], _TRAIN_DEFAULTS["seed"])[0]


def shrink(path: Path, width: int) -> None:
    """Reduce a PNG to width pixels (keeps the aspect)."""
    from PIL import Image

    with Image.open(path) as picture:
        small = picture.convert("RGB").resize((width, round(picture.height * width / picture.width)),
                                              Image.Resampling.LANCZOS)
    small.save(path, optimize=True)


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
    from PySide6.QtWidgets import QDockWidget

    from karyostudio.core.cell_count import count_cell
    from karyostudio.gui.app import SCREENSHOT_SIZE, create_application, write_screenshot
    from karyostudio.gui.dialogs.messages import non_interactive
    from karyostudio.gui.main_window import MainWindow
    from karyostudio.io.voc import read_voc
    from karyostudio.render.karyogram_image import compose_karyogram, write_png

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
        window.karyogram.show_pane()
        QTest.qWait(100)
        window.view.fit_to_window()
        window.karyogram.pane.fit()
        QTest.qWait(200)
        write_screenshot(window, args.out / "taichung_analysed.png")
        for dock in window.findChildren(QDockWidget):  # the karyogram large: the side panels closed
            dock.close()
        window.karyogram.show_for_screenshot()
        QTest.qWait(200)
        write_screenshot(window, args.out / "taichung_karyogram.png")
        page = args.out / "karyogram_page.png"
        if not window.karyogram.export_to(page):
            raise SystemExit("the karyogram export failed")
        shrink(page, PAGE_WIDTH)
        image = window.session.document.image
        predicted = window.session.document.instances
        window.discard_and_close()

        counted = count_cell(predicted)
        ours = compose_karyogram(image, predicted, title=f"{cell}: default model",
                                 karyotype=counted.karyotype).image
        true_instances = truth_instances(image, truth)
        theirs = compose_karyogram(image, true_instances, title=f"{cell}: ground truth (VOC boxes)",
                                   karyotype=count_cell(true_instances).karyotype).image
        write_png(args.out / "karyogram_vs_truth.png",
                  side_by_side(ours, theirs, f"Our karyogram ({counted.text()})",
                               "The same cell's chromosomes laid out from its ground truth"))

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
