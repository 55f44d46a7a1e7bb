"""Benchmark the classic segmenter against the Taichung VOC boxes (class-agnostic).

Runs karyostudio.models.classic.segment.segment_metaphase on a fixed subset of the Taichung
train ids (every --step-th id, starting at --offset) and reports:
  - box AP@50 of the instances' axis-aligned boxes vs the VOC boxes (pycocotools, one class),
    ranked by the instances' "seg_score" attribute (the piece model's P(single chromosome));
  - recall and precision at IoU 0.5 (one-to-one matching in descending IoU order);
  - fraction of images whose instance count equals the annotated count, mean |count error|;
  - median and 90th-percentile seconds per image (segmentation only, not image reading);
  - fraction of annotated chromosomes that lie in an instance flagged as a cluster.

Example:
  .venv/bin/python benchmarks/bench_classic_segment.py --step 20
  .venv/bin/python benchmarks/bench_classic_segment.py --step 40 --param low_factor=0.5 --overlays /tmp/ov

Data: Tseng et al., "An Open Dataset of Annotated Metaphase Cell Images for Chromosome
Identification", Scientific Data 10, 104 (2023), CC BY 4.0.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import os
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np

from karyostudio.models.classic.seg_cuts import CutRules
from karyostudio.models.classic.segment import SegmentParams, segment_metaphase
from karyostudio.models.classic.separate import SearchRules

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("KARYOSTUDIO_SHARED_DATA", REPO.parent / "shared" / "data")) / "taichung"


def read_voc_boxes(path: Path) -> np.ndarray:
    """VOC boxes as pixel-edge (xmin, ymin, xmax, ymax): VOC pixel indices are 1-based, inclusive."""
    root = ET.parse(path).getroot()
    boxes = []
    for obj in root.findall("object"):
        bb = obj.find("bndbox")
        x0, y0, x1, y1 = (float(bb.find(k).text) for k in ("xmin", "ymin", "xmax", "ymax"))
        boxes.append((x0 - 1.0, y0 - 1.0, x1, y1))
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix of boxes a (N x 4) and b (M x 4), both (xmin, ymin, xmax, ymax)."""
    ix = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = ix * iy
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def match_count(iou: np.ndarray, thr: float = 0.5) -> int:
    """Size of the one-to-one matching taken in descending IoU order (IoU >= thr)."""
    if iou.size == 0:
        return 0
    pairs = np.argwhere(iou >= thr)
    order = np.argsort(-iou[pairs[:, 0], pairs[:, 1]], kind="stable")
    used_p, used_g, n = set(), set(), 0
    for p, g in pairs[order]:
        if p not in used_p and g not in used_g:
            used_p.add(p)
            used_g.add(g)
            n += 1
    return n


