"""Joint class assignment and the default model on inputs with many objects.

  assign     assign_karyotype on random (N, 24) log-probabilities (median of --repeats): the slot
             matrices up to 64 objects, the min-cost flow beyond
  fields     the default model end to end on a debris field (about 900 specks) and on a cell
             with about 2,000 rod-shaped objects (tests/robustness/fields.py)

Example:
  .venv/bin/python benchmarks/bench_assign_large.py
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from scipy.special import logsumexp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from karyostudio.models.classic.assign import assign_karyotype  # noqa: E402


def time_assign(n: int, repeats: int) -> float:
    rng = np.random.default_rng(n)
    lp = rng.normal(size=(n, 24)) * 3
    lp[np.arange(n), rng.integers(0, 24, n)] += 6
    lp = np.maximum(lp - logsumexp(lp, axis=1, keepdims=True), -50.0)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        assign_karyotype(lp)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[46, 64, 65, 200, 1000, 2000, 5000])
    parser.add_argument("--no-fields", action="store_true")
    args = parser.parse_args()
    for n in args.sizes:
        print(f"assign {n:5d} objects: {time_assign(n, args.repeats):.3f} s", flush=True)
    if not args.no_fields:
        from karyostudio.models.registry import load_predictor
        from tests.robustness.fields import crowded_cell, debris_field

        model = load_predictor("default-cpu")
        for name, make in (("debris field", debris_field), ("crowded cell", crowded_cell)):
            image = make()
            start = time.perf_counter()
            instances = model.predict(image)
            print(f"default model, {name} {image.shape[1]} x {image.shape[0]}: {len(instances)} objects in "
                  f"{time.perf_counter() - start:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
