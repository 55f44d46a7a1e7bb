"""Run the default model's parts on the Taichung validation split and keep their raw outputs.

For every validation cell this stores, in one compressed .npz per run, what the default pipeline
computes before its decisions: the detector's boxes and scores down to a low floor (below the
shipped threshold), the bounding box of the outline traced in each box, the classifier's
24-class log-probabilities and its "no chromosome" probability, and the annotated boxes and
classes. ``benchmarks/analyse_default_errors.py`` reads the file to break the pipeline's errors
down by kind and to compare decision rules (detector threshold, reject level, assignment, sex
decision) without running the networks again.

``--split train --every K`` dumps every K-th cell of the training patients instead, so that a
decision rule's settings can be fit on cells that are not the validation split (the networks
have seen these cells in training, so their outputs there are a little more confident).

Usage:
  python benchmarks/dump_default_parts.py --out parts.npz [--model NAME] [--floor 0.05] [--limit N]
      [--split validation|train] [--every K]
Data: Taichung metaphase dataset (Tseng et al., Scientific Data 10, 104, 2023; CC BY 4.0).
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.bench_default_pipeline import DEFAULT_DATA, _TRAIN_DEFAULTS, normal_ids
from karyostudio.core.classes import class_index
from karyostudio.io.atomic import atomic_write_bytes
from karyostudio.io.images import read_image
from karyostudio.io.voc import read_voc
from karyostudio.metrics.ap import box_xywh
from karyostudio.models.centernet.outlines import edge_width, instances_from_detections
from karyostudio.models.registry import DEFAULT_MODEL, load_predictor
from karyostudio.training.classifier_data import list_image_ids, split_by_patient


def dump_ids(root: Path, split: str, every: int) -> list[str]:
    """The cells to dump: the validation split, or every ``every``-th cell of the training patients."""
    train, val = split_by_patient(list_image_ids(root), _TRAIN_DEFAULTS["val_fraction"], _TRAIN_DEFAULTS["seed"])
    return (val if split == "validation" else sorted(train))[::every]


def dump(root: Path, model: str, floor: float, limit: int | None, split: str = "validation",
         every: int = 1) -> dict[str, np.ndarray]:
    ids = dump_ids(root, split, every)[:limit]
    normal = normal_ids(root)
    pipeline = load_predictor(model)
    if getattr(pipeline, "detector", None) is None:
        raise SystemExit(f"model {model!r} has no detector; nothing to dump")
    columns: dict[str, list] = {k: [] for k in (
        "cell", "det_box", "det_score", "outline_box", "log_probs", "reject", "gt_cell", "gt_box", "gt_class")}
    cells, is_normal, seconds = [], [], []
    for n, image_id in enumerate(ids):
        gt = read_voc(root / "annotations" / f"{image_id}.xml", image_dirs=[root / "JEPG"])
        image = read_image(gt.image_path)
        start = time.perf_counter()
        result = pipeline.detector.detect(image, score_floor=floor)
        instances = instances_from_detections(image, result.detections, source="dump",
                                              edge_px=edge_width(result.scale))
        boxes = result.detections.boxes
        log_probs, reject = pipeline.read_detections(image, list(boxes))
        seconds.append(time.perf_counter() - start)
        xywh = box_xywh([i.polygon for i in instances]) if instances else np.zeros((0, 4))
        columns["cell"].append(np.full(len(boxes), n))
        columns["det_box"].append(boxes.reshape(-1, 4))
        columns["det_score"].append(result.detections.scores)
        columns["outline_box"].append(np.asarray(xywh, np.float64).reshape(-1, 4))
        columns["log_probs"].append(np.asarray(log_probs, np.float32).reshape(-1, 24))
        columns["reject"].append(np.asarray(reject, np.float64))
        columns["gt_cell"].append(np.full(len(gt.instances), n))
        columns["gt_box"].append(np.asarray(box_xywh([g.polygon for g in gt.instances]), np.float64).reshape(-1, 4))
        columns["gt_class"].append(np.array([class_index(g.label) for g in gt.instances], np.int64))
        cells.append(image_id)
        is_normal.append(image_id in normal)
        print(f"[{n + 1}/{len(ids)}] {image_id}: {len(boxes)} boxes >= {floor}, {len(gt.instances)} annotated, "
              f"{seconds[-1]:.2f} s", file=sys.stderr)
    out = {k: np.concatenate(v) for k, v in columns.items()}
    out.update(cell_ids=np.array(cells), cell_normal=np.array(is_normal), seconds=np.array(seconds),
               floor=np.array(floor), model=np.array(str(model)), split=np.array(split))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--floor", type=float, default=0.05, help="lowest detector score kept")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--split", choices=["validation", "train"], default="validation")
    parser.add_argument("--every", type=int, default=1, help="keep every K-th cell of the split")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.every < 1:
        parser.error("--every must be at least 1")
    parts = dump(args.data, args.model, args.floor, args.limit, args.split, args.every)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **parts)
    atomic_write_bytes(args.out, buffer.getvalue())
    print(f"{len(parts['cell_ids'])} cells, {len(parts['det_score'])} boxes -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
