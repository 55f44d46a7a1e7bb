"""`karyostudio convert SRC --to labelme|coco|voc --out PATH`: convert annotations between formats."""

from __future__ import annotations

import argparse
import sys

from tqdm import tqdm

from karyostudio.cli import CommandError
from karyostudio.io.reader_warnings import kind_of
from karyostudio.core.progress import Cancelled
from karyostudio.io.annotation_set import WRITE_FORMATS
from karyostudio.io.coco import read_coco_image_keys
from karyostudio.io.convert import convert_annotations
from karyostudio.io.errors import FormatError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("src", help="annotations to read: a labelme JSON file or folder, a Pascal VOC XML "
                                    "file or folder (or a VOC tree such as Taichung's), a COCO instances "
                                    "JSON file or a COCO results JSON file")
    parser.add_argument("--to", required=True, choices=WRITE_FORMATS, dest="fmt",
                        help="format to write")
    parser.add_argument("--out", required=True,
                        help="output folder (labelme, voc) or .json file (coco)")
    parser.add_argument("--coco-gt", metavar="FILE",
                        help="COCO instances file whose image ids a COCO results SRC refers to "
                             "(gives the images their names; without it images are named by id)")


class _PhaseBars:
    """Progress callback showing one tqdm bar per phase ("reading ...", "writing ...")."""

    def __init__(self) -> None:
        self._bar: tqdm | None = None
        self._phase = ""

    def __call__(self, done: int, total: int, message: str = "") -> None:
        phase = message.split(" ", 1)[0]
        if self._bar is None or phase != self._phase:
            self.close()
            self._bar = tqdm(total=total, desc=phase, unit="file", leave=False, file=sys.stderr)
            self._phase = phase
        self._bar.total = total
        self._bar.update(done - self._bar.n)  # update() keeps tqdm's refresh-rate limit

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def run(args: argparse.Namespace) -> int:
    bars = _PhaseBars()
    try:
        image_keys = read_coco_image_keys(args.coco_gt) if args.coco_gt else None
        summary = convert_annotations(args.src, args.out, args.fmt, image_keys=image_keys, progress=bars)
    except FormatError as exc:
        raise CommandError(str(exc)) from exc
    except Cancelled as exc:
        raise CommandError("cancelled") from exc
    finally:
        bars.close()
    for line in summary.skipped:
        print(f"{kind_of(line)}: {line}", file=sys.stderr)
    for line in summary.notes:
        print(f"note: {line}", file=sys.stderr)
    print(f"converted {summary.images} image(s), {summary.instances_written} instance(s) from "
          f"{summary.source_format} to {summary.target_format} -> {args.out}"
          + (f"; {len(summary.skipped)} shape(s) skipped" if summary.skipped else ""))
    return 0
