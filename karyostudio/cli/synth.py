"""`karyostudio synth --n N --out DIR --seed S`: generate synthetic G-banded metaphases with ground truth.

Writes per image synth_NNNNNN.png, .json (labelme polygons with labels, rotated boxes,
skeletons, endpoints, centromeres) and .npz (label maps, overlap mask, exact masks), plus
karyotypes.csv. The same seed gives byte-identical files; image i does not depend on --n.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tqdm import tqdm

from karyostudio.cli import CommandError
from karyostudio.core.progress import Cancelled
from karyostudio.synth.config import MIN_SIZE, SynthConfig
from karyostudio.synth.dataset import generate_dataset


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n", type=int, required=True, help="number of images to generate")
    parser.add_argument("--out", required=True, help="output folder (created if missing)")
    parser.add_argument("--seed", type=int, required=True, help="random seed; image i is seeded by (seed, i)")
    parser.add_argument("--size", type=int, default=1024,
                        help=f"image width and height in px (default 1024, at least {MIN_SIZE}); from 800 px "
                             "on chromosomes have the real data's scale, smaller images are scaled down")
    parser.add_argument("--workers", type=int, default=1, help="processes to use (default 1)")
    parser.add_argument("--aneuploidy-rate", type=float, default=0.0, metavar="P",
                        help="share of cells with 45,X / 47,XXY / 47,XYY / 47,XXX / +21 / +18 / +13 "
                             "(default 0: 46,XX or 46,XY)")
    parser.add_argument("--start", type=int, default=0, help="index of the first image (to extend a run)")


def run(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise CommandError(f"--n must be at least 1, got {args.n}")
    if args.workers < 1:
        raise CommandError(f"--workers must be at least 1, got {args.workers}")
    if args.start < 0:
        raise CommandError(f"--start must not be negative, got {args.start}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CommandError(f"--out {out} exists and is not a folder")
    try:
        config = SynthConfig(size=args.size, aneuploidy_rate=args.aneuploidy_rate)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    if not os.access(out if out.exists() else _existing_parent(out), os.W_OK):
        raise CommandError(f"cannot write into {out}")

    bar = tqdm(total=args.n, desc="synth", unit="img", file=sys.stderr)
    try:
        summaries = generate_dataset(out, args.n, seed=args.seed, config=config, start=args.start,
                                     workers=args.workers, progress=lambda done, total, msg="": bar.update(done - bar.n))
    except Cancelled as exc:
        raise CommandError(str(exc)) from exc
    finally:
        bar.close()
    abnormal = sum(s.karyotype not in ("46,XX", "46,XY") for s in summaries)
    print(f"wrote {len(summaries)} images to {out} ({abnormal} aneuploid)")
    return 0


def _existing_parent(path: Path) -> Path:
    path = path.absolute()
    while not path.exists():
        path = path.parent
    return path
