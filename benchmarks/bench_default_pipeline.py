"""Benchmark a predictor (default: default-cpu) on the Taichung validation split.

The split is the classifier's own: patients (image id without its last digit) shuffled with the
training seed and the training validation fraction held out
(karyostudio.training.classifier_data.split_by_patient, defaults of ClassifierSettings and TrainConfig), so
the numbers are on cells whose patients the classifier never saw. Taichung has boxes only, so
segmentation is judged through the boxes of the predicted outlines.

Reported:
  - box mAP@50 over the 24 classes (karyostudio.metrics.evaluate.evaluate_annotations, COCO rules);
  - detection recall / precision and classification accuracy of matched instances: predictions
    and ground truth paired one-to-one by box IoU >= 0.5 (class-agnostic, in score order);
  - on normal cells (normal.csv): exact-count rate (predicted instances == annotated objects)
    and karyotype accuracy (predicted ISCN string == annotated one);
  - sex chromosomes right (the X and Y count of the prediction equals the annotated one), all cells;
    and, for predictors that decide it (the default pipeline's joint assignment), the sex decision
    XX / XY against the annotation (XY when a Y is annotated), on all cells and on the cells
    annotated with exactly XX or XY (not 45,X, XXY, ...);
  - median and 90th-percentile seconds per image (reading + prediction), peak RSS memory;
  - DeepCHM's detection metrics at skew-IoU 0.5 (AP, precision, recall, F1 at the F1-best score
    threshold, mFPs, mOD). Taichung's truth is axis-aligned boxes: with --rotated-gt-from-image
    they are refined to rotated boxes on the images first (as `karyostudio evaluate` does), which
    is the fair comparison for rotated detectors.

Usage:
  python benchmarks/bench_default_pipeline.py [--model NAME|PATH] [--limit N] [--rotated-gt-from-image]
                                              [--split-clusters [SPLITTER]] [--json out.json]
Data on Taichung: J.-J. Tseng et al., Scientific Data 10, 104 (2023), CC BY 4.0.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

from karyostudio.core.annotated_image import ImageAnnotations
from karyostudio.core.karyotype import karyotype_string
from karyostudio.io.atomic import atomic_write_text
from karyostudio.io.images import image_key, read_image
from karyostudio.io.voc import read_voc
from karyostudio.metrics.ap import box_xywh, coco_box_iou
from karyostudio.metrics.evaluate import evaluate_annotations
from karyostudio.metrics.matching import greedy_match, score_order
from karyostudio.models.base import prediction_karyotype
from karyostudio.models.manifest import ManifestError
from karyostudio.models.registry import DEFAULT_MODEL, DeviceUnavailableError, UnknownModelError, load_predictor
from karyostudio.training.classifier_data import list_image_ids, split_by_patient
from karyostudio.training.classifier_settings import ClassifierSettings
from karyostudio.training.config import TrainConfig

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("KARYOSTUDIO_SHARED_DATA", REPO.parent / "shared" / "data")) / "taichung"
# The classifier's training split: its default validation fraction and the configs' default seed.
_TRAIN_DEFAULTS = {"val_fraction": ClassifierSettings().val_fraction, "seed": TrainConfig().seed}


def validation_ids(root: Path, val_fraction: float, seed: int) -> list[str]:
    _, val = split_by_patient(list_image_ids(root), val_fraction, seed)
    return val


def normal_ids(root: Path) -> set[str]:
    with open(root / "normal.csv", newline="") as f:
        return {image_key(row["filename"]) for row in csv.DictReader(f)}


def match_stats(gt: ImageAnnotations, pred: ImageAnnotations) -> tuple[int, int]:
    """(matched pairs, pairs with the right class), class-agnostic box IoU >= 0.5 in score order."""
    order = score_order(np.array([1.0 if i.score is None else i.score for i in pred.instances]))
    preds = [pred.instances[k] for k in order]
    iou = coco_box_iou(box_xywh([p.polygon for p in preds]), box_xywh([g.polygon for g in gt.instances]))
    match = greedy_match(iou, 0.5)
    pairs = [(preds[d], gt.instances[g]) for d, g in enumerate(match) if g >= 0]
    return len(pairs), sum(p.label == g.label for p, g in pairs)


def sex_chromosomes(labels) -> str:
    """The cell's sex chromosomes as ISCN writes them ("XX", "XY", "X", "XXY", ...)."""
    labels = list(labels)
    return "X" * labels.count("X") + "Y" * labels.count("Y")


