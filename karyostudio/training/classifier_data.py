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
import multiprocessing
import xml.etree.ElementTree as ET
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import cv2
import numpy as np

from karyostudio.core.classes import NUM_CLASSES, UnknownLabelError, class_index, parse_label
from karyostudio.core.progress import CancelToken, ProgressCallback, check, report
from karyostudio.io.atomic import atomic_open
from karyostudio.io.errors import AnnotationReadError, ImageReadError
from karyostudio.models.classic.crops import NUM_FEATURES, box_crops
from karyostudio.training.capture_style import CAPTURE_STYLE_VERSION, capture_style

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


def labelme_crops(folders: Sequence[str | Path], *, out_size: tuple[int, int],
                  cancel: CancelToken | None = None) -> CropDataset | None:
    """Crops of the named chromosomes in folders of (reviewed) annotation files, or None when
    they hold none. Outlines are cropped through their own masks; box-only instances like
    training boxes (crop_from_box). Unnamed outlines are left out: they teach no class."""
    from karyostudio.core.annotated_image import BOX_ONLY
    from karyostudio.geometry.polygons import polygon_bbox
    from karyostudio.io.annotation_set import load_annotation_set
    from karyostudio.io.images import read_image
    from karyostudio.models.classic.crops import cell_crops

    crops, feats, labels, cells, ids = [], [], [], [], []
    for folder in folders:
        for key, ann in sorted(load_annotation_set(folder).items()):
            check(cancel)
            named = [i for i in ann.instances if i.label is not None]
            if not named or ann.image_path is None or not ann.image_path.is_file():
                continue
            image = read_image(ann.image_path)
            for box_only in (False, True):
                part = [i for i in named if bool(i.attributes.get(BOX_ONLY, False)) == box_only]
                if not part:
                    continue
                cc = (box_crops(image, [polygon_bbox(i.polygon) for i in part], out_size=out_size) if box_only
                      else cell_crops(image, [i.polygon for i in part], out_size=out_size))
                v = cc.valid
                crops.append(np.round(cc.crops[v] * 255).astype(np.uint8))
                feats.append(cc.features[v])
                labels.append(np.array([class_index(i.label) for i in part], dtype=np.int64)[v])
                cells.append(np.full(int(v.sum()), len(ids), dtype=np.int32))
            ids.append(f"{Path(folder).name}/{key}")
    if not ids or not sum(len(lb) for lb in labels):
        return None
    return CropDataset(np.concatenate(crops), np.concatenate(feats), np.concatenate(labels),
                       np.concatenate(cells), ids)


def concat_crops(first: CropDataset, second: CropDataset) -> CropDataset:
    """Both datasets' crops; the second's cells come after the first's (ids marked "#2")."""
    return CropDataset(np.concatenate([first.crops, second.crops]), np.concatenate([first.features, second.features]),
                       np.concatenate([first.labels, second.labels]),
                       np.concatenate([first.cell, second.cell + len(first.image_ids)]).astype(np.int32),
                       [*first.image_ids, *(f"{i}#2" for i in second.image_ids)])


