"""Benchmark ChromSeg's stage one alone: the segmenter's maps on held-out synthetic crossing clusters.

For every cluster of kind X, T or L in synthetic metaphases of a seed the model never trained
on, the segmenter's predict_maps runs on two kinds of crop:
  - window: a --size px square centred on the cluster (what the trainer validates on);
  - tight: the cluster's box plus --margin px, of any size (what the cluster splitter passes).
Reported per kind and per threshold, against the exact maps (foreground = covered by a
chromosome, crossing = covered by two or more): mean per-crop IoU of each map (ChromSeg's IoU),
OverlapAcc (crossing regions in one-to-one correspondence,
karyostudio.metrics.overlap.regions_correspond) and the median milliseconds per crop.
(benchmarks/bench_chromseg.py benchmarks the whole splitter.)

Example:
  .venv/bin/python benchmarks/bench_chromseg_segmenter.py --model chromseg-cpu --images 40 --threads 2
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from karyostudio.metrics.overlap import map_iou, regions_correspond
from karyostudio.models.overlap.segmenter import load_splitter_model
from karyostudio.synth import SynthConfig, generate_metaphase, rng_for
from karyostudio.synth.overlaps import coverage_count
from karyostudio.training.chromseg_data import CROSSING_KINDS, crop_window, cut


def cluster_crops(seed: int, images: int, synth_size: int, size: int, margin: int):
    """(kind, crop, coverage count) for every X/T/L cluster, window and tight."""
    for index in range(images):
        sample = generate_metaphase(rng_for(seed, index), SynthConfig(size=synth_size))
        count = coverage_count(sample.mask_patches, sample.shape)
        by_id = {inst.id: patch for inst, patch in zip(sample.instances, sample.mask_patches)}
        fill = float(np.median(sample.image))
        for cluster in sample.clusters:
            if cluster.kind not in CROSSING_KINDS:
                continue
            boxes = np.array([by_id[m].box for m in cluster.members])
            x0, y0 = boxes[:, :2].min(axis=0)
            x1, y1 = boxes[:, 2:].max(axis=0)
            wx, wy = crop_window(((x0 + x1) / 2, (y0 + y1) / 2), size, sample.shape)
            yield "window", cut(sample.image, wx, wy, size, fill), cut(count, wx, wy, size, 0)
            tx0, ty0 = max(x0 - margin, 0), max(y0 - margin, 0)
            tx1, ty1 = min(x1 + margin, sample.shape[1]), min(y1 + margin, sample.shape[0])
            yield "tight", sample.image[ty0:ty1, tx0:tx1], count[ty0:ty1, tx0:tx1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="chromseg-cpu", help="model name, manifest or weights path")
    parser.add_argument("--images", type=int, default=40, help="synthetic metaphases to draw clusters from")
    parser.add_argument("--seed", type=int, default=424242, help="synthetic seed (not the training seed)")
    parser.add_argument("--synth-size", type=int, default=1024)
    parser.add_argument("--size", type=int, default=256, help="window crop size")
    parser.add_argument("--margin", type=int, default=8, help="tight crop margin around the cluster box")
    parser.add_argument("--thresholds", default="0.4,0.5,0.6", help="comma-separated probability thresholds")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    segmenter = load_splitter_model(args.model)
    thresholds = [float(t) for t in args.thresholds.split(",")]
    stats = {(kind, t): {"fg": [], "cross": [], "detected": 0, "with_crossings": 0}
             for kind in ("window", "tight") for t in thresholds}
    times: dict[str, list[float]] = {"window": [], "tight": []}
    clusters = 0
    for kind, crop, count in cluster_crops(args.seed, args.images, args.synth_size, args.size, args.margin):
        clusters += kind == "window"
        start = time.perf_counter()
        fg_prob, cross_prob = segmenter.predict_maps(crop)
        times[kind].append(1000.0 * (time.perf_counter() - start))
        for t in thresholds:
            s = stats[kind, t]
            fg, cross = fg_prob >= t, cross_prob >= t
            for values, truth, pred in ((s["fg"], count >= 1, fg), (s["cross"], count >= 2, cross)):
                value = map_iou(truth, pred)
                if value is not None:
                    values.append(value)
            if (count >= 2).any() or cross.any():
                s["with_crossings"] += 1
                s["detected"] += regions_correspond(count >= 2, cross)
    report = {"model": args.model, "seed": args.seed, "images": args.images, "clusters": clusters,
              "median_ms": {k: float(np.median(v)) if v else None for k, v in times.items()}, "results": []}
    for (kind, t), s in stats.items():
        report["results"].append({
            "crop": kind, "threshold": t,
            "iou_foreground": float(np.mean(s["fg"])) if s["fg"] else None,
            "iou_crossing": float(np.mean(s["cross"])) if s["cross"] else None,
            "overlap_acc": s["detected"] / s["with_crossings"] if s["with_crossings"] else None})
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
