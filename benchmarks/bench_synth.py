"""Benchmark the synthetic metaphase generator.

Measures, for --n images of --size px written by --workers processes (what `karyostudio synth`
does: generate, then write PNG + labelme JSON + NPZ atomically), the wall time and images per
second, plus the single-process time per image of generation alone and of writing alone.
The target is 100 images of 1024 px in under 60 s on a 2-core CPU.

Example:
  .venv/bin/python benchmarks/bench_synth.py                # 100 images, 1024 px, 2 workers
  .venv/bin/python benchmarks/bench_synth.py --n 20 --workers 1
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from karyostudio.synth import SynthConfig, generate_dataset, generate_metaphase, rng_for, write_sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--probe", type=int, default=5, help="images timed one by one in this process")
    args = parser.parse_args()
    config = SynthConfig(size=args.size)

    generate_metaphase(rng_for(args.seed, 0), config)  # warm-up: band tables, imports
    gen_times, write_times = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.probe):
            t0 = time.perf_counter()
            sample = generate_metaphase(rng_for(args.seed, i), config)
            t1 = time.perf_counter()
            write_sample(sample, tmp, f"probe_{i}")
            gen_times.append(t1 - t0)
            write_times.append(time.perf_counter() - t1)

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        summaries = generate_dataset(tmp, args.n, seed=args.seed, config=config, workers=args.workers)
        elapsed = time.perf_counter() - start
    chromosomes = sum(s.n_chromosomes for s in summaries)

    print(f"single process: generate {statistics.median(gen_times):.3f} s/image, "
          f"write {statistics.median(write_times):.3f} s/image (median of {args.probe})")
    print(f"dataset: {args.n} images of {args.size} px with {args.workers} worker(s): {elapsed:.1f} s "
          f"({args.n / elapsed:.2f} images/s, {chromosomes} chromosomes)")
    if args.n == 100 and args.size == 1024:
        print(f"target 100 images in < 60 s: {'met' if elapsed < 60 else 'NOT met'}")


if __name__ == "__main__":
    main()
