"""How well axis-aligned boxes are turned into rotated ground truth (models/rotated/box_fit.py).

1. Synthetic metaphases (exact rotated boxes known): each chromosome's axis-aligned box -- tight,
   and grown by --margin of its longer side on every side, as loose hand-drawn boxes are -- is
   refined on the image; reported: skew-IoU of the refined box with the exact minimum-area box
   (median and the share >= 0.5 / >= 0.7), against the axis box used as is, and the failure rate.
2. Taichung (Pascal VOC, no rotated truth): how often the refinement fails, by reason, over
   --taichung-images images (a fixed, evenly spaced subset; 0 = all), and the median ratio of
   the refined box's area to the VOC box's.

Example:
  .venv/bin/python benchmarks/rotated_gt_quality.py --synth-images 10 --taichung-images 400
"""

from __future__ import annotations

import argparse
import os
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from karyostudio.geometry.rotated import normalize_rotated_boxes, rotated_iou_matrix
from karyostudio.io.images import read_image
from karyostudio.io.voc import read_voc
from karyostudio.models.maskrcnn.image_prep import as_uint8
from karyostudio.models.rotated.box_fit import FIT_OK, axis_rotated_box, fit_rotated_box_in_box
from karyostudio.synth import SynthConfig, generate_metaphase, rng_for


def pair_iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(rotated_iou_matrix(a[None], b[None])[0, 0])


def synthetic(n_images: int, size: int, margin: float) -> None:
    for grow in (0.0, margin):
        fitted, axis, reasons = [], [], Counter()
        for i in range(n_images):
            cell = generate_metaphase(rng_for(100, i), SynthConfig(size=size))
            for inst in cell.instances:
                exact = normalize_rotated_boxes(inst.attributes["rotated_box"])
                x0, y0, x1, y1 = inst.bbox
                m = grow * max(x1 - x0, y1 - y0)
                box = (x0 - m, y0 - m, x1 + m, y1 + m)
                fit = fit_rotated_box_in_box(cell.image, box)
                reasons[fit.reason] += 1
                fitted.append(pair_iou(fit.rbox, exact))
                axis.append(pair_iou(axis_rotated_box(*box), exact))
        f, a = np.array(fitted), np.array(axis)
        total = sum(reasons.values())
        print(f"synthetic, {n_images} images of {size} px, {total} chromosomes, box margin {grow:.0%}: "
              f"refined skew-IoU median {np.median(f):.3f} (>=0.5: {np.mean(f >= 0.5):.1%}, >=0.7: "
              f"{np.mean(f >= 0.7):.1%}); axis box median {np.median(a):.3f} (>=0.5: {np.mean(a >= 0.5):.1%}, "
              f">=0.7: {np.mean(a >= 0.7):.1%}); failures {1 - reasons[FIT_OK] / total:.2%}")


def taichung(root: Path, n_images: int) -> None:
    xmls = sorted((root / "annotations").glob("*.xml"))
    if n_images and n_images < len(xmls):
        xmls = [xmls[k] for k in np.linspace(0, len(xmls) - 1, n_images).round().astype(int)]
    reasons, area_ratio = Counter(), []
    for xml in xmls:
        ann = read_voc(xml, image_dirs=[root / "JEPG"])
        image = as_uint8(read_image(ann.image_path))
        for inst in ann.instances:
            fit = fit_rotated_box_in_box(image, inst.bbox)
            reasons[fit.reason] += 1
            if fit.ok:
                x0, y0, x1, y1 = inst.bbox
                area_ratio.append(fit.rbox[2] * fit.rbox[3] / max((x1 - x0) * (y1 - y0), 1e-9))
    total = sum(reasons.values())
    print(f"Taichung, {len(xmls)} images, {total} boxes: failure rate {1 - reasons[FIT_OK] / total:.2%} "
          f"({dict(reasons)}); refined/VOC box area median {np.median(area_ratio):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--synth-images", type=int, default=10)
    parser.add_argument("--synth-size", type=int, default=1024)
    parser.add_argument("--margin", type=float, default=0.1)
    parser.add_argument("--taichung", default=os.environ.get("KARYOSTUDIO_TAICHUNG", "/work/shared/data/taichung"))
    parser.add_argument("--taichung-images", type=int, default=400)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    synthetic(args.synth_images, args.synth_size, args.margin)
    if (Path(args.taichung) / "annotations").is_dir():
        taichung(Path(args.taichung), args.taichung_images)
    else:
        print(f"Taichung data not found at {args.taichung}; skipped")


if __name__ == "__main__":
    main()
