"""Make docs/synthetic_vs_real.png: three synthetic metaphases above three real ones, same scale.

Each tile is a 640 x 640 px window at the images' native resolution (centred on the
chromosomes of a synthetic cell, on the middle of a real image, padded with its background),
so chromosome sizes can be compared directly. The figure is then shrunk to --scale.

Example:
  .venv/bin/python benchmarks/make_synth_comparison.py
  .venv/bin/python benchmarks/make_synth_comparison.py --seed 3 --real 103064 103092 104013

Real images: Tseng et al., "An Open Dataset of Annotated Metaphase Cell Images for Chromosome
Identification", Scientific Data 10, 104 (2023), CC BY 4.0 (Taichung train split in shared data).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import cv2
import numpy as np

from karyostudio.io.atomic import atomic_write_bytes
from karyostudio.io.images import read_image
from karyostudio.synth import SynthConfig, generate_metaphase, rng_for

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("KARYOSTUDIO_SHARED_DATA", REPO.parent / "shared" / "data")) / "taichung"
TILE = 640
GAP = 12


def window(image: np.ndarray, centre: tuple[int, int], size: int = TILE) -> np.ndarray:
    """A size x size crop around centre (x, y), padded with the image's median grey."""
    out = np.full((size, size), int(np.median(image)), dtype=np.uint8)
    x0, y0 = centre[0] - size // 2, centre[1] - size // 2
    sx0, sy0 = max(x0, 0), max(y0, 0)
    sx1, sy1 = min(x0 + size, image.shape[1]), min(y0 + size, image.shape[0])
    out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = image[sy0:sy1, sx0:sx1]
    return out


def caption(tile: np.ndarray, text: str) -> np.ndarray:
    tile = tile.copy()
    cv2.rectangle(tile, (0, 0), (len(text) * 15 + 16, 36), 255, -1)
    cv2.putText(tile, text, (8, 26), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 0, 2, cv2.LINE_AA)
    return tile


def synthetic_tiles(seed: int, count: int) -> list[np.ndarray]:
    tiles = []
    for i in range(count):
        sample = generate_metaphase(rng_for(seed, i), SynthConfig(size=1024))
        top, _ = sample.label_maps()
        ys, xs = np.nonzero(top)
        tiles.append(caption(window(sample.image, (int(np.median(xs)), int(np.median(ys)))),
                             f"synthetic {sample.karyotype}"))
    return tiles


def real_tiles(data: Path, ids: list[str]) -> list[np.ndarray]:
    tiles = []
    for image_id in ids:
        image = read_image(data / "JEPG" / f"{image_id}.jpg")
        tiles.append(caption(window(image, (image.shape[1] // 2, image.shape[0] // 2)), f"real {image_id}"))
    return tiles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--real", nargs=3, default=["103064", "103092", "104013"], metavar="ID",
                        help="three Taichung image ids")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the Taichung folder (JEPG/ inside)")
    parser.add_argument("--scale", type=float, default=0.6, help="shrink factor of the whole figure")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "synthetic_vs_real.png")
    args = parser.parse_args()
    if not (args.data / "JEPG").is_dir():
        raise SystemExit(f"Taichung images not found in {args.data / 'JEPG'} (use --data)")

    rows = [synthetic_tiles(args.seed, 3), real_tiles(args.data, args.real)]
    spacer = np.full((TILE, GAP), 255, np.uint8)
    lines = [np.hstack([x for tile in row for x in (tile, spacer)][:-1]) for row in rows]
    figure = np.vstack([lines[0], np.full((GAP, lines[0].shape[1]), 255, np.uint8), lines[1]])
    figure = cv2.resize(figure, None, fx=args.scale, fy=args.scale, interpolation=cv2.INTER_AREA)
    ok, png = cv2.imencode(".png", figure)
    if not ok:
        raise SystemExit("could not encode the figure")
    atomic_write_bytes(args.out, png.tobytes())
    print(f"wrote {args.out} ({figure.shape[1]} x {figure.shape[0]} px)")


if __name__ == "__main__":
    main()
