"""`karyostudio predict`: segment and classify metaphase images in a batch.

For every image (folders are expanded to their supported image files, sorted) it writes, into
--out: ``<stem>.json`` (labelme polygons with labels and scores; imagePath relative to the JSON
file), ``<stem>_karyogram.png`` (unless --no-karyogram), and ``summary.csv`` with one row per
image (image, count, named, unnamed, clusters, karyotype, seconds, status, error). count is the
cell's chromosome count, the number its karyotype starts with: named plus unnamed single
chromosomes (karyostudio.core.cell_count); unsplit clusters are reported in their own column and
counted in neither. The karyogram is the app's page layout (karyostudio.render.karyogram_image):
clusters and unnamed outlines are left out of its rows and named in its header.

summary.csv describes the whole folder and never misses a written result: an image's row is
written before its JSON file appears, and every run starts by reconciling the summary with the
folder (rows rebuilt from result files it lacks, e.g. after a kill -9, and rows of results that
are gone dropped). Temporary files that killed runs left in the folder are removed then too.

An image that cannot be read or processed, or takes longer than --timeout seconds, is reported
on stderr and in summary.csv, and the batch goes on. Exit status: 0 when every image succeeded,
1 when some failed, 2 for usage errors (unknown model, missing input path, unusable device, an
output folder that cannot be written). Asking for --device cuda on a machine without CUDA is an
error rather than a silent fall-back to the CPU: a batch planned for a GPU can take hours on a
CPU, and the user should decide that.
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
from karyostudio.core.cell_count import CellCount, count_cell
from karyostudio.core.progress import CancelToken, Cancelled
from karyostudio.io.atomic import atomic_write_text, check_writable_folder, remove_stale_temp_files
from karyostudio.io.errors import FormatError
from karyostudio.io.images import IMAGE_SUFFIXES, image_key, orientation_extra, read_image
from karyostudio.io.labelme import load_json, write_labelme
from karyostudio.models.base import Predictor
from karyostudio.models.manifest import ManifestError
# The registry imports model families (and torch) only when a model is loaded.
from karyostudio.models.registry import DEFAULT_MODEL, DeviceUnavailableError, UnknownModelError, load_predictor
from karyostudio.render.karyogram_image import render_karyogram, write_png

SUMMARY_NAME = "summary.csv"
DEFAULT_TIMEOUT_S = 600.0
PREDICTION_KEY = "karyostudioPrediction"  # top-level key of result files: what summary.csv says of them
DEFAULT_SPLITTER = "chromseg-cpu"  # karyostudio.models.overlap.stage.DEFAULT_SPLITTER, without importing torch


@dataclass
class SummaryRow:
    image: str
    count: int | str  # chromosomes: named + unnamed (the karyotype's number)
    named: int | str
    unnamed: int | str
    clusters: int | str
    karyotype: str
    seconds: float
    status: str  # "ok" or "error"
    error: str


_OLD_COLUMNS = ["image", "count", "karyotype", "seconds", "status", "error"]  # before named/unnamed/clusters


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
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, metavar="SECONDS",
                        help=f"give up on an image after this many seconds (reported as failed, the batch "
                             f"goes on); 0 means no limit (default: {DEFAULT_TIMEOUT_S:g})")
    parser.add_argument("--split-clusters", nargs="?", const=DEFAULT_SPLITTER, default=None, metavar="SPLITTER",
                        help=f"split crossing clusters with a ChromSeg splitter and name the pieces "
                             f"(default splitter: {DEFAULT_SPLITTER}; put it after the images or name the "
                             f"splitter, or it takes the next argument as its name)")


def run(args: argparse.Namespace) -> int:
    if args.timeout < 0:
        raise CommandError(f"--timeout must be 0 (no limit) or a number of seconds, got {args.timeout:g}")
    images = expand_inputs(args.inputs)
    keys = output_keys(images)
    predictor = _load(args.model, args.device)
    if args.split_clusters is not None:
        predictor = _with_splitter(predictor, args.split_clusters, args.device)
    out: Path = args.out
    try:
        check_writable_folder(out)
        remove_stale_temp_files(out)
        summary = Summary.reconcile(out)
        summary.write()
    except FormatError as exc:
        raise CommandError(f"cannot write the results: {exc}") from None

    failed = 0
    with tqdm(total=len(images), unit="image", file=sys.stderr, dynamic_ncols=True) as bar:
        for path, key in zip(images, keys):
            bar.set_description(path.name)
            row = predict_one(predictor, path, key, out, karyogram=not args.no_karyogram, summary=summary,
                              timeout=args.timeout or None,
                              progress=lambda done, total, msg="": bar.set_postfix_str(msg, refresh=False))
            if row.status != "ok":
                failed += 1
                tqdm.write(f"karyostudio predict: {path}: {row.error}", file=sys.stderr)
            elif (counted := CellCount(row.named, row.unnamed, row.clusters)).no_metaphase:
                tqdm.write(f"karyostudio predict: {path}: {counted.result_text()}", file=sys.stderr)
            bar.update(1)
    print(f"{len(images) - failed} of {len(images)} image(s) done, {failed} failed; results in {out}",
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


def predict_one(predictor: Predictor, path: Path, key: str, out: Path, *, karyogram: bool,
                summary: "Summary | None" = None, timeout: float | None = None, progress=None) -> SummaryRow:
    """Predict one image and write its files; failures become an error row, never an exception.

    The karyogram is written first, then the image's summary row, then its JSON file: at every
    moment each result file in the folder has its row in summary.csv.
    """
    start = time.perf_counter()
    token = CancelToken()
    if timeout is not None:
        token.cancel_after(timeout, f"timed out after {timeout:g} s (see --timeout); the batch went on")
    try:
        image = read_image(path)
        with token.interruptible():  # the time limit also stops a stage that never checks its token
            instances = predictor.predict(image, progress=progress, cancel=token)
            counted = count_cell(instances)
            picture = render_karyogram(image, instances, title=path.name, karyotype=counted.karyotype) \
                if karyogram else None
        token.dispose()
        height, width = image.shape[:2]
        row = SummaryRow(str(path), counted.chromosomes, counted.named, counted.unnamed, counted.clusters,
                         counted.karyotype, _elapsed(start), "ok", "")
        marker = {"image": row.image, "count": row.count, "named": row.named, "unnamed": row.unnamed,
                  "clusters": row.clusters, "karyotype": row.karyotype, "seconds": row.seconds,
                  "model": getattr(predictor, "name", "")}
        # write_labelme stores imagePath relative to the JSON file's folder.
        annotations = ImageAnnotations(key=key, instances=instances, image_path=path.resolve(),
                                       image_size=(width, height),
                                       extra={**orientation_extra(path), PREDICTION_KEY: marker})
        if picture is not None:
            write_png(out / f"{key}_karyogram.png", picture)
        if summary is not None:
            summary.put(key, row)
            summary.write()
        write_labelme(out / f"{key}.json", annotations)
    except FormatError as exc:  # unreadable image, unwritable output: the message says it all
        row = SummaryRow(str(path), "", "", "", "", "", _elapsed(start), "error", str(exc))
    except Cancelled as exc:  # the time limit
        row = SummaryRow(str(path), "", "", "", "", "", _elapsed(start), "error", str(exc))
    except MemoryError:
        row = SummaryRow(str(path), "", "", "", "", "", _elapsed(start), "error",
                         "out of memory: the image is too large or holds too many objects for this machine")
    except Exception as exc:  # noqa: BLE001 - one bad image must not end a long batch; it is reported
        row = SummaryRow(str(path), "", "", "", "", "", _elapsed(start), "error", f"{type(exc).__name__}: {exc}")
    finally:
        token.dispose()
    if summary is not None and (row.status != "ok" or summary.rows.get(key) is not row):
        summary.put(key, row)
        try:
            summary.write()
        except FormatError as exc:
            row.error = row.error or str(exc)
    return row


def _elapsed(start: float) -> float:
    return round(time.perf_counter() - start, 3)


class Summary:
    """summary.csv of an output folder: one row per image key, rewritten atomically on each change."""

    def __init__(self, path: Path, rows: dict[str, SummaryRow] | None = None):
        self.path = path
        self.rows: dict[str, SummaryRow] = dict(rows or {})

    @classmethod
    def reconcile(cls, out: Path) -> "Summary":
        """The folder's summary as it should be: its previous rows whose results still exist (or that
        report errors), plus rows rebuilt from result files the previous summary lacks."""
        previous = read_summary(out / SUMMARY_NAME)
        rows: dict[str, SummaryRow] = {}
        for row in previous:
            key = image_key(Path(row.image).name)
            if row.status != "ok" or (out / f"{key}.json").is_file():
                rows[key] = row
        for json_path in sorted(out.glob("*.json")):
            if json_path.stem not in rows:
                row = _row_from_result(json_path)
                if row is not None:
                    rows[json_path.stem] = row
        return cls(out / SUMMARY_NAME, rows)

    def put(self, key: str, row: SummaryRow) -> None:
        self.rows[key] = row

    def write(self) -> None:
        write_summary(self.path, list(self.rows.values()))


def _row_from_result(json_path: Path) -> SummaryRow | None:
    """The summary row a result file of ours carries (None for other JSON files)."""
    try:
        data = load_json(json_path)
    except FormatError:
        return None
    marker = data.get(PREDICTION_KEY) if isinstance(data, dict) else None
    if not isinstance(marker, dict) or not isinstance(marker.get("image"), str):
        return None
    return SummaryRow(marker["image"], marker.get("count", ""), marker.get("named", ""), marker.get("unnamed", ""),
                      marker.get("clusters", ""), str(marker.get("karyotype", "")), marker.get("seconds", ""), "ok",
                      "")


def read_summary(path: Path) -> list[SummaryRow]:
    """Rows of an existing summary.csv ([] when there is none or it is not ours)."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            names = [f.name for f in fields(SummaryRow)]
            if reader.fieldnames not in (names, _OLD_COLUMNS):  # an older summary gains empty columns
                return []
            return [SummaryRow(**{n: r.get(n) or "" for n in names}) for r in reader]
    except (OSError, UnicodeDecodeError, csv.Error):
        return []


def write_summary(path: Path, rows: list[SummaryRow]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([f.name for f in fields(SummaryRow)])
    writer.writerows(astuple(r) for r in rows)
    atomic_write_text(path, buffer.getvalue())