def _read_cell(root: Path, image_id: str) -> tuple[VocCell, np.ndarray]:
    cell = read_voc_boxes(root / "annotations" / f"{image_id}.xml")
    image_path = root / "JEPG" / f"{image_id}.jpg"
    image = cv2.imread(str(image_path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise ImageReadError(image_path, "cannot read image")
    return cell, image


def _empty_crops(out_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.zeros((0, *out_size), np.uint8), np.zeros((0, NUM_FEATURES), np.float32), np.zeros(0, np.int16)


def _annotated_crops(cell: VocCell, image: np.ndarray, out_size: tuple[int, int]) -> tuple:
    """(crops as uint8, features, labels) of the annotated boxes of one image."""
    if not cell.boxes:
        return _empty_crops(out_size)
    cc = box_crops(image, cell.boxes, out_size=out_size)
    labels = np.array([class_index(lb) for lb in cell.labels], dtype=np.int16)
    v = cc.valid
    return np.round(cc.crops[v] * 255).astype(np.uint8), cc.features[v], labels[v]


def _cell_crops(args: tuple[Path, str, tuple[int, int]]) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    root, image_id, out_size = args
    cell, image = _read_cell(root, image_id)
    return (image_id, *_annotated_crops(cell, image, out_size))


def _results(jobs: list[tuple], work: Callable[[tuple], tuple], workers: int, torch_work: bool) -> Iterator[tuple]:
    if workers <= 1:
        yield from map(work, jobs)
        return
    # Workers that run torch are spawned: a forked child of a process whose OpenMP threads have
    # run can deadlock in torch. The others are forked (fast to start) and use numpy/OpenCV only.
    pool = (ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                initializer=_torch_worker) if torch_work else ProcessPoolExecutor(max_workers=workers))
    try:
        yield from pool.map(work, jobs, chunksize=8)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # a cancelled build does not finish the queue


def _torch_worker() -> None:
    import torch

    cv2.setNumThreads(1)
    torch.set_num_threads(1)  # the workers share the machine's cores


def _collect(jobs: list[tuple], work: Callable[[tuple], tuple], workers: int, progress: ProgressCallback | None,
             cancel: CancelToken | None, message: str, root: Path, *, torch_work: bool = False) -> CropDataset:
    crops, feats, labels, cells, ids = [], [], [], [], []
    results = _results(jobs, work, workers, torch_work)
    try:
        for k, (image_id, c, f, lb) in enumerate(results):
            check(cancel)
            crops.append(c)
            feats.append(f)
            labels.append(lb)
            cells.append(np.full(len(lb), len(ids), dtype=np.int32))
            ids.append(image_id)
            report(progress, k + 1, len(jobs), message)
    finally:
        results.close()
    if not ids:
        raise AnnotationReadError(root, "no images to crop")
    return CropDataset(np.concatenate(crops), np.concatenate(feats), np.concatenate(labels).astype(np.int64),
                       np.concatenate(cells), ids)


def build_crop_dataset(root: str | Path, image_ids: Sequence[str], *, out_size: tuple[int, int],
                       workers: int = 1, progress: ProgressCallback | None = None,
                       cancel: CancelToken | None = None) -> CropDataset:
    """Crop every annotated chromosome of the given images (cancellable between images)."""
    root = Path(root)
    jobs = [(root, i, tuple(out_size)) for i in image_ids]
    return _collect(jobs, _cell_crops, workers, progress, cancel, "cropping chromosomes", root)


# Label of crops that are no chromosome (the classifier's reject output, see NetConfig.reject).
REJECT_LABEL = NUM_CLASSES
NEAR_MISS_IOU = 0.4  # unmatched detections this close to an unfound chromosome are left out
_DETECTORS: dict[str, Any] = {}  # per process: loaded detectors by weights path


def match_detections(boxes: np.ndarray, gt_boxes: np.ndarray, gt_labels: np.ndarray) -> np.ndarray:
    """Training labels of detector boxes (best score first): the class of the annotated chromosome
    each one finds (one-to-one, box IoU >= 0.5, in score order), REJECT_LABEL for the rest, or -1
    for a near miss (IoU >= NEAR_MISS_IOU with a chromosome nothing found), which is ambiguous."""
    labels = np.full(len(boxes), REJECT_LABEL, dtype=np.int64)
    if len(boxes) == 0 or len(gt_boxes) == 0:
        return labels
    iou = _box_iou_matrix(np.asarray(boxes, np.float64), np.asarray(gt_boxes, np.float64))
    taken = np.zeros(len(gt_boxes), dtype=bool)
    for d in range(len(boxes)):
        candidates = np.where(taken, -1.0, iou[d])
        g = int(np.argmax(candidates))
        if candidates[g] >= 0.5:
            taken[g] = True
            labels[d] = gt_labels[g]
    for d in np.flatnonzero(labels == REJECT_LABEL):
        if (np.where(taken, 0.0, iou[d]) >= NEAR_MISS_IOU).any():
            labels[d] = -1
    return labels


def _box_iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    iw = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    union = area(a)[:, None] + area(b)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def _detector_cell_crops(args: tuple[Path, str, tuple[int, int], str, float]) -> tuple:
    """Crops of what a detector finds in one annotated image, labelled by match_detections."""
    root, image_id, out_size, detector_path, score_floor = args
    cell, image = _read_cell(root, image_id)
    return (image_id, *_detected_crops(cell, image, detector_path, score_floor, out_size))


def _detected_crops(cell: VocCell, image: np.ndarray, detector_path: str, score_floor: float,
                    out_size: tuple[int, int]) -> tuple:
    """(crops as uint8, features, labels by match_detections) of what the detector finds in one image."""
    from karyostudio.models.centernet.predictor import load_detector  # torch: only in crop workers

    detector = _DETECTORS.get(detector_path)
    if detector is None:
        detector = _DETECTORS[detector_path] = load_detector(detector_path)
    found = detector.detect(image, score_floor=score_floor).detections
    if len(found) == 0:
        return _empty_crops(out_size)
    labels = match_detections(found.boxes, np.array(cell.boxes, np.float64).reshape(-1, 4),
                              np.array([class_index(lb) for lb in cell.labels], dtype=np.int64))
    cc = box_crops(image, found.boxes, out_size=out_size)
    v = cc.valid & (labels >= 0)
    return np.round(cc.crops[v] * 255).astype(np.uint8), cc.features[v], labels[v].astype(np.int16)


def build_detector_crops(root: str | Path, image_ids: Sequence[str], detector_path: str | Path, *,
                         out_size: tuple[int, int], score_floor: float, workers: int = 1,
                         progress: ProgressCallback | None = None, cancel: CancelToken | None = None,
                         cache_dir: str | Path | None = None) -> CropDataset:
    """Crops of a detector's boxes on annotated images, as the classifier sees them at run time,
    with the found chromosomes' classes and REJECT_LABEL for its false detections (cached)."""
    from karyostudio.models.manifest import sha256_file

    ids = sorted(image_ids)
    detector_path = str(Path(detector_path).resolve())
    key = "\n".join([*ids, sha256_file(detector_path), f"{score_floor:.4f}", str(CROP_CODE_VERSION)])
    jobs = [(Path(root), i, tuple(out_size), detector_path, float(score_floor)) for i in ids]
    return _cached(_keyed_cache_path(cache_dir, "detector-crops", out_size, key),
                   lambda: _collect(jobs, _detector_cell_crops, workers, progress, cancel, "cropping detections",
                                    Path(root), torch_work=True))


def _styled_cell_crops(args: tuple[Path, str, int, tuple[int, int], str | None, float, int]) -> tuple:
    """Crops of one image re-recorded in a capture style drawn from (seed, copy, id): its annotated
    boxes and, with a detector, what the detector finds in the styled image."""
    root, image_id, copy, out_size, detector_path, score_floor, seed = args
    cell, image = _read_cell(root, image_id)
    image = capture_style(image, np.random.default_rng([seed, copy, int(hashlib.sha256(image_id.encode())
                                                                         .hexdigest()[:8], 16)]))
    parts = [_annotated_crops(cell, image, out_size)]
    if detector_path is not None:
        parts.append(_detected_crops(cell, image, detector_path, score_floor, out_size))
    return (f"{image_id}~style{copy}", *(np.concatenate(column) for column in zip(*parts)))


def build_styled_crops(root: str | Path, image_ids: Sequence[str], copies: int, seed: int, *,
                       out_size: tuple[int, int], detector_path: str | Path | None, score_floor: float,
                       workers: int = 1, progress: ProgressCallback | None = None,
                       cancel: CancelToken | None = None, cache_dir: str | Path | None = None) -> CropDataset:
    """``copies`` more crop sets of the given images, each image re-recorded in a drawn capture
    style (training/capture_style.py) before its annotated and detected boxes are cropped (cached)."""
    from karyostudio.models.manifest import sha256_file

    ids = sorted(image_ids)
    detector = str(Path(detector_path).resolve()) if detector_path is not None else None
    key = "\n".join([*ids, sha256_file(detector) if detector else "-", f"{score_floor:.4f}", str(copies),
                     str(seed), str(CROP_CODE_VERSION), str(CAPTURE_STYLE_VERSION)])
    jobs = [(Path(root), i, k, tuple(out_size), detector, float(score_floor), int(seed))
            for k in range(copies) for i in ids]
    return _cached(_keyed_cache_path(cache_dir, "styled-crops", out_size, key),
                   lambda: _collect(jobs, _styled_cell_crops, workers, progress, cancel, "cropping restyled images",
                                    Path(root), torch_work=detector is not None))


# Synthetic cells for the classifier: chromosomes drawn in other styles than the training lab's,
# half of them with sister chromatids apart, so that the "no chromosome" output does not learn
# that an unfamiliar-looking chromosome is junk (the detector finds them; the classifier kept
# dropping them). Gaps are drawn from SYNTH_GAP_RANGE.
SYNTH_GAP_RANGE = (0.15, 0.5)
SYNTH_SIZE = 768


def _synth_cell_crops(args: tuple[int, int, tuple[int, int]]) -> tuple:
    """Crops of every chromosome of synthetic cell ``index`` (seeded), cut from its tight boxes."""
    from karyostudio.geometry.polygons import polygon_bbox
    from karyostudio.synth import SynthConfig, generate_metaphase, rng_for

    seed, index, out_size = args
    style = np.random.default_rng([seed, index, 1])
    gap = float(style.uniform(*SYNTH_GAP_RANGE)) if style.random() < 0.5 else 0.0
    cell = generate_metaphase(rng_for(seed, index), SynthConfig(size=SYNTH_SIZE, chromatid_gap=gap))
    cc = box_crops(cell.image, [polygon_bbox(i.polygon) for i in cell.instances], out_size=out_size)
    labels = np.array([class_index(i.label) for i in cell.instances], dtype=np.int16)
    v = cc.valid
    return f"synth-{seed}-{index}", np.round(cc.crops[v] * 255).astype(np.uint8), cc.features[v], labels[v]


def build_synth_crops(count: int, seed: int, *, out_size: tuple[int, int], workers: int = 1,
                      progress: ProgressCallback | None = None, cancel: CancelToken | None = None,
                      cache_dir: str | Path | None = None) -> CropDataset:
    """Crops of the chromosomes of ``count`` synthetic cells (see _synth_cell_crops), cached."""
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"synth-crops-{out_size[0]}x{out_size[1]}-{count}-{seed}-v{CROP_CODE_VERSION}.npz"
    jobs = [(seed, k, tuple(out_size)) for k in range(count)]
    return _cached(path, lambda: _collect(jobs, _synth_cell_crops, workers, progress, cancel,
                                          "cropping synthetic chromosomes", Path(f"synthetic cells (seed {seed})")))


def cache_path(cache_dir: str | Path, image_ids: Sequence[str], out_size: tuple[int, int]) -> Path:
    digest = hashlib.sha256("\n".join(image_ids).encode()).hexdigest()[:12]
    return Path(cache_dir) / f"chromosome-crops-{out_size[0]}x{out_size[1]}-v{CROP_CODE_VERSION}-{digest}.npz"


def load_or_build(root: str | Path, cache_dir: str | Path | None, *, out_size: tuple[int, int],
                  image_ids: Sequence[str] | None = None, workers: int = 1,
                  progress: ProgressCallback | None = None, cancel: CancelToken | None = None) -> CropDataset:
    """The crop dataset of ``root`` (all listed ids by default), from the cache when it is there."""
    ids = sorted(image_ids) if image_ids is not None else list_image_ids(root)
    path = cache_path(cache_dir, ids, out_size) if cache_dir is not None else None
    return _cached(path, lambda: build_crop_dataset(root, ids, out_size=out_size, workers=workers,
                                                    progress=progress, cancel=cancel))


def _keyed_cache_path(cache_dir: str | Path | None, kind: str, out_size: tuple[int, int], key: str) -> Path | None:
    """Where a crop set of this kind and size is cached under the digest of ``key`` (None: not cached)."""
    if cache_dir is None:
        return None
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return Path(cache_dir) / f"{kind}-{out_size[0]}x{out_size[1]}-{digest}.npz"


def _cached(path: Path | None, build: Callable[[], CropDataset]) -> CropDataset:
    """The crop set cached at ``path``, or ``build()`` saved there (path None: built, not cached)."""
    if path is not None and path.is_file():
        return CropDataset.load(path)
    data = build()
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
