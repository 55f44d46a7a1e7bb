"""COCO instance annotations (ground truth): export, write and read.

Categories are 1..24 named "1".."22", "X", "Y" (category id = class index + 1). Outlines are
written as one polygon per annotation; box-only instances (BOX_ONLY) get an empty
segmentation and only their bbox. Areas are polygon areas (box areas for box-only
instances). Each image entry carries, besides the standard keys, "path": where the image lies
relative to the JSON file, so a conversion keeps track of the images. karyostudio fields
(instance_id, score, source, reviewed, attributes) travel as extra annotation keys, which
pycocotools ignores. Reading accepts polygon, RLE and bbox-only annotations; crowd regions and
unknown categories are reported and skipped, outlines are checked like every reader's
(karyostudio.io.geometry_checks), and a file that declares one category id twice or gives two
annotations the same id is refused: either would silently relabel or merge chromosomes.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from karyostudio.core.annotated_image import BOX_ONLY, AnnotationSet, ImageAnnotations
from karyostudio.core.classes import CLASS_NAMES, UnknownLabelError, class_index, parse_label
from karyostudio.core.instance import Instance
from karyostudio.geometry.polygons import box_to_polygon, mask_to_polygons, polygon_area
from karyostudio.io.atomic import atomic_write_text
from karyostudio.io.coco_rle import decode_rle
from karyostudio.io.errors import AnnotationReadError, AnnotationWriteError, ImageReadError
from karyostudio.io.geometry_checks import checked_polygon, size_conflict
from karyostudio.io.images import image_key, image_size
from karyostudio.io.instance_fields import InvalidFieldError, assign_ids, fields_from_json, fields_to_json
from karyostudio.io.labelme import load_json

COCO_CATEGORIES: list[dict[str, Any]] = [
    {"id": i + 1, "name": name, "supercategory": "chromosome"} for i, name in enumerate(CLASS_NAMES)
]


def category_id(label: str) -> int:
    return class_index(label) + 1


def coco_image_ids(annotations: AnnotationSet) -> dict[str, int]:
    """The image ids export_coco gives by default: 1..N in sorted key order."""
    return {key: i + 1 for i, key in enumerate(sorted(annotations))}


# --- writing -------------------------------------------------------------------------------------

def export_coco(annotations: AnnotationSet, *, image_ids: Mapping[str, int] | None = None,
                folder: Path | None = None, notes: list[str] | None = None) -> dict:
    """COCO instances dict of an AnnotationSet.

    image_ids: key -> COCO image id (default coco_image_ids). folder: where the JSON will
    live, for the images' relative "path". notes: receives one line per instance left out
    (COCO needs a category, so unlabelled instances cannot be written).
    """
    ids = dict(image_ids) if image_ids is not None else coco_image_ids(annotations)
    missing = sorted(set(annotations) - set(ids))
    if missing:
        raise AnnotationWriteError(None, f"no COCO image id given for {len(missing)} image(s), e.g. {missing[0]!r}")
    images, coco_anns = [], []
    for key in sorted(annotations, key=lambda k: ids[k]):
        ann = annotations[key]
        images.append(_image_entry(ann, ids[key], folder))
        for inst in ann.instances:
            if inst.label is None:
                if notes is not None:
                    notes.append(f"{key}: instance {inst.id} has no class; COCO needs a category, not written")
                continue
            entry = {"id": len(coco_anns) + 1, "image_id": ids[key]}
            entry.update(_annotation_geometry(inst))
            entry.update(fields_to_json(inst, drop_attributes=[BOX_ONLY] if not entry["segmentation"] else []))
            coco_anns.append(entry)
    return {
        "info": {"description": "chromosome instances", "version": "1.0"},
        "licenses": [],
        "images": images,
        "annotations": coco_anns,
        "categories": [dict(c) for c in COCO_CATEGORIES],
    }


def _image_entry(ann: ImageAnnotations, image_id: int, folder: Path | None) -> dict[str, Any]:
    size = ann.image_size
    if size is None and ann.image_path is not None and ann.image_path.is_file():
        try:
            size = image_size(ann.image_path)
        except ImageReadError:
            size = None
    if size is None:
        raise AnnotationWriteError(None, f"{ann.key}: image size unknown; COCO needs every image's width "
                                         "and height")
    name_matches = ann.image_path is not None and image_key(ann.image_path.name) == ann.key
    entry: dict[str, Any] = {
        "id": image_id,
        "file_name": ann.image_path.name if name_matches else ann.key,
        "width": int(size[0]),
        "height": int(size[1]),
    }
    if name_matches and folder is not None:
        try:
            entry["path"] = Path(os.path.relpath(ann.image_path.absolute(), Path(folder).absolute())).as_posix()
        except ValueError:  # another drive on Windows
            entry["path"] = ann.image_path.absolute().as_posix()
    return entry


def _annotation_geometry(inst: Instance) -> dict[str, Any]:
    x0, y0, x1, y1 = inst.bbox
    box_only = bool(inst.attributes.get(BOX_ONLY, False))
    return {
        "category_id": category_id(inst.label),
        "segmentation": [] if box_only else [inst.polygon.ravel().tolist()],
        "area": (x1 - x0) * (y1 - y0) if box_only else polygon_area(inst.polygon),
        "bbox": [x0, y0, x1 - x0, y1 - y0],
        "iscrowd": 0,
    }


def write_coco(path: str | Path, annotations: AnnotationSet, *,
               image_ids: Mapping[str, int] | None = None) -> list[str]:
    """Write a COCO instances JSON file atomically; returns notes on instances left out."""
    path = Path(path)
    notes: list[str] = []
    data = export_coco(annotations, image_ids=image_ids, folder=path.parent, notes=notes)
    atomic_write_text(path, dump_json(data, path))
    return notes


def dump_json(data: Any, path: Path) -> str:
    try:
        return json.dumps(data, ensure_ascii=False, allow_nan=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise AnnotationWriteError(path, f"the annotations hold data JSON cannot store: {exc}") from exc


# --- reading -------------------------------------------------------------------------------------

def is_coco_dict(data: Any) -> bool:
    return isinstance(data, dict) and "images" in data and "annotations" in data


def read_coco(path: str | Path) -> AnnotationSet:
    """Read a COCO instances JSON file into an AnnotationSet keyed by image file stem."""
    path = Path(path)
    return coco_from_dict(load_json(path), path)


def read_coco_image_keys(path: str | Path) -> dict[int, str]:
    """COCO image id -> image key of a COCO instances file (to read results that refer to it)."""
    path = Path(path)
    data = load_json(path)
    return {image_id: ann.key for image_id, ann in _read_images(data, path).items()}


def coco_from_dict(data: Any, path: Path) -> AnnotationSet:
    images = _read_images(data, path)
    labels = _read_categories(data, path)
    annotations = data["annotations"]
    if not isinstance(annotations, list):
        raise AnnotationReadError(path, "'annotations' must be a list")
    fields_by_image: dict[int, list[dict]] = {image_id: [] for image_id in images}
    seen_ids: dict[Any, int] = {}
    for index, entry in enumerate(annotations):
        if not isinstance(entry, dict):
            raise AnnotationReadError(path, f"annotation {index + 1} must be a JSON object")
        if entry.get("id") is not None:
            annotation_id = entry["id"]
            if not isinstance(annotation_id, (int, str)) or isinstance(annotation_id, bool):
                raise AnnotationReadError(path, f"annotation {index + 1}: 'id' must be an integer, "
                                                f"found {annotation_id!r}")
            if annotation_id in seen_ids:
                raise AnnotationReadError(path, f"annotation id {annotation_id!r} is used twice (annotations "
                                                f"{seen_ids[annotation_id]} and {index + 1}); ids must be unique")
            seen_ids[annotation_id] = index + 1
        image_id = entry.get("image_id")
        if image_id not in images:
            raise AnnotationReadError(path, f"annotation {index + 1} refers to image_id {image_id!r}, "
                                            "which is not in 'images'")
        ann = images[image_id]
        where = f"annotation {index + 1} (id {entry.get('id')!r}, category {entry.get('category_id')!r})"
        if entry.get("iscrowd", 0):
            ann.skipped.append(f"{where}: a crowd region, not one chromosome; skipped")
            continue
        category = entry.get("category_id")
        if category not in labels:
            raise AnnotationReadError(path, f"{where} refers to a category not in 'categories'")
        if labels[category] is None:
            ann.skipped.append(f"{where}: category is not a chromosome class; skipped")
            continue
        fields = instance_fields(entry, where, ann)
        if fields is not None:
            fields["label"] = labels[category]
            fields_by_image[image_id].append(fields)
    for image_id, kept in fields_by_image.items():
        ids = assign_ids([f.pop("instance_id") for f in kept])
        images[image_id].instances = [Instance(id=i, **f) for i, f in zip(ids, kept)]
    result: AnnotationSet = {}
    for ann in images.values():
        if ann.key in result:
            raise AnnotationReadError(path, f"two images have the key {ann.key!r}")
        result[ann.key] = ann
    return result


def _read_images(data: Any, path: Path) -> dict[int, ImageAnnotations]:
    if not is_coco_dict(data):
        raise AnnotationReadError(path, "not a COCO instances file (expected an object with 'images' and "
                                        "'annotations')")
    if not isinstance(data["images"], list):
        raise AnnotationReadError(path, "'images' must be a list")
    images: dict[int, ImageAnnotations] = {}
    for index, entry in enumerate(data["images"]):
        where = f"image {index + 1}"
        if not isinstance(entry, dict):
            raise AnnotationReadError(path, f"{where} must be a JSON object")
        image_id, file_name = entry.get("id"), entry.get("file_name")
        if not _is_int(image_id) or image_id in images:
            raise AnnotationReadError(path, f"{where}: 'id' must be a distinct integer, found {image_id!r}")
        if not isinstance(file_name, str) or not file_name:
            raise AnnotationReadError(path, f"{where}: 'file_name' must be a non-empty string")
        width, height = entry.get("width"), entry.get("height")
        size = None
        if width is not None or height is not None:
            if not (_is_int(width) and _is_int(height) and width > 0 and height > 0):
                raise AnnotationReadError(path, f"{where}: width and height must be positive integers, "
                                                f"found {width!r} x {height!r}")
            size = (width, height)
        ann = ImageAnnotations(key=image_key(file_name), image_size=size,
                               image_path=_find_image(path, file_name, entry.get("path")))
        if ann.image_path is not None and ann.image_path.is_file():
            try:
                actual = image_size(ann.image_path)
            except ImageReadError:
                actual = None
            if actual is not None and size is not None and actual != size:
                ann.skipped.append(f"{where} ({file_name}): "
                                   + size_conflict(size, actual, f"the image file {ann.image_path.name}"))
            ann.image_size = actual or size
        images[image_id] = ann
    return images


def _find_image(json_path: Path, file_name: str, stored: Any) -> Path | None:
    """The stored relative path, else the first existing candidate, else the file beside the JSON
    (None when file_name is a bare key, which is how images without a known file are written)."""
    folder = json_path.parent
    if isinstance(stored, str) and stored:
        return Path(os.path.normpath(folder / stored))
    relative = Path(file_name.replace("\\", "/"))
    candidates = [folder / relative, folder / "images" / relative, folder.parent / "images" / relative]
    found = next((c for c in candidates if c.is_file()), None)
    if found is None and image_key(file_name) != relative.name:
        found = candidates[0]
    return found


def _read_categories(data: dict, path: Path) -> dict[int, str | None]:
    """category id -> canonical label (None for categories that name no chromosome class)."""
    categories = data.get("categories")
    if categories is None:
        return {c["id"]: c["name"] for c in COCO_CATEGORIES}
    if not isinstance(categories, list):
        raise AnnotationReadError(path, "'categories' must be a list")
    labels: dict[int, str | None] = {}
    names: dict[int, Any] = {}
    for entry in categories:
        if not isinstance(entry, dict) or not _is_int(entry.get("id")):
            raise AnnotationReadError(path, f"each category needs an integer 'id', found {entry!r}")
        if entry["id"] in names:
            raise AnnotationReadError(path, f"category id {entry['id']} is declared twice (as "
                                            f"{names[entry['id']]!r} and as {entry.get('name')!r}); "
                                            "which class its annotations are is ambiguous")
        names[entry["id"]] = entry.get("name")
        try:
            labels[entry["id"]] = parse_label(entry.get("name", ""), "any")
        except UnknownLabelError:
            labels[entry["id"]] = None
    return labels


def instance_fields(entry: dict, where: str, ann: ImageAnnotations) -> dict | None:
    """Instance keyword arguments (plus instance_id) of a COCO annotation or result; None after
    reporting in ann.skipped why it cannot become one."""
    try:
        fields = fields_from_json(entry)
        polygon, box_only = _polygon_of(entry, ann, where)
    except (InvalidFieldError, ValueError) as exc:
        ann.skipped.append(f"{where}: {exc}; skipped")
        return None
    polygon = checked_polygon(polygon, ann.image_size, where, ann.skipped, box_only=box_only)
    if polygon is None:
        return None
    if box_only:
        fields["attributes"][BOX_ONLY] = True
    fields["polygon"] = polygon
    return fields


def _polygon_of(entry: dict, ann: ImageAnnotations, where: str) -> tuple[np.ndarray, bool]:
    """(polygon, box_only) from a segmentation (polygon or RLE), else from the bbox."""
    segmentation = entry.get("segmentation")
    if isinstance(segmentation, dict):
        mask = decode_rle(segmentation)
        if ann.image_size is None:
            ann.image_size = (mask.shape[1], mask.shape[0])
        rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
        if not len(rows):
            raise ValueError("the RLE mask is empty")
        # Trace only the mask's bounding box: full-image contour tracing per instance is slow.
        r0, c0 = rows[0], cols[0]
        parts = mask_to_polygons(mask[r0:rows[-1] + 1, c0:cols[-1] + 1])
        return _largest([p + (c0, r0) for p in parts], ann, where), False
    if isinstance(segmentation, list) and segmentation:
        parts = []
        for flat in segmentation:
            if (not isinstance(flat, list) or len(flat) < 6 or len(flat) % 2
                    or not all(_is_number(v) for v in flat)):
                raise ValueError("a segmentation polygon must be a flat list of at least 3 x, y pairs")
            parts.append(np.asarray(flat, dtype=np.float64).reshape(-1, 2))
        return _largest(parts, ann, where), False
    if segmentation not in (None, []):
        raise ValueError(f"unreadable segmentation of type {type(segmentation).__name__}")
    bbox = entry.get("bbox")
    if not isinstance(bbox, list) or len(bbox) != 4 or not all(_is_number(v) for v in bbox):
        raise ValueError("neither a segmentation nor a bbox [x, y, width, height]")
    x, y, w, h = map(float, bbox)
    if w <= 0 or h <= 0:
        raise ValueError(f"bbox {bbox} has no area")
    return box_to_polygon((x, y, x + w, y + h)), True


def _largest(parts: list[np.ndarray], ann: ImageAnnotations, where: str) -> np.ndarray:
    if len(parts) > 1:
        ann.skipped.append(f"{where}: {len(parts)} separate parts; kept the largest as the outline, "
                           "dropped the others")
    return max(parts, key=polygon_area)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