def coco_ap50(gts: list[np.ndarray], preds: list[np.ndarray], scores: list[np.ndarray]) -> float:
    """Class-agnostic box AP at IoU 0.5 with pycocotools."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images, anns, dets = [], [], []
    for i, (g, p, s) in enumerate(zip(gts, preds, scores)):
        images.append({"id": i})
        for b in g:
            w, h = b[2] - b[0], b[3] - b[1]
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": 1, "bbox": [b[0], b[1], w, h],
                         "area": w * h, "iscrowd": 0})
        for b, sc in zip(p, s):
            dets.append({"image_id": i, "category_id": 1, "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]],
                         "score": float(sc)})
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "chromosome"}]}
        gt.createIndex()
        dt = gt.loadRes(dets) if dets else COCO()
        ev = COCOeval(gt, dt, "bbox")
        ev.params.iouThrs = np.array([0.5])
        ev.params.maxDets = [1000]
        ev.params.areaRng = [[0, 1e10]]
        ev.params.areaRngLbl = ["all"]
        ev.evaluate()
        ev.accumulate()
    prec = ev.eval["precision"][0, :, 0, 0, 0]
    return float(np.mean(prec[prec > -1])) if np.any(prec > -1) else 0.0


def cluster_gt_fraction(gt: np.ndarray, boxes: np.ndarray, cluster: np.ndarray) -> int:
    """Annotated chromosomes whose box lies mostly (>= 70 %) inside a cluster instance's box."""
    if len(gt) == 0 or not cluster.any():
        return 0
    cb = boxes[cluster]
    ix = np.clip(np.minimum(gt[:, None, 2], cb[None, :, 2]) - np.maximum(gt[:, None, 0], cb[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(gt[:, None, 3], cb[None, :, 3]) - np.maximum(gt[:, None, 1], cb[None, :, 1]), 0, None)
    area = (gt[:, 2] - gt[:, 0]) * (gt[:, 3] - gt[:, 1])
    return int(((ix * iy) / np.maximum(area[:, None], 1e-9) >= 0.7).any(axis=1).sum())


def draw_overlay(image: np.ndarray, gt: np.ndarray, instances, path: Path) -> None:
    vis = cv2.cvtColor((image // 257).astype(np.uint8) if image.dtype == np.uint16 else image, cv2.COLOR_GRAY2BGR)
    for b in gt:
        cv2.rectangle(vis, (int(b[0]), int(b[1])), (int(b[2]) - 1, int(b[3]) - 1), (0, 170, 0), 1)
    for inst in instances:
        color = (255, 0, 255) if inst.attributes.get("cluster") else (0, 0, 255)
        cv2.polylines(vis, [np.round(inst.polygon).astype(np.int32)], True, color, 1)
    cv2.imwrite(str(path), vis)


def parse_param(text: str) -> tuple[str, float]:
    """NAME=VALUE for a SegmentParams field, or cuts.NAME / search.NAME for the nested rules."""
    key, _, value = text.partition("=")
    group, _, name = key.rpartition(".")
    owner = {"": SegmentParams, "cuts": CutRules, "search": SearchRules}.get(group)
    names = {f.name for f in dataclasses.fields(owner)} if owner else set()
    if name not in names or not value:
        raise argparse.ArgumentTypeError(f"unknown parameter {key!r}")
    return key, float(value)


def build_params(overrides: list[tuple[str, float]]) -> SegmentParams:
    def replaced(obj, values: dict):  # cast to each field's own type (ints stay ints)
        return dataclasses.replace(obj, **{k: type(getattr(obj, k))(v) for k, v in values.items()})

    base = SegmentParams()
    nested = {group: replaced(getattr(base, group), {k.split(".", 1)[1]: v for k, v in overrides
                                                     if k.startswith(group + ".")})
              for group in ("cuts", "search")}
    return dataclasses.replace(replaced(base, {k: v for k, v in overrides if "." not in k}), **nested)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="Taichung folder (JEPG/, annotations/, train.txt)")
    ap.add_argument("--step", type=int, default=20, help="use every STEP-th id of train.txt")
    ap.add_argument("--offset", type=int, default=0, help="first id index")
    ap.add_argument("--n", type=int, default=None, help="at most N images")
    ap.add_argument("--param", type=parse_param, action="append", default=[], help="override a SegmentParams field")
    ap.add_argument("--overlays", type=Path, default=None, help="write outline overlays (PNG) here")
    ap.add_argument("--json", type=Path, default=None, help="write the summary and per-image rows here")
    args = ap.parse_args(argv)

    ids_file = args.data / "train.txt"
    if not ids_file.is_file():
        print(f"Taichung data not found at {args.data}", file=sys.stderr)
        return 2
    ids = ids_file.read_text().split()[args.offset::args.step][:args.n]
    params = build_params(args.param)
    if args.overlays:
        args.overlays.mkdir(parents=True, exist_ok=True)

    gts, preds, scores, rows = [], [], [], []
    for k, image_id in enumerate(ids):
        image = cv2.imread(str(args.data / "JEPG" / f"{image_id}.jpg"), cv2.IMREAD_GRAYSCALE)
        gt = read_voc_boxes(args.data / "annotations" / f"{image_id}.xml")
        t0 = time.perf_counter()
        instances = segment_metaphase(image, params=params)
        seconds = time.perf_counter() - t0
        boxes = np.asarray([inst.bbox for inst in instances], dtype=np.float64).reshape(-1, 4)
        cluster = np.asarray([bool(inst.attributes.get("cluster")) for inst in instances], dtype=bool)
        gts.append(gt)
        preds.append(boxes)
        scores.append(np.array([inst.attributes.get("seg_score", 1.0) for inst in instances]))
        rows.append({"id": image_id, "gt": len(gt), "pred": len(instances), "clusters": int(cluster.sum()),
                     "matched": match_count(box_iou(boxes, gt)), "seconds": seconds,
                     "gt_in_cluster": cluster_gt_fraction(gt, boxes, cluster)})
        if args.overlays:
            draw_overlay(image, gt, instances, args.overlays / f"{image_id}.png")
        print(f"\r{k + 1}/{len(ids)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)

    n_gt = sum(r["gt"] for r in rows)
    n_pred = sum(r["pred"] for r in rows)
    n_match = sum(r["matched"] for r in rows)
    secs = np.array([r["seconds"] for r in rows])
    err = np.array([r["pred"] - r["gt"] for r in rows])
    summary = {
        "images": len(rows),
        "ap50": coco_ap50(gts, preds, scores),
        "recall50": n_match / max(n_gt, 1),
        "precision50": n_match / max(n_pred, 1),
        "exact_count": float(np.mean(err == 0)),
        "mean_abs_count_error": float(np.mean(np.abs(err))),
        "mean_count_error": float(np.mean(err)),
        "median_seconds": float(np.median(secs)),
        "p90_seconds": float(np.percentile(secs, 90)),
        "gt_in_cluster": sum(r["gt_in_cluster"] for r in rows) / max(n_gt, 1),
        "params": dataclasses.asdict(params),
        "ids": f"train.txt[{args.offset}::{args.step}][:{args.n}]",
    }
    for key, value in summary.items():
        if key != "params":
            print(f"{key:>22}: {value:.4f}" if isinstance(value, float) else f"{key:>22}: {value}")
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