def run(root: Path, model: str, device: str, limit: int | None, val_fraction: float, seed: int,
        rotated_gt_from_image: bool = False, split_clusters: str | None = None) -> dict:
    ids = validation_ids(root, val_fraction, seed)
    if limit is not None:
        ids = ids[:limit]
    normal = normal_ids(root)
    predictor = load_predictor(model, device=device)
    if split_clusters is not None:
        from karyostudio.models.overlap.stage import with_splitter

        predictor = with_splitter(predictor, split_clusters, device)
    gt_set, pred_set, seconds = {}, {}, []
    matched = correct = 0
    count_ok, karyotype_ok, sex_ok, decision_ok, decision_ok_plain = [], [], [], [], []
    for n, image_id in enumerate(ids, start=1):
        gt = read_voc(root / "annotations" / f"{image_id}.xml", image_dirs=[root / "JEPG"])
        start = time.perf_counter()
        image = read_image(gt.image_path)
        if hasattr(predictor, "predict_cell"):
            cell = predictor.predict_cell(image)
            instances = cell.instances
            truth = "XY" if any(i.label == "Y" for i in gt.instances) else "XX"
            decision_ok.append(cell.sex_hypothesis == truth)
            if sex_chromosomes(i.label for i in gt.instances) in ("XX", "XY"):  # not 45,X / XXY / ...
                decision_ok_plain.append(cell.sex_hypothesis == truth)
        else:
            instances = predictor.predict(image)
        seconds.append(time.perf_counter() - start)
        pred = ImageAnnotations(key=gt.key, instances=instances, image_size=gt.image_size)
        gt_set[gt.key], pred_set[gt.key] = gt, pred
        m, c = match_stats(gt, pred)
        sex_ok.append(sex_chromosomes(i.label for i in instances) == sex_chromosomes(i.label for i in gt.instances))
        matched, correct = matched + m, correct + c
        if image_id in normal:
            count_ok.append(len(instances) == len(gt.instances))
            karyotype_ok.append(prediction_karyotype(instances) == karyotype_string(i.label for i in gt.instances))
        print(f"[{n}/{len(ids)}] {image_id}: {len(instances)} predicted, {len(gt.instances)} annotated, "
              f"{seconds[-1]:.2f} s", file=sys.stderr)
    fits = None
    if rotated_gt_from_image:
        from karyostudio.models.rotated.ground_truth import refine_box_ground_truth
        gt_set, fits = refine_box_ground_truth(gt_set)
    evaluation = evaluate_annotations(gt_set, pred_set)
    detection = evaluation["detection"]
    n_gt = sum(len(a.instances) for a in gt_set.values())
    n_pred = sum(len(a.instances) for a in pred_set.values())
    return {
        "model": model, "split_clusters": split_clusters, "device": device, "data": str(root),
        "split": {"val_fraction": val_fraction, "seed": seed, "images": len(ids), "normal_images": len(count_ok)},
        "box_map50": evaluation["box_ap"]["mean"],
        "box_ap50_class_agnostic": evaluation["box_ap_class_agnostic"],
        "detection_recall": matched / n_gt if n_gt else None,
        "detection_precision": matched / n_pred if n_pred else None,
        "classification_accuracy_matched": correct / matched if matched else None,
        "normal_exact_count_rate": float(np.mean(count_ok)) if count_ok else None,
        "normal_karyotype_accuracy": float(np.mean(karyotype_ok)) if karyotype_ok else None,
        "sex_correct_rate": float(np.mean(sex_ok)) if sex_ok else None,
        "sex_decision_correct_rate": float(np.mean(decision_ok)) if decision_ok else None,
        "sex_decision_correct_rate_annotated_xx_or_xy": float(np.mean(decision_ok_plain)) if decision_ok_plain else None,
        "seconds_per_image_median": float(np.median(seconds)) if seconds else None,
        "seconds_per_image_p90": float(np.percentile(seconds, 90)) if seconds else None,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,  # KiB on Linux
        "skew_ap50": detection["ap"], "skew_precision": detection["precision"], "skew_recall": detection["recall"],
        "skew_f1": detection["f1"], "skew_mfps": detection["mfps"], "skew_mod": detection["mod"],
        "rotated_gt": "refined on the images" if rotated_gt_from_image else "axis boxes",
        "rotated_gt_fits": fits,
        "instances": {"gt": n_gt, "pred": n_pred, "matched": matched},
        "evaluation": evaluation,
    }


def print_table(result: dict) -> None:
    rows = [(k, result[k]) for k in (
        "box_map50", "box_ap50_class_agnostic", "detection_recall", "detection_precision",
        "classification_accuracy_matched", "normal_exact_count_rate", "normal_karyotype_accuracy", "sex_correct_rate",
        "sex_decision_correct_rate", "sex_decision_correct_rate_annotated_xx_or_xy",
        "seconds_per_image_median", "seconds_per_image_p90", "peak_rss_mib",
        "skew_ap50", "skew_precision", "skew_recall", "skew_f1", "skew_mfps", "skew_mod")]
    split = result["split"]
    print(f"model {result['model']}{' + splitter ' + result['split_clusters'] if result['split_clusters'] else ''} on {split['images']} validation image(s) "
          f"({split['normal_images']} normal), device {result['device']}; skew-IoU truth: {result['rotated_gt']}")
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"  {key.ljust(width)}  {'-' if value is None else f'{value:.3f}'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="Taichung root (annotations/, JEPG/)")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="model name or manifest/weights path")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--limit", type=int, default=None, help="only the first N validation images")
    parser.add_argument("--val-fraction", type=float, default=_TRAIN_DEFAULTS["val_fraction"])
    parser.add_argument("--seed", type=int, default=_TRAIN_DEFAULTS["seed"])
    parser.add_argument("--rotated-gt-from-image", action="store_true",
                        help="refine the VOC boxes to rotated boxes on the images for the skew-IoU metrics")
    parser.add_argument("--split-clusters", nargs="?", const="chromseg-cpu", default=None, metavar="SPLITTER",
                        help="split crossing clusters with a ChromSeg splitter (default chromseg-cpu)")
    parser.add_argument("--json", type=Path, default=None, help="also write the full results here")
    args = parser.parse_args(argv)
    if not (args.data / "annotations").is_dir():
        print(f"Taichung data not found at {args.data} (use --data)", file=sys.stderr)
        return 2
    try:
        result = run(args.data, args.model, args.device, args.limit, args.val_fraction, args.seed,
                     rotated_gt_from_image=args.rotated_gt_from_image, split_clusters=args.split_clusters)
    except (UnknownModelError, ManifestError, DeviceUnavailableError) as exc:
        print(f"cannot load model {args.model!r}: {exc}", file=sys.stderr)
        return 2
    print_table(result)
    if args.json is not None:
        atomic_write_text(args.json, json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
