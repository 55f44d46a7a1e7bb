"""Benchmark ChromSeg cluster splitting: crossing-partition alone, with the network, on real cells.

Parts (each can be skipped):
  1. oracle: synthetic crossing clusters (karyostudio.synth, seeds --seed.., default 9001+, never
     used for training) split from their exact foreground / crossing maps. This isolates the
     crossing-partition (Algorithm 1): stage one is perfect by construction.
  2. network: the same clusters with maps from the trained segmenter (--splitter, default
     chromseg-cpu when installed), processed exactly as ClusterSplitter does (crop with margin,
     thresholds, foreground limited to the cluster's outline grown by a few px).
  3. taichung: real cells of the default pipeline's validation split. Taichung has boxes only.
     Clusters are found as connected components of the default pipeline's own threshold
     (karyostudio.models.classic.segment.find_components) that hold two VOC boxes: every box
     goes to the component that covers most of it, if that covers at least 30% of the box.
     Reported: how many such components split into two pieces, and the box IoU of the pieces'
     bounding boxes with the two VOC boxes (one-to-one, best total IoU).
  4. pipeline: the default pipeline on its validation split (benchmarks/bench_default_pipeline.py,
     reused by import), splitter off and on: box mAP@50, exact-count rate on normal cells, ...

Metrics of parts 1-2 follow ChromSeg (karyostudio.metrics.overlap): IoU of the foreground and
crossing maps; OverlapAcc = well-detected / N (crossing regions of the map correspond one to
one with the true ones); SPAcc = well-spliced / well-detected (every chromosome of the cluster
matched by a piece with IoU >= 0.5; a refused split keeps the cluster as one outline, which
fails); overall = OverlapAcc x SPAcc. Clusters are those of 2-4 chromosomes in which every
related pair crosses or overlaps (X, T or L; touching-only contacts are a different problem).

Usage:
  python benchmarks/bench_chromseg.py [--images 60] [--seed 9001] [--splitter NAME]
      [--taichung-images 40] [--limit N] [--skip oracle,network,taichung,pipeline] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from karyostudio.core.instance import Instance
from karyostudio.geometry.crossing_partition import PartitionParams, partition_cluster
from karyostudio.geometry.polygons import mask_to_polygon
from karyostudio.io.atomic import atomic_write_text
from karyostudio.metrics.ap import box_xywh, coco_box_iou
from karyostudio.metrics.overlap import all_reconstructed, map_iou, regions_correspond
from karyostudio.synth import SynthConfig, generate_metaphase, rng_for

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_default_pipeline as default_bench  # noqa: E402  (sibling script, reused by import)

CROSSING_KINDS = {"X", "T", "L"}
MARGIN = 16  # px of context around a cluster's box in its crop


@dataclass
class ClusterCase:
    kind: str  # strongest relation in the cluster: X, T or L
    crop: np.ndarray  # the synthetic image around the cluster (uint8)
    truth: list[np.ndarray]  # exact chromosome masks in crop coordinates

    @property
    def maps(self) -> tuple[np.ndarray, np.ndarray]:
        count = np.sum([t.astype(np.uint8) for t in self.truth], axis=0)
        return count >= 1, count >= 2


def synth_cases(n_images: int, seed: int) -> list[ClusterCase]:
    cases = []
    for index in range(n_images):
        sample = generate_metaphase(rng_for(seed, index), SynthConfig(clusters_mean=4.0))
        for cluster in sample.clusters:
            if not 2 <= len(cluster.members) <= 4 or any(k not in CROSSING_KINDS for *_, k in cluster.pairs):
                continue
            patches = [sample.mask_patches[m - 1] for m in cluster.members]
            boxes = np.array([p.box for p in patches])
            h, w = sample.shape
            x0, y0 = max(boxes[:, 0].min() - MARGIN, 0), max(boxes[:, 1].min() - MARGIN, 0)
            x1, y1 = min(boxes[:, 2].max() + MARGIN, w), min(boxes[:, 3].max() + MARGIN, h)
            truth = [p.full(sample.shape)[y0:y1, x0:x1] for p in patches]
            cases.append(ClusterCase(cluster.kind, sample.image[y0:y1, x0:x1].copy(), truth))
    return cases


def _iou_matrix(found: list[np.ndarray], truth: list[np.ndarray]) -> np.ndarray:
    return np.array([[np.count_nonzero(f & t) / max(np.count_nonzero(f | t), 1) for t in truth] for f in found])


def evaluate(cases: list[ClusterCase], maps_of) -> dict:
    """ChromSeg metrics of clusters whose (foreground, crossing) maps come from ``maps_of(case)``."""
    from karyostudio.models.overlap.splitter import chromosome_width

    fg_iou, cross_iou, seconds, best_iou = [], [], [], []
    n_wd = n_ws = n_split = n_count = 0
    by_kind: dict[str, list[int]] = {}
    reasons: dict[str, int] = {}
    for case in cases:
        start = time.perf_counter()
        fg, cross = maps_of(case)
        result = partition_cluster(fg, cross, PartitionParams.for_chromosome_width(chromosome_width(fg)))
        seconds.append(time.perf_counter() - start)
        gt_fg, gt_cross = case.maps
        fg_iou.append(map_iou(gt_fg, fg) or 0.0)
        value = map_iou(gt_cross, cross)
        if value is not None:
            cross_iou.append(value)
        found = list(result.chromosomes) if result.ok else [fg]
        iou = _iou_matrix(found, case.truth)
        detected = regions_correspond(gt_cross, cross)
        spliced = detected and all_reconstructed(iou, range(len(case.truth)))
        n_wd, n_ws = n_wd + detected, n_ws + spliced
        n_split += result.ok
        n_count += result.ok and len(found) == len(case.truth)
        if result.ok:
            best_iou.extend(iou.max(axis=0))
        else:
            key = result.reason.split(":")[0].split(" (")[0]
            key = "".join(c if not c.isdigit() else "N" for c in key)
            reasons[key] = reasons.get(key, 0) + 1
        stats = by_kind.setdefault(f"{case.kind}/{len(case.truth)}", [0, 0])
        stats[0], stats[1] = stats[0] + 1, stats[1] + spliced
    n = len(cases)
    return {
        "clusters": n,
        "iou_foreground": float(np.mean(fg_iou)) if fg_iou else None,
        "iou_crossing": float(np.mean(cross_iou)) if cross_iou else None,
        "overlap_acc": n_wd / n if n else None,
        "sp_acc": n_ws / n_wd if n_wd else None,
        "overall_acc": n_ws / n if n else None,
        "split_rate": n_split / n if n else None,
        "exact_count_rate": n_count / n if n else None,
        "piece_iou_median": float(np.median(best_iou)) if best_iou else None,
        "seconds_per_cluster": float(np.mean(seconds)) if seconds else None,
        "well_spliced_by_kind_and_size": {k: f"{v[1]}/{v[0]}" for k, v in sorted(by_kind.items())},
        "refusals": dict(sorted(reasons.items(), key=lambda kv: -kv[1])),
    }


def network_maps(splitter):
    def maps_of(case: ClusterCase) -> tuple[np.ndarray, np.ndarray]:
        return splitter.maps(case.crop, case.maps[0])  # outline = the cluster's true outline
    return maps_of


def load_splitter(name: str):
    from karyostudio.models.overlap.segmenter import load_splitter_model
    from karyostudio.models.overlap.splitter import ClusterSplitter

    return ClusterSplitter(load_splitter_model(name, "cpu"))


def taichung_components(image: np.ndarray, boxes: np.ndarray) -> list[tuple[np.ndarray, tuple[int, int], list[int]]]:
    """(component mask, (x0, y0), indices of its boxes) for components holding exactly two boxes."""
    from karyostudio.models.classic.segment import find_components

    fg = find_components(image)
    if fg is None:
        return []
    owner: dict[int, list[int]] = {}
    for b, (bx0, by0, bx1, by1) in enumerate(np.round(boxes).astype(int)):
        best, best_cover = None, 0.0
        for k, c in enumerate(fg.components):
            h, w = c.mask.shape
            ix0, iy0, ix1, iy1 = max(bx0, c.x0), max(by0, c.y0), min(bx1, c.x0 + w), min(by1, c.y0 + h)
            if ix1 <= ix0 or iy1 <= iy0:
                continue
            cover = c.mask[iy0 - c.y0:iy1 - c.y0, ix0 - c.x0:ix1 - c.x0].sum() / max((bx1 - bx0) * (by1 - by0), 1)
            if cover > best_cover:
                best, best_cover = k, cover
        if best is not None and best_cover >= 0.3:
            owner.setdefault(best, []).append(b)
    return [(fg.components[k].mask, (fg.components[k].x0, fg.components[k].y0), members)
            for k, members in owner.items() if len(members) == 2]


def taichung(root: Path, n_images: int, splitter) -> dict:
    from karyostudio.io.images import read_image
    from karyostudio.io.voc import read_voc

    ids = default_bench.validation_ids(root, default_bench._TRAIN_DEFAULTS["val_fraction"],
                                       default_bench._TRAIN_DEFAULTS["seed"])[:n_images]
    n = n_two = 0
    box_ious, seconds = [], []
    reasons: dict[str, int] = {}
    for image_id in ids:
        gt = read_voc(root / "annotations" / f"{image_id}.xml", image_dirs=[root / "JEPG"])
        image = read_image(gt.image_path)
        boxes = np.array([inst.bbox for inst in gt.instances])
        for mask, (x0, y0), members in taichung_components(image, boxes):
            polygon = mask_to_polygon(mask)
            if polygon is None:
                continue
            n += 1
            start = time.perf_counter()
            result = splitter.split(image, Instance(1, polygon + np.array([x0, y0], float)))
            seconds.append(time.perf_counter() - start)
            if not result.ok:
                key = result.reason.split(":")[0].split(" (")[0]
                key = "".join(c if not c.isdigit() else "N" for c in key)
                reasons[key] = reasons.get(key, 0) + 1
                continue
            if len(result.pieces) != 2:
                continue
            n_two += 1
            iou = coco_box_iou(box_xywh([p.polygon for p in result.pieces]),
                               box_xywh([gt.instances[m].polygon for m in members]))
            rows, cols = linear_sum_assignment(-iou)
            box_ious.extend(iou[rows, cols])
    return {"images": len(ids), "components_with_two_boxes": n, "split_into_two": n_two,
            "split_into_two_rate": n_two / n if n else None,
            "piece_box_iou_mean": float(np.mean(box_ious)) if box_ious else None,
            "piece_box_iou_at_0.5": float(np.mean(np.array(box_ious) >= 0.5)) if box_ious else None,
            "seconds_per_cluster": float(np.mean(seconds)) if seconds else None,
            "refusals": dict(sorted(reasons.items(), key=lambda kv: -kv[1]))}


class _Counting:
    """A predictor that tallies how many pieces and refusals its splitting stage produced."""

    def __init__(self, predictor, tally: dict):
        self.predictor, self.tally = predictor, tally
        self.name, self.description = predictor.name, predictor.description

    def predict(self, image, **kwargs):
        from karyostudio.models.overlap.stage import split_counts

        instances = self.predictor.predict(image, **kwargs)
        for key, value in split_counts(instances).items():
            self.tally[key] = self.tally.get(key, 0) + value
        return instances


def pipeline(root: Path, limit: int | None, splitter_name: str) -> dict:
    from karyostudio.models.overlap.stage import with_splitter

    args = (root, default_bench.DEFAULT_MODEL, "cpu", limit, default_bench._TRAIN_DEFAULTS["val_fraction"],
            default_bench._TRAIN_DEFAULTS["seed"])
    off = default_bench.run(*args)
    tally: dict = {}
    plain_loader = default_bench.load_predictor
    # bench_default_pipeline.run loads its predictor by name; give it the wrapped one instead.
    default_bench.load_predictor = lambda model, device="cpu": _Counting(
        with_splitter(plain_loader(model, device=device), splitter_name, device), tally)
    try:
        on = default_bench.run(*args)
    finally:
        default_bench.load_predictor = plain_loader
    keys = ("box_map50", "detection_recall", "detection_precision", "classification_accuracy_matched",
            "normal_exact_count_rate", "normal_karyotype_accuracy", "seconds_per_image_median")
    return {"images": off["split"]["images"], "normal_images": off["split"]["normal_images"],
            "off": {k: off[k] for k in keys}, "on": {k: on[k] for k in keys}, "split_stage": tally}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=60, help="synthetic images (1024 px) to draw clusters from")
    parser.add_argument("--seed", type=int, default=9001, help="synthetic seed (training uses 0..)")
    parser.add_argument("--splitter", default="chromseg-cpu", help="segmenter model name or path")
    parser.add_argument("--data", type=Path, default=default_bench.DEFAULT_DATA, help="Taichung root")
    parser.add_argument("--taichung-images", type=int, default=40)
    parser.add_argument("--limit", type=int, default=None, help="validation images for the pipeline comparison")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: oracle,network,taichung,pipeline")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    results: dict = {"seed": args.seed, "images": args.images}
    cases = synth_cases(args.images, args.seed) if not {"oracle", "network"} <= skip else []
    if "oracle" not in skip:
        results["oracle"] = evaluate(cases, lambda case: case.maps)
        print("oracle maps:", json.dumps(results["oracle"], indent=1))
    splitter = None
    if not {"network", "taichung", "pipeline"} <= skip:
        try:
            splitter = load_splitter(args.splitter)
        except Exception as exc:  # noqa: BLE001 - a missing network skips its parts, the rest still runs
            print(f"splitter {args.splitter!r} not available ({exc}); network parts skipped", file=sys.stderr)
    if splitter is not None and "network" not in skip:
        results["network"] = evaluate(cases, network_maps(splitter))
        print("network maps:", json.dumps(results["network"], indent=1))
    if splitter is not None and "taichung" not in skip and (args.data / "annotations").is_dir():
        results["taichung"] = taichung(args.data, args.taichung_images, splitter)
        print("taichung:", json.dumps(results["taichung"], indent=1))
    if splitter is not None and "pipeline" not in skip and (args.data / "annotations").is_dir():
        results["pipeline"] = pipeline(args.data, args.limit, args.splitter)
        print("pipeline:", json.dumps(results["pipeline"], indent=1))
    if args.json is not None:
        atomic_write_text(args.json, json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
