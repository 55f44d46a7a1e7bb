"""The default model's sex decision on synthetic cells, a style it was not trained on.

Synthetic metaphases (karyostudio.synth, 46,XX or 46,XY at p = 0.5; every second cell with sister
chromatids apart over 35 % of the width) stand in for another lab's preparations: the detector
and the classifier's parts trained on them were other seeds. For each cell the detector runs once
and the boxes are read and named four ways, so the manifest's two sex-related settings are
measured apart:
  - box reading: one read of the box as found, or the manifest's extra.box_reading (scales, mirror image);
  - sex decision: the whole-cell totals alone (xy_log_prior = y_evidence_weight = 0), or the
    manifest's extra.assign (prior and weight of the strongest Y reading).

Usage: python benchmarks/bench_synth_sex.py [--model NAME|PATH] [--cells 40] [--seed 5151] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from karyostudio.io.atomic import atomic_write_text
from karyostudio.models.classic.assign import assign_karyotype, presence_probability
from karyostudio.models.classic.classifier import BoxReading
from karyostudio.models.registry import DEFAULT_MODEL, load_predictor
from karyostudio.synth import SynthConfig, generate_metaphase, rng_for


def run(model: str, cells: int, seed: int, size: int = 1024) -> dict:
    pipeline = load_predictor(model)
    if getattr(pipeline, "detector", None) is None:
        raise SystemExit(f"model {model!r} has no detector")
    shipped = pipeline.assign_config
    decisions = {"whole-cell totals": replace(shipped, xy_log_prior=0.0, y_evidence_weight=0.0), "manifest": shipped}
    readings = {"box as found": BoxReading(), "manifest": pipeline.box_reading}
    right = {(r, d): [] for r in readings for d in decisions}
    truths = []
    for k in range(cells):
        cell = generate_metaphase(rng_for(seed, k), SynthConfig(size=size, sex="XY" if k % 4 < 2 else "XX",
                                                                 chromatid_gap=0.35 if k % 2 else 0.0))
        truth = "XY" if cell.karyotype.endswith("XY") else "XX"
        truths.append(truth)
        found = pipeline.detector.detect(cell.image, score_floor=shipped.presence_floor).detections
        for r, reading in readings.items():
            log_probs, reject = pipeline.classifier.read_boxes(cell.image, list(found.boxes), reading)
            presence = presence_probability(found.scores, reject, shipped)
            for d, config in decisions.items():
                right[(r, d)].append(assign_karyotype(log_probs, presence=presence, config=config).sex_hypothesis == truth)
        print(f"[{k + 1}/{cells}] {cell.karyotype}: " + ", ".join(f"{r} / {d}: {v[-1]}" for (r, d), v in right.items()),
              file=sys.stderr)
    return {"model": model, "seed": seed, "cells": cells, "size": size,
            "sex_decision_correct": {f"{r} / {d}": float(np.mean(v)) for (r, d), v in right.items()},
            # which way the errors go: a Y missed (XY cells) or one read where there is none (XX cells)
            "sex_decision_correct_by_truth": {f"{r} / {d}": {t: float(np.mean([ok for ok, s in zip(v, truths) if s == t]))
                                                             for t in sorted(set(truths))}
                                              for (r, d), v in right.items()},
            "box_reading": {"scales": list(pipeline.box_reading.scales), "mirrored": pipeline.box_reading.mirrored},
            "assign": {"xy_log_prior": shipped.xy_log_prior, "y_evidence_weight": shipped.y_evidence_weight}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--cells", type=int, default=40)
    parser.add_argument("--seed", type=int, default=5151)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    result = run(args.model, args.cells, args.seed)
    print(json.dumps(result, indent=1))
    if args.json:
        atomic_write_text(args.json, json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
