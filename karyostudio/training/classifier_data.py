"""Chromosome crop datasets for the classifier, built from Taichung-style Pascal VOC data.

Layout read (as published upstream): ``<root>/JEPG/<id>.jpg`` images, ``<root>/annotations/<id>.xml``
VOC boxes named A1..G22, X, Y, and optionally ``<root>/train.txt`` listing the ids.

Validation is split BY PATIENT so that no patient's cells are on both sides: the patient of an
image id is the id without its last character (Taichung ids are a patient/slide number followed
by one cell digit, e.g. 1052821 -> 105282). Patients are shuffled with the seed and the first
``val_fraction`` of them held out, so the split is deterministic for a given seed and id list.

Crops are cached as one compressed .npz (uint8 crops) keyed by crop size, crop-code version and
the id list, so later runs skip the slow part.
"""

from __future__ import annotations

import hashlib
import math
import xml.etree.ElementTree as ET
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import cv2
import numpy as np

from karyostudio.core.classes import UnknownLabelError, class_index, parse_label
from karyostudio.core.progress import CancelToken, ProgressCallback, check, report
from karyostudio.io.atomic import atomic_open
from karyostudio.io.errors import AnnotationReadError, ImageReadError
from karyostudio.models.classic.crops import NUM_FEATURES, box_crops

# Bump when crop extraction changes so stale caches are rebuilt.
CROP_CODE_VERSION = 2


@dataclass(frozen=True)
class VocCell:
    """Boxes (xmin, ymin, xmax, ymax) and canonical labels of one annotated image."""

    image_id: str
    boxes: list[tuple[float, float, float, float]]
    labels: list[str]
    skipped: list[str]


def read_voc_boxes(xml_path: str | Path) -> VocCell:
    """Boxes and labels of a Pascal VOC file; objects with unknown names are reported in ``skipped``."""
    path = Path(xml_path)
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise AnnotationReadError(path, f"cannot read VOC XML ({exc})") from None
    boxes, labels, skipped = [], [], []
    for k, obj in enumerate(root.iter("object")):
        name = (obj.findtext("name") or "").strip()
        try:
            label = parse_label(name, "voc")
            bb = obj.find("bndbox")
            if bb is None:
                raise ValueError("no bndbox")
            box = tuple(float(bb.findtext(t)) for t in ("xmin", "ymin", "xmax", "ymax"))
        except UnknownLabelError:
            skipped.append(f"object {k}: unknown label {name!r}")
            continue
        except (TypeError, ValueError) as exc:
            skipped.append(f"object {k}: bad box ({exc})")
            continue
        if box[2] <= box[0] or box[3] <= box[1]:
            skipped.append(f"object {k}: empty box {box}")
            continue
        boxes.append(box)
        labels.append(label)
    return VocCell(image_id=path.stem, boxes=boxes, labels=labels, skipped=skipped)


def patient_of(image_id: str) -> str:
    """The patient an image id belongs to: the id without its last character."""
    return image_id[:-1]


