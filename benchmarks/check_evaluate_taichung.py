"""`karyostudio evaluate` on the real Taichung annotations, checked against pycocotools.

1. GT against itself: box mAP@50 must be 1.0.
2. GT against perturbed copies (jittered boxes, dropped and duplicated boxes, wrong classes, random
   scores), written as a COCO instances file + a COCO results file: per-class AP@50 and mAP@50 from
   `karyostudio evaluate` must agree with pycocotools' COCOeval on the same two files.

Usage: .venv/bin/python benchmarks/check_evaluate_taichung.py [--data ../shared/data/taichung] [--limit N]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from karyostudio.cli import main as cli_main
from karyostudio.core.annotated_image import AnnotationSet, ImageAnnotations
from karyostudio.core.classes import CLASS_NAMES
from karyostudio.io.coco import coco_image_ids, write_coco
from karyostudio.io.coco_results import write_coco_results
from karyostudio.io.voc import read_voc_dir

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "taichung"


def perturb(gt: AnnotationSet, seed: int) -> AnnotationSet:
    """Predictions that look like a decent detector's: jitter, misses, duplicates, confusions, scores."""
    rng = np.random.default_rng(seed)
    out: AnnotationSet = {}
    for key, ann in gt.items():
        preds = []
        for inst in ann.instances:
            if rng.random() < 0.08:
                continue  # missed
            copies = 2 if rng.random() < 0.05 else 1  # duplicate detections
            for _ in range(copies):
                x0, y0, x1, y1 = inst.bbox
                w, h = x1 - x0, y1 - y0
                d = rng.normal(0, 0.12, 4) * [w, h, w, h]
                box = np.array([[x0 + d[0], y0 + d[1]], [x1 + d[2], y0 + d[1]], [x1 + d[2], y1 + d[3]],
                                [x0 + d[0], y1 + d[3]]])
                label = inst.label if rng.random() > 0.12 else str(rng.choice(CLASS_NAMES))
                preds.append(inst.with_(id=len(preds) + 1, polygon=box, label=label,
                                        score=float(np.round(rng.random(), 2))))
        out[key] = ImageAnnotations(key=key, instances=preds, image_size=ann.image_size,
                                    image_path=ann.image_path)
    return out


def run_cli(args: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
        out = Path(tmp) / "result.json"
        code = cli_main(["evaluate", *args, "--json", str(out)])
        if code != 0:
            raise SystemExit(f"karyostudio evaluate failed with exit code {code}")
        return json.loads(out.read_text())


def pycocotools_ap(gt_file: Path, res_file: Path) -> dict[str, float]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(str(gt_file))
        coco_dt = coco_gt.loadRes(str(res_file))
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.params.iouThrs = np.array([0.5])
        ev.params.maxDets = [100]
        ev.params.areaRng = [[0, 1e10]]
        ev.params.areaRngLbl = ["all"]
        ev.evaluate()
        ev.accumulate()
    precision = ev.eval["precision"][0, :, :, 0, 0]  # (recall, class)
    result = {}
    for k, cat_id in enumerate(ev.params.catIds):
        p = precision[:, k]
        if (p > -1).any():
            result[coco_gt.cats[cat_id]["name"]] = float(p[p > -1].mean())
    return result


def check(data: Path, limit: int | None, seed: int = 0) -> dict:
    gt = read_voc_dir(data)
    if limit:
        gt = {k: gt[k] for k in sorted(gt)[:limit]}
    with tempfile.TemporaryDirectory() as tmp:
        gt_file, res_file = Path(tmp) / "gt.json", Path(tmp) / "pred.json"
        ids = coco_image_ids(gt)
        write_coco(gt_file, gt, image_ids=ids)
        self_result = run_cli(["--gt", str(gt_file), "--pred", str(gt_file)])
        write_coco_results(res_file, perturb(gt, seed), ids)
        ours = run_cli(["--gt", str(gt_file), "--pred", str(res_file)])
        ref = pycocotools_ap(gt_file, res_file)
    per_class = ours["box_ap"]["per_class"]
    diffs = {name: abs(per_class[name] - ap) for name, ap in ref.items()}
    return {
        "images": len(gt),
        "self_map50": self_result["box_ap"]["mean"],
        "perturbed_map50": ours["box_ap"]["mean"],
        "pycocotools_map50": float(np.mean(list(ref.values()))),
        "max_per_class_difference": max(diffs.values()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--limit", type=int, default=None, help="use only the first N images")
    args = parser.parse_args()
    result = check(args.data, args.limit)
    print(json.dumps(result, indent=2))
    ok = result["self_map50"] > 1 - 1e-9 and result["max_per_class_difference"] <= 1e-3
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
