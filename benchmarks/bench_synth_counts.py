"""Counts a model gives on synthetic cells it was not built for: separated chromatids and no metaphase.

  - cells whose sister chromatids have come apart along the arms (karyostudio.synth, chromatid_gap):
    a model should still count each chromosome once (not two chromatids, not a "cluster");
  - fields with no metaphase (debris_only: hundreds of specks, nuclei, haze): the count should be
    0 or a handful of low-confidence objects, and no chromosome should be named.

Usage: python benchmarks/bench_synth_counts.py [--model NAME|PATH] [--cells 20] [--fields 10]
                                               [--gap 0.35] [--seed 4242] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from karyostudio.io.atomic import atomic_write_text
from karyostudio.models.base import is_cluster
from karyostudio.models.registry import DEFAULT_MODEL, load_predictor
from karyostudio.synth import SynthConfig, generate_metaphase, rng_for


def count(instances) -> tuple[int, int, int]:
    """(objects, named chromosomes, clusters)."""
    return (len(instances), sum(i.label is not None for i in instances), sum(is_cluster(i) for i in instances))


def run(model: str, cells: int, fields: int, gap: float, seed: int, size: int = 1024) -> dict:
    predictor = load_predictor(model)
    separated, empty, seconds = [], [], []
    for k in range(cells):
        cell = generate_metaphase(rng_for(seed, k), SynthConfig(size=size, chromatid_gap=gap))
        start = time.perf_counter()
        found = predictor.predict(cell.image)
        seconds.append(time.perf_counter() - start)
        separated.append((len(cell.instances), *count(found)))
        print(f"separated chromatids {k + 1}/{cells}: {len(cell.instances)} true, {count(found)} (objects, named, "
              f"clusters)", file=sys.stderr)
    for k in range(fields):
        field = generate_metaphase(rng_for(seed + 1, k), SynthConfig(size=size, debris_only=True))
        found = predictor.predict(field.image)
        empty.append(count(found))
        print(f"debris field {k + 1}/{fields}: {count(found)} (objects, named, clusters)", file=sys.stderr)
    sep = np.array(separated).reshape(-1, 4)
    emp = np.array(empty).reshape(-1, 3)
    return {
        "model": model, "seed": seed, "size": size, "chromatid_gap": gap,
        "separated": {"cells": cells, "exact_count_rate": float(np.mean(sep[:, 1] == sep[:, 0])) if cells else None,
                      "mean_count_error": float(np.mean(sep[:, 1] - sep[:, 0])) if cells else None,
                      "mean_abs_count_error": float(np.mean(np.abs(sep[:, 1] - sep[:, 0]))) if cells else None,
                      "mean_clusters": float(np.mean(sep[:, 3])) if cells else None,
                      "seconds_median": float(np.median(seconds)) if seconds else None},
        "debris_fields": {"fields": fields, "objects_median": float(np.median(emp[:, 0])) if fields else None,
                          "objects_max": int(emp[:, 0].max()) if fields else None,
                          "named_max": int(emp[:, 1].max()) if fields else None,
                          "per_field": emp.tolist()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--cells", type=int, default=20)
    parser.add_argument("--fields", type=int, default=10)
    parser.add_argument("--gap", type=float, default=0.35, help="share of the width open between chromatids")
    parser.add_argument("--seed", type=int, default=4242)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    result = run(args.model, args.cells, args.fields, args.gap, args.seed)
    print(json.dumps({k: v for k, v in result.items() if k != "debris_fields"} |
                     {"debris_fields": {k: v for k, v in result["debris_fields"].items() if k != "per_field"}},
                     indent=2))
    if args.json:
        atomic_write_text(args.json, json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