def split_by_patient(image_ids: Sequence[str], val_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """(train ids, validation ids) with every patient entirely on one side."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    patients = sorted({patient_of(i) for i in image_ids})
    order = np.random.default_rng(seed).permutation(len(patients))
    n_val = math.ceil(val_fraction * len(patients)) if val_fraction > 0 else 0
    if len(patients) > 1:
        n_val = min(n_val, len(patients) - 1)
    held = {patients[k] for k in order[:n_val]}
    train = [i for i in image_ids if patient_of(i) not in held]
    val = [i for i in image_ids if patient_of(i) in held]
    return train, val


def list_image_ids(root: str | Path) -> list[str]:
    """Ids from train.txt when present, else every annotation file's stem; sorted."""
    root = Path(root)
    listing = root / "train.txt"
    if listing.is_file():
        ids = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
    else:
        ids = [p.stem for p in (root / "annotations").glob("*.xml")]
    if not ids:
        raise AnnotationReadError(root, "no annotated images found (expected train.txt or annotations/*.xml)")
    return sorted(ids)


@dataclass
class CropDataset:
    """Crops of many cells: crops (N, H, W) uint8 darkness*255, features (N, F), labels (N,)
    class indices, cell (N,) index into image_ids."""

    crops: np.ndarray
    features: np.ndarray
    labels: np.ndarray
    cell: np.ndarray
    image_ids: list[str]

    def __len__(self) -> int:
        return len(self.labels)

    def select_cells(self, image_ids: Sequence[str]) -> "CropDataset":
        """The crops of the given images only (cell indices renumbered)."""
        wanted = {i: k for k, i in enumerate(image_ids)}
        remap = np.array([wanted.get(i, -1) for i in self.image_ids], dtype=np.int64)
        new_cell = remap[self.cell] if len(self.cell) else self.cell
        keep = new_cell >= 0
        return CropDataset(self.crops[keep], self.features[keep], self.labels[keep],
                           new_cell[keep].astype(np.int32), list(image_ids))

    def save(self, path: str | Path) -> None:
        with atomic_open(path, "wb") as handle:
            np.savez_compressed(handle, crops=self.crops, features=self.features, labels=self.labels,
                                cell=self.cell, image_ids=np.array(self.image_ids, dtype=str))

    @classmethod
    def load(cls, path: str | Path) -> "CropDataset":
        with np.load(path, allow_pickle=False) as z:
            return cls(z["crops"], z["features"], z["labels"], z["cell"], [str(s) for s in z["image_ids"]])


def _cell_crops(args: tuple[Path, str, tuple[int, int]]) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    root, image_id, out_size = args
    cell = read_voc_boxes(root / "annotations" / f"{image_id}.xml")
    image_path = root / "JEPG" / f"{image_id}.jpg"
    image = cv2.imread(str(image_path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise ImageReadError(image_path, "cannot read image")
    empty = (np.zeros((0, *out_size), np.uint8), np.zeros((0, NUM_FEATURES), np.float32), np.zeros(0, np.int16))
    if not cell.boxes:
        return (image_id, *empty)
    cc = box_crops(image, cell.boxes, out_size=out_size)
    labels = np.array([class_index(lb) for lb in cell.labels], dtype=np.int16)
    v = cc.valid
    return image_id, np.round(cc.crops[v] * 255).astype(np.uint8), cc.features[v], labels[v]


def _results(jobs: list[tuple[Path, str, tuple[int, int]]], workers: int) -> Iterator[tuple]:
    if workers <= 1:
        yield from map(_cell_crops, jobs)
        return
    pool = ProcessPoolExecutor(max_workers=workers)
    try:
        yield from pool.map(_cell_crops, jobs, chunksize=8)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # a cancelled build does not finish the queue


def build_crop_dataset(root: str | Path, image_ids: Sequence[str], *, out_size: tuple[int, int],
                       workers: int = 1, progress: ProgressCallback | None = None,
                       cancel: CancelToken | None = None) -> CropDataset:
    """Crop every annotated chromosome of the given images (cancellable between images)."""
    root = Path(root)
    jobs = [(root, i, tuple(out_size)) for i in image_ids]
    crops, feats, labels, cells, ids = [], [], [], [], []
    results = _results(jobs, workers)
    try:
        for k, (image_id, c, f, lb) in enumerate(results):
            check(cancel)
            crops.append(c)
            feats.append(f)
            labels.append(lb)
            cells.append(np.full(len(lb), len(ids), dtype=np.int32))
            ids.append(image_id)
            report(progress, k + 1, len(jobs), "cropping chromosomes")
    finally:
        results.close()
    if not ids:
        raise AnnotationReadError(root, "no images to crop")
    return CropDataset(np.concatenate(crops), np.concatenate(feats), np.concatenate(labels).astype(np.int64),
                       np.concatenate(cells), ids)


def cache_path(cache_dir: str | Path, image_ids: Sequence[str], out_size: tuple[int, int]) -> Path:
    digest = hashlib.sha256("\n".join(image_ids).encode()).hexdigest()[:12]
    return Path(cache_dir) / f"chromosome-crops-{out_size[0]}x{out_size[1]}-v{CROP_CODE_VERSION}-{digest}.npz"


def load_or_build(root: str | Path, cache_dir: str | Path | None, *, out_size: tuple[int, int],
                  image_ids: Sequence[str] | None = None, workers: int = 1,
                  progress: ProgressCallback | None = None, cancel: CancelToken | None = None) -> CropDataset:
    """The crop dataset of ``root`` (all listed ids by default), from the cache when it is there."""
    ids = sorted(image_ids) if image_ids is not None else list_image_ids(root)
    path = cache_path(cache_dir, ids, out_size) if cache_dir is not None else None
    if path is not None and path.is_file():
        return CropDataset.load(path)
    data = build_crop_dataset(root, ids, out_size=out_size, workers=workers, progress=progress, cancel=cancel)
    if path is not None:
        _make_cache_dir(path.parent)
        data.save(path)
    return data


def _make_cache_dir(cache_dir: Path) -> None:
    """Create the cache folder with a .gitignore of its own, so caches never enter version control."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    ignore = cache_dir / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")
