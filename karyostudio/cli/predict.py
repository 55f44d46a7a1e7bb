"""`karyostudio predict`: segment and classify metaphase images in a batch.

For every image (folders are expanded to their supported image files, sorted) it writes, into
--out: ``<stem>.json`` (labelme polygons with labels and scores; imagePath relative to the JSON
file), ``<stem>_karyogram.png`` (unless --no-karyogram), and ``summary.csv`` with one row per
image (image, count, karyotype, seconds, status, error). count is the number of predicted
outlines, unsplit clusters included; karyotype counts single chromosomes only (see
karyostudio.models.base.prediction_karyotype). summary.csv is rewritten after every image, so
an interrupted batch keeps what was done.

An image that cannot be read or processed is reported on stderr and in summary.csv, and the
batch goes on. Exit status: 0 when every image succeeded, 1 when some failed, 2 for usage
errors (unknown model, missing input path, unusable device). Asking for --device cuda on a
machine without CUDA is an error rather than a silent fall-back to the CPU: a batch planned for
a GPU can take hours on a CPU, and the user should decide that.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import time
from dataclasses import astuple, dataclass, fields
from pathlib import Path

from tqdm import tqdm

from karyostudio.cli import CommandError
from karyostudio.core.annotated_image import ImageAnnotations
from karyostudio.io.atomic import atomic_write_text
from karyostudio.io.errors import FormatError
from karyostudio.io.images import IMAGE_SUFFIXES, image_key, read_image
from karyostudio.io.labelme import write_labelme
from karyostudio.models.base import Predictor, prediction_karyotype
from karyostudio.models.manifest import ManifestError
# The registry imports model families (and torch) only when a model is loaded.
from karyostudio.models.registry import DEFAULT_MODEL, DeviceUnavailableError, UnknownModelError, load_predictor
from karyostudio.render.karyogram_image import render_karyogram, write_png

SUMMARY_NAME = "summary.csv"
DEFAULT_SPLITTER = "chromseg-cpu"  # karyostudio.models.overlap.stage.DEFAULT_SPLITTER, without importing torch


@dataclass
class SummaryRow:
    image: str
    count: int | str
    karyotype: str
    seconds: float
    status: str  # "ok" or "error"
    error: str


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="IMAGE_OR_FOLDER",
                        help="image files, or folders whose images (png, jpg, bmp, tif) are all processed")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder (created if needed)")
    parser.add_argument("--model", default=DEFAULT_MODEL, metavar="NAME|PATH",
                        help=f"model name (see `karyostudio models`) or manifest/weights path "
                             f"(default: {DEFAULT_MODEL})")
    parser.add_argument("--device", default="cpu", metavar="cpu|cuda",
                        help="where the model runs (default: cpu); cuda without a GPU is an error")
    parser.add_argument("--no-karyogram", action="store_true", help="do not write <stem>_karyogram.png")
    parser.add_argument("--split-clusters", nargs="?", const=DEFAULT_SPLITTER, default=None, metavar="SPLITTER",
                        help=f"split crossing clusters with a ChromSeg splitter and name the pieces "
                             f"(default splitter: {DEFAULT_SPLITTER}; put it after the images or name the "
                             f"splitter, or it takes the next argument as its name)")


def run(args: argparse.Namespace) -> int:
    images = expand_inputs(args.inputs)
    keys = output_keys(images)
    predictor = _load(args.model, args.device)
    if args.split_clusters is not None:
        predictor = _with_splitter(predictor, args.split_clusters, args.device)
    out: Path = args.out
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CommandError(f"cannot create output folder {out}: {exc.strerror or exc}") from None

    rows: list[SummaryRow] = []
    with tqdm(total=len(images), unit="image", file=sys.stderr, dynamic_ncols=True) as bar:
        for path, key in zip(images, keys):
            bar.set_description(path.name)
            row = predict_one(predictor, path, key, out, karyogram=not args.no_karyogram,
                              progress=lambda done, total, msg="": bar.set_postfix_str(msg, refresh=False))
            if row.status != "ok":
                tqdm.write(f"karyostudio predict: {path}: {row.error}", file=sys.stderr)
            rows.append(row)
            write_summary(out / SUMMARY_NAME, rows)
            bar.update(1)
    failed = sum(r.status != "ok" for r in rows)
    print(f"{len(rows) - failed} of {len(rows)} image(s) done, {failed} failed; results in {out}",
          file=sys.stderr)
    return 1 if failed else 0


def expand_inputs(inputs: list[str]) -> list[Path]:
    """Files as given (in order) and each folder's image files (sorted); duplicates dropped."""
    images: list[Path] = []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise CommandError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in folder {path}")
            images.extend(found)
        elif path.exists():
            images.append(path)
        else:
            raise CommandError(f"no such file or folder: {path}")
    unique: dict[Path, Path] = {}
    for p in images:
        unique.setdefault(p.resolve(), p)
    return list(unique.values())


def output_keys(images: list[Path]) -> list[str]:
    """Output stems; two inputs with the same stem would overwrite each other's results."""
    keys = [image_key(p.name) for p in images]
    seen: dict[str, Path] = {}
    for key, path in zip(keys, images):
        if key in seen:
            raise CommandError(f"{seen[key]} and {path} would both write {key}.json; "
                               f"process them into different --out folders")
        seen[key] = path
    return keys


def _with_splitter(predictor: Predictor, splitter: str, device: str) -> Predictor:
    from karyostudio.models.overlap.stage import with_splitter  # loads torch

    try:
        return with_splitter(predictor, splitter, device)
    except (UnknownModelError, ManifestError, DeviceUnavailableError) as exc:
        raise CommandError(f"cannot load splitter {splitter!r}: {exc}") from None


def _load(model: str, device: str) -> Predictor:
    try:
        return load_predictor(model, device=device)
    except (UnknownModelError, ManifestError, DeviceUnavailableError) as exc:
        raise CommandError(str(exc)) from None


def predict_one(predictor: Predictor, path: Path, key: str, out: Path, *, karyogram: bool, progress=None) -> SummaryRow:
    """Predict one image and write its files; failures become an error row, never an exception."""
    start = time.perf_counter()
    try:
        image = read_image(path)
        instances = predictor.predict(image, progress=progress)
        karyotype = prediction_karyotype(instances)
        picture = render_karyogram(image, instances, title=path.name, karyotype=karyotype) if karyogram else None
        height, width = image.shape[:2]
        # write_labelme stores imagePath relative to the JSON file's folder.
        write_labelme(out / f"{key}.json", ImageAnnotations(key=key, instances=instances,
                                                            image_path=path.resolve(), image_size=(width, height)))
        if picture is not None:
            write_png(out / f"{key}_karyogram.png", picture)
    except FormatError as exc:  # unreadable image, unwritable output: the message says it all
        return SummaryRow(str(path), "", "", _elapsed(start), "error", str(exc))
    except Exception as exc:  # noqa: BLE001 - one bad image must not end a long batch; it is reported
        return SummaryRow(str(path), "", "", _elapsed(start), "error", f"{type(exc).__name__}: {exc}")
    return SummaryRow(str(path), len(instances), karyotype, _elapsed(start), "ok", "")


def _elapsed(start: float) -> float:
    return round(time.perf_counter() - start, 3)


def write_summary(path: Path, rows: list[SummaryRow]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([f.name for f in fields(SummaryRow)])
    writer.writerows(astuple(r) for r in rows)
    atomic_write_text(path, buffer.getvalue())
