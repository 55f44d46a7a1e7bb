"""Fit the piece model of the classic segmenter on metaphases annotated with one box per chromosome.

Every component of an image, and the pieces of its most convincing candidate cuts (two levels
deep), becomes a training sample. Its outcome comes from the annotated boxes:
  - single: its box (grown like the final outline) overlaps an annotated box with IoU >= 0.5;
  - debris: less than 30 % of its pixels lie in any annotated box;
  - cluster: it holds two or more annotated boxes (each at least 60 % inside its box);
  - fragment: anything else, i.e. part of a chromosome.

Usage (writes karyostudio/models/classic/seg_piece_weights.py):
  python -m karyostudio.models.classic.seg_fit --data ../shared/data/taichung --every 12 --start 7
Ids whose position in train.txt is a multiple of 20 are never used, so the default benchmark
subset (benchmarks/bench_classic_segment.py --step 20) stays unseen.
"""

from __future__ import annotations

import argparse
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np

from karyostudio.io.atomic import atomic_write_text
from karyostudio.models.classic.seg_cuts import apply_cut, candidate_cuts
from karyostudio.models.classic.seg_piece_features import NUM_FEATURES, CutContext, piece_features
from karyostudio.models.classic.seg_piece_model import CLUSTER, DEBRIS, FRAGMENT, OUTCOMES, SINGLE, fit_piece_model
from karyostudio.models.classic.segment import SegmentParams, component_windows, find_components
from karyostudio.models.classic.separate import contact_length, crop_to_content, cut_contexts

WEIGHTS_MODULE = Path(__file__).with_name("seg_piece_weights.py")
HELD_OUT_STEP = 20  # ids at multiples of this position are the benchmark's


def read_voc_boxes(path: Path) -> np.ndarray:
    """Pixel-edge (xmin, ymin, xmax, ymax) boxes of a Pascal VOC file (1-based inclusive indices)."""
    root = ET.parse(path).getroot()
    boxes = [[float(o.find("bndbox").find(k).text) for k in ("xmin", "ymin", "xmax", "ymax")]
             for o in root.findall("object")]
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    b[:, :2] -= 1.0
    return b


def label_piece(mask: np.ndarray, x0: int, y0: int, margin: float, shape: tuple[int, int],
                gt: np.ndarray) -> int:
    """Outcome of a window mask at (x0, y0) against annotated boxes (see module docstring)."""
    ys, xs = np.nonzero(mask)
    box = np.array([max(0.0, x0 + xs.min() - margin), max(0.0, y0 + ys.min() - margin),
                    min(shape[1], x0 + xs.max() + 1 + margin), min(shape[0], y0 + ys.max() + 1 + margin)])
    if len(gt) == 0:
        return DEBRIS
    iw = np.clip(np.minimum(box[2], gt[:, 2]) - np.maximum(box[0], gt[:, 0]), 0, None)
    ih = np.clip(np.minimum(box[3], gt[:, 3]) - np.maximum(box[1], gt[:, 1]), 0, None)
    inter = iw * ih
    area_gt = (gt[:, 2] - gt[:, 0]) * (gt[:, 3] - gt[:, 1])
    area_box = (box[2] - box[0]) * (box[3] - box[1])
    iou = inter / np.maximum(area_box + area_gt - inter, 1e-9)
    if iou.max() >= 0.5:
        return SINGLE
    px, py = x0 + xs + 0.5, y0 + ys + 0.5
    inside = np.zeros(len(xs), dtype=bool)
    for g in gt:
        inside |= (px >= g[0]) & (px < g[2]) & (py >= g[1]) & (py < g[3])
    if inside.mean() < 0.3:
        return DEBRIS
    if int((inter / np.maximum(area_gt, 1e-9) >= 0.6).sum()) >= 2:
        return CLUSTER
    return FRAGMENT


