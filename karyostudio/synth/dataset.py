"""Generate a folder of synthetic metaphases, optionally on several processes.

Image i of a run with seed S is drawn from its own generator seeded by (S, i), so it is the
same whatever the number of images or workers, and a run can be extended later by
generating more indices with the same seed.
"""

from __future__ import annotations

import csv
import io
import multiprocessing
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2

from karyostudio.core.progress import CancelToken, ProgressCallback, check, report
from karyostudio.io.atomic import atomic_write_text
from karyostudio.synth.config import SynthConfig
from karyostudio.synth.files import write_sample
from karyostudio.synth.metaphase import generate_metaphase, rng_for

SUMMARY_NAME = "karyotypes.csv"


@dataclass(frozen=True)
class SampleSummary:
    index: int
    stem: str
    karyotype: str
    n_chromosomes: int
    n_clusters: int


def sample_stem(index: int) -> str:
    return f"synth_{index:06d}"


def _limit_threads() -> None:
    # One process per core does the parallel work; nested thread pools would only compete.
    cv2.setNumThreads(1)


def make_sample(seed: int, index: int, config: SynthConfig, out_dir: str) -> SampleSummary:
    """Generate image `index` of the run with this seed and write its files into out_dir."""
    sample = generate_metaphase(rng_for(seed, index), config)
    stem = sample_stem(index)
    write_sample(sample, out_dir, stem)
    return SampleSummary(index, stem, sample.karyotype, len(sample.instances), len(sample.clusters))


def _make_sample_star(args: tuple[int, int, SynthConfig, str]) -> SampleSummary:
    return make_sample(*args)


def _run(jobs: list[tuple[int, int, SynthConfig, str]], workers: int) -> Iterator[SampleSummary]:
    if workers <= 1:
        for job in jobs:
            yield make_sample(*job)
        return
    # Fresh interpreters: forking a process whose OpenCV thread pool is running can deadlock.
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=_limit_threads) as pool:
        yield from pool.imap(_make_sample_star, jobs)


def generate_dataset(out_dir: str | Path, n: int, *, seed: int, config: SynthConfig = SynthConfig(),
                     start: int = 0, workers: int = 1, progress: ProgressCallback | None = None,
                     cancel: CancelToken | None = None) -> list[SampleSummary]:
    """Write images start .. start+n-1 of the run with this seed into out_dir, plus karyotypes.csv
    (which lists the images of this call).

    Each image's PNG, NPZ and labelme JSON is written atomically as soon as it is ready;
    cancelling stops after the image in progress and writes no summary.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(int(seed), start + i, config, str(out)) for i in range(n)]
    summaries: list[SampleSummary] = []
    report(progress, 0, n, "generating")
    results = _run(jobs, min(workers, n))
    try:
        for summary in results:
            summaries.append(summary)
            report(progress, len(summaries), n, "generating")
            check(cancel)
    finally:
        results.close()  # stops the worker pool when cancelled or failing
    atomic_write_text(out / SUMMARY_NAME, _summary_csv(summaries))
    return summaries


def _summary_csv(summaries: list[SampleSummary]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["image", "karyotype", "chromosomes", "clusters"])
    for s in summaries:
        writer.writerow([f"{s.stem}.png", s.karyotype, s.n_chromosomes, s.n_clusters])
    return buffer.getvalue()
