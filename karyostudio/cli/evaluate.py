"""`karyostudio evaluate --gt PATH --pred PATH [--iou 0.5] [--json OUT]`: score predictions.

Both sides may be any annotation format karyostudio reads (labelme file or folder, Pascal
VOC file, folder or tree, COCO instances file, COCO results file). A COCO results file
names images by COCO id: the ids are taken from the ground truth when it is a COCO file,
otherwise numeric image keys are used as ids (Taichung's "103064.xml" is image 103064).
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from tqdm import tqdm

from karyostudio.cli import CommandError
from karyostudio.cli.reader_report import print_reader_warnings
from karyostudio.core.annotated_image import AnnotationSet
from karyostudio.core.progress import ProgressCallback
from karyostudio.io.annotation_set import load_annotation_set, load_annotations_with_format
from karyostudio.io.atomic import atomic_write_text
from karyostudio.io.coco import read_coco_image_keys
from karyostudio.io.errors import FormatError
from karyostudio.io.reader_warnings import require_instances
from karyostudio.metrics.evaluate import evaluate_annotations
from karyostudio.metrics.report import format_report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gt", required=True, metavar="PATH", help="ground-truth annotations (file or folder)")
    parser.add_argument("--pred", required=True, metavar="PATH", help="predicted annotations (file or folder)")
    parser.add_argument("--iou", type=float, default=0.5, metavar="T",
                        help="IoU threshold for a match (default 0.5)")
    parser.add_argument("--score-threshold", type=float, default=0.5, metavar="S",
                        help="minimum score of predictions used by the decision metrics (AJI, PQ, tables, "
                             "counts, karyotypes); AP always uses every prediction (default 0.5)")
    parser.add_argument("--all-gt-images", action="store_true",
                        help="evaluate every ground-truth image; one without predictions counts as "
                             "predicting nothing (default: only images present on both sides)")
    parser.add_argument("--rotated-gt-from-image", action="store_true",
                        help="give box-only ground truth (Pascal VOC) rotated boxes refined on its images "
                             "for the skew-IoU (DeepCHM) metrics; otherwise their rotated box is the axis box")
    parser.add_argument("--json", metavar="OUT", help="also write the full results as JSON to OUT")


@contextmanager
def _bar(desc: str, unit: str) -> Iterator[ProgressCallback]:
    with tqdm(desc=desc, unit=unit, leave=False, file=sys.stderr, dynamic_ncols=True) as bar:
        def progress(done: int, total: int, message: str = "") -> None:
            bar.total = total
            bar.update(done - bar.n)  # update() redraws at most every mininterval
        yield progress


def _image_keys_for_results(gt_path: Path, gt_format: str, gt: AnnotationSet) -> dict[int, str]:
    """COCO id -> image key, for reading a COCO results file against this ground truth."""
    if gt_format == "coco":
        return read_coco_image_keys(gt_path)
    return {int(key): key for key in sorted(gt) if key.isdigit()}


def run(args: argparse.Namespace) -> int:
    if not 0.0 < args.iou <= 1.0:
        raise CommandError(f"--iou must lie in (0, 1], got {args.iou}")
    try:
        with _bar("reading ground truth", "file") as progress:
            gt_format, gt = load_annotations_with_format(args.gt, progress=progress)
        image_keys = _image_keys_for_results(Path(args.gt), gt_format, gt)
        with _bar("reading predictions", "file") as progress:
            pred = load_annotation_set(args.pred, image_keys=image_keys, progress=progress)
        print_reader_warnings(f"ground truth {args.gt}", gt)
        print_reader_warnings(f"predictions {args.pred}", pred)
        require_instances(gt, args.gt, "ground truth")
        require_instances(pred, args.pred, "predictions")
        if args.rotated_gt_from_image:
            from karyostudio.models.rotated.ground_truth import refine_box_ground_truth
            gt, fits = refine_box_ground_truth(gt)
            print(f"rotated ground truth refined on the images: {dict(sorted(fits.items()))}", file=sys.stderr)
        with _bar("evaluating", "image") as progress:
            result = evaluate_annotations(gt, pred, iou_threshold=args.iou, score_threshold=args.score_threshold,
                                          images="gt" if args.all_gt_images else "matched", progress=progress)
    except FormatError as exc:
        raise CommandError(str(exc)) from exc
    except ValueError as exc:  # e.g. an instance's malformed rotated_box attribute
        raise CommandError(str(exc)) from exc
    if result["images"]["evaluated"] == 0:
        raise CommandError(f"no image of {args.pred} matches an image of {args.gt} (images are paired by file "
                           f"stem); nothing to evaluate")
    print(format_report(result), end="")
    if args.json:
        try:
            atomic_write_text(args.json, json.dumps(result, indent=1, allow_nan=False) + "\n")
        except OSError as exc:
            raise CommandError(f"cannot write {args.json}: {exc}") from exc
        print(f"results written to {args.json}", file=sys.stderr)
    return 0