def collect_samples(image: np.ndarray, gt: np.ndarray, params: SegmentParams,
                    cuts_per_level: tuple[int, ...] = (6, 3)) -> tuple[np.ndarray, np.ndarray]:
    """Features and outcomes of every component and of its candidate-cut pieces."""
    fg = find_components(image, params)
    if fg is None:
        return np.zeros((0, NUM_FEATURES)), np.zeros(0, dtype=int)
    width = fg.cell.width
    margin = params.grow_w * width
    min_piece = params.search.min_piece_w2 * width ** 2
    feats, outcomes = [], []
    for c in fg.components:
        dark, border = component_windows(fg, c)

        def visit(mask: np.ndarray, oy: int, ox: int, level: int, made_by: CutContext | None) -> None:
            h, w = mask.shape
            region = np.s_[oy:oy + h, ox:ox + w]
            f, info = piece_features(mask, dark[region], border[region] if border is not None else None,
                                     fg.cell, contact_length(mask, c.mask[region]), made_by)
            feats.append(f)
            outcomes.append(label_piece(mask, c.x0 + ox, c.y0 + oy, margin, image.shape, gt))
            if level >= len(cuts_per_level):
                return
            for cut in candidate_cuts(mask, width, params.cuts, info.crossings)[:cuts_per_level[level]]:
                parts = apply_cut(mask, cut, min_piece)
                if len(parts) >= 2:
                    for part, context in zip(parts, cut_contexts(parts, cut)):
                        visit(*crop_to_content(part, oy, ox), level + 1, context)

        visit(*crop_to_content(c.mask), 0, None)
    return np.asarray(feats).reshape(-1, NUM_FEATURES), np.asarray(outcomes, dtype=int)


def _literal(value) -> str:
    """Python literal of nested lists of numbers, rounded to 7 significant digits, one row per line."""
    if isinstance(value, list) and value and isinstance(value[0], list):
        return "[\n" + "".join(f"        {_literal(row)},\n" for row in value) + "    ]"
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:.7g}"
    return json.dumps(value)


def write_weights(weights: dict, path: Path, note: str) -> None:
    body = "".join(f"    {json.dumps(k)}: {_literal(v)},\n" for k, v in weights.items())
    text = ('"""Weights of the classic segmenter\'s piece model (generated by seg_fit; do not edit).\n\n'
            f'{note}\n"""\n\nWEIGHTS = {{\n{body}}}\n')
    atomic_write_text(path, text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Fit the classic segmenter's piece model on VOC-annotated metaphases.")
    ap.add_argument("--data", type=Path, required=True, help="folder with JEPG/, annotations/, train.txt")
    ap.add_argument("--every", type=int, default=12, help="use every EVERY-th id of train.txt ...")
    ap.add_argument("--start", type=int, default=7, help="... starting at this position")
    ap.add_argument("--samples", type=Path, default=None, help="cache of collected samples (.npz)")
    ap.add_argument("--l2", type=float, default=1e-3)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--out", type=Path, default=WEIGHTS_MODULE)
    args = ap.parse_args(argv)

    if args.samples is not None and args.samples.is_file():
        cached = np.load(args.samples)
        x, y, n_images = cached["x"], cached["y"], int(cached["images"])
    else:
        ids = (args.data / "train.txt").read_text().split()
        positions = [k for k in range(args.start, len(ids), args.every) if k % HELD_OUT_STEP != 0]
        params = SegmentParams()
        xs, ys = [], []
        for n, k in enumerate(positions):
            image = cv2.imread(str(args.data / "JEPG" / f"{ids[k]}.jpg"), cv2.IMREAD_GRAYSCALE)
            if image is None:
                continue
            gt = read_voc_boxes(args.data / "annotations" / f"{ids[k]}.xml")
            f, o = collect_samples(image, gt, params)
            xs.append(f)
            ys.append(o)
            print(f"\r{n + 1}/{len(positions)} images", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        x, y, n_images = np.concatenate(xs), np.concatenate(ys), len(positions)
        if args.samples is not None:
            np.savez_compressed(args.samples, x=x, y=y, images=n_images)
    model = fit_piece_model(x, y, hidden=args.hidden, l2=args.l2)
    pred = model.probabilities(x).argmax(axis=1)
    counts = np.bincount(y, minlength=len(OUTCOMES))
    print("samples per outcome:", dict(zip(OUTCOMES, counts.tolist())))
    print(f"training accuracy: {float((pred == y).mean()):.3f}")
    write_weights(model.to_dict(), args.out,
                  f"Fitted on {len(y)} pieces from {n_images} Taichung metaphases (every {args.every}th id "
                  f"from position {args.start}; {args.hidden} hidden units, l2={args.l2}).\n"
                  "Data: Tseng et al., Scientific Data 10, 104 (2023), CC BY 4.0.")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
