"""Benchmark case handling: reading a case folder, and exporting it (COCO, HTML, PDF report).

A case of --cells copies of the bundled sample metaphase (1024 x 1024, 46 outlines each, with
its labelme file) is written to a temporary folder, then measured (median of --repeats):
  scan      scan_case: list the folder and read every annotation file (status, count, karyotype);
            this runs on opening a case
  rescan    CaseReader.scan when nothing changed (after a save, a whole-case run's write, a change
            on disk): only changed annotation files are read again
  coco      case_annotations + write_coco of every cell into one file
  html      the HTML case report
  pdf       the same report printed to PDF (QTextDocument + QPdfWriter)

Example:
  QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_case.py --cells 50
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication  # noqa: E402

from karyostudio.workspace.case_scan import CaseReader, case_annotations, scan_case  # noqa: E402
from karyostudio.gui.exports import html_to_pdf  # noqa: E402
from karyostudio.io.case_report import case_report_html  # noqa: E402
from karyostudio.io.coco import write_coco  # noqa: E402
from karyostudio.io.labelme import read_labelme, write_labelme  # noqa: E402

SAMPLES = Path(__file__).resolve().parents[1] / "resources" / "samples"


def make_case(folder: Path, cells: int) -> None:
    sample = read_labelme(SAMPLES / "sample_metaphase.json")
    for i in range(cells):
        image = folder / f"cell{i + 1}.png"
        shutil.copy(SAMPLES / "sample_metaphase.png", image)
        sample.image_path, sample.key = image, image.stem
        write_labelme(image.with_suffix(".json"), sample)


def timed(fn, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "case"
        folder.mkdir()
        make_case(folder, args.cells)
        scan_s, cells = timed(lambda: scan_case(folder), args.repeats)
        reader = CaseReader()
        reader.scan(folder)
        rescan_s, _ = timed(lambda: reader.scan(folder), args.repeats)
        coco_s, _ = timed(lambda: write_coco(Path(tmp) / "case.json", case_annotations(cells)[0]), args.repeats)
        html_s, html = timed(lambda: case_report_html("case", cells, date="2026-01-01"), args.repeats)
        pdf_s, pdf = timed(lambda: html_to_pdf(html), args.repeats)
    print(f"{args.cells} cells x {cells[0].count} outlines")
    print(f"scan  {scan_s * 1000:8.1f} ms  ({scan_s / args.cells * 1000:.1f} ms per cell)")
    print(f"rescan{rescan_s * 1000:7.1f} ms")
    print(f"coco  {coco_s * 1000:8.1f} ms")
    print(f"html  {html_s * 1000:8.1f} ms")
    print(f"pdf   {pdf_s * 1000:8.1f} ms  ({len(pdf) / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
