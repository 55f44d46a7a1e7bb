"""Benchmark GrabCut-assisted outlining: time per refinement and how well it fits.

Two sets of rough inputs, each refined with karyostudio.geometry.grabcut as the GUI does:
  taichung   the VOC boxes of real metaphases (/work/shared/data/taichung) as the rough box;
             there are no masks, so the fit is the IoU of the refined outline's bounding box
             with the VOC box (the VOC boxes are drawn loosely, so 1.0 is not the target)
  synthetic  boxes around the exact masks of synthetic cells (padded by --pad px); the fit
             is the mask IoU with the exact chromosome mask, next to the IoU of the box
             itself; then one object stroke along the chromosome's centreline (as a user
             would draw to fix it) and the IoU and time of that incremental re-run

Times are wall-clock per call (from_box + polygon(), or add_stroke + polygon()), single thread.

Example:
  .venv/bin/python benchmarks/bench_grabcut.py --images 3 --cells 2
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from karyostudio.geometry.grabcut import GrabCutError, GrabCutRegion, GrabCutSettings
from karyostudio.geometry.polygons import polygon_to_mask
from karyostudio.io.images import read_image
from karyostudio.io.voc import read_voc
from karyostudio.synth.config import SynthConfig
from karyostudio.synth.metaphase import generate_metaphase, rng_for

TAICHUNG = Path("/work/shared/data/taichung")


def box_iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 0.0


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def summary(name: str, seconds: list[float], values: dict[str, list[float]]) -> None:
    ms = np.asarray(seconds) * 1000.0
    parts = [f"{name}: n={len(ms)}  time median {np.median(ms):.1f} ms  p90 {np.percentile(ms, 90):.1f} ms"
             f"  max {ms.max():.1f} ms"]
    for key, v in values.items():
        arr = np.asarray(v)
        parts.append(f"{key} median {np.median(arr):.3f} mean {arr.mean():.3f} (>=0.8: {(arr >= 0.8).mean():.0%})")
    print("\n    ".join(parts))


def bench_taichung(n_images: int, settings: GrabCutSettings) -> None:
    names = sorted(p.stem for p in (TAICHUNG / "annotations").glob("*.xml"))[:n_images]
    times, ious, failures = [], [], 0
    for name in names:
        ann = read_voc(TAICHUNG / "annotations" / f"{name}.xml")
        image = read_image(ann.image_path)
        for inst in ann.instances:
            try:
                outline, seconds = timed(lambda: GrabCutRegion.from_box(image, inst.bbox, settings=settings).polygon())
            except GrabCutError:
                failures += 1
                continue
            times.append(seconds)
            ious.append(box_iou(inst.bbox, (*outline.min(axis=0), *outline.max(axis=0))))
    summary(f"taichung ({len(names)} images, {failures} failures)", times, {"box IoU": ious})


def bench_synthetic(n_cells: int, pad: float, settings: GrabCutSettings) -> None:
    times, stroke_times, ious, box_ious, stroke_ious, failures = [], [], [], [], [], 0
    for index in range(n_cells):
        cell = generate_metaphase(rng_for(7, index), SynthConfig(size=800))
        for k, inst in enumerate(cell.instances):
            truth = cell.mask(k)
            ys, xs = np.nonzero(truth)
            box = (xs.min() - pad, ys.min() - pad, xs.max() + 1 + pad, ys.max() + 1 + pad)
            box_mask = np.zeros_like(truth)
            box_mask[max(int(box[1]), 0):int(box[3]), max(int(box[0]), 0):int(box[2])] = True
            try:
                region, seconds = timed(lambda: GrabCutRegion.from_box(cell.image, box, settings=settings))
                outline, more = timed(region.polygon)
            except GrabCutError:
                failures += 1
                continue
            times.append(seconds + more)
            ious.append(mask_iou(polygon_to_mask(outline, truth.shape), truth))
            box_ious.append(mask_iou(box_mask, truth))
            skeleton = np.asarray(inst.attributes["skeleton"], dtype=np.float64)
            try:
                _, seconds = timed(lambda: region.add_stroke(skeleton, foreground=True, radius=2.0))
                outline, more = timed(region.polygon)
            except GrabCutError:
                failures += 1
                continue
            stroke_times.append(seconds + more)
            stroke_ious.append(mask_iou(polygon_to_mask(outline, truth.shape), truth))
    summary(f"synthetic box ({n_cells} cells, pad {pad:g} px, {failures} failures)", times,
            {"mask IoU": ious, "IoU of the box itself": box_ious})
    summary("synthetic + centreline object stroke", stroke_times, {"mask IoU": stroke_ious})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=3, help="Taichung images (all their boxes)")
    parser.add_argument("--cells", type=int, default=2, help="synthetic cells (all their chromosomes)")
    parser.add_argument("--pad", type=float, default=4.0, help="px added around the exact box (synthetic)")
    parser.add_argument("--max-side", type=int, default=GrabCutSettings().max_side)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    settings = GrabCutSettings(max_side=args.max_side)
    if (TAICHUNG / "annotations").is_dir():
        bench_taichung(args.images, settings)
    else:
        print(f"taichung: {TAICHUNG} not found, skipped")
    bench_synthetic(args.cells, args.pad, settings)


if __name__ == "__main__":
    main()
