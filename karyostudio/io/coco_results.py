"""COCO results files (predictions): a JSON list of detections that refer to images by COCO id.

Each detection has image_id, category_id (1..24 = "1".."22", "X", "Y"), bbox [x, y, w, h],
score and, unless the instance is box-only, "segmentation" as one polygon (a list holding a
flat [x0, y0, x1, y1, ...] list), plus the karyostudio fields (instance_id, source, reviewed,
attributes) as extra keys. Polygons rather than RLE keep the outline exact and the file
readable; pycocotools' loadRes accepts them because every detection also has a bbox (its bbox
branch keeps a given segmentation; its RLE-only branch is not taken). Reading also accepts
RLE segmentations (as detectron2 writes them) and bbox-only detections.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from karyostudio.core.annotated_image import BOX_ONLY, AnnotationSet, ImageAnnotations
from karyostudio.core.classes import CLASS_NAMES
from karyostudio.core.instance import Instance
from karyostudio.io.atomic import atomic_write_text
from karyostudio.io.coco import category_id, dump_json, instance_fields
from karyostudio.io.errors import AnnotationReadError, AnnotationWriteError
from karyostudio.io.instance_fields import assign_ids, fields_to_json

# Source given to detections read from a results file that does not name their source.
FOREIGN_RESULTS_SOURCE = "coco-results"
from karyostudio.io.labelme import load_json


def export_coco_results(predictions: AnnotationSet, image_ids: Mapping[str, int],
                        notes: list[str] | None = None) -> list[dict[str, Any]]:
    """The results list for predictions; image_ids maps each key to its ground truth's COCO id."""
    results: list[dict[str, Any]] = []
    unscored = 0
    for key in sorted(predictions):
        if key not in image_ids:
            raise AnnotationWriteError(None, f"no COCO image id for image {key!r}")
        for inst in predictions[key].instances:
            if inst.label is None:
                if notes is not None:
                    notes.append(f"{key}: instance {inst.id} has no class; a COCO result needs a category, "
                                 "not written")
                continue
            x0, y0, x1, y1 = inst.bbox
            entry: dict[str, Any] = {
                "image_id": int(image_ids[key]),
                "category_id": category_id(inst.label),
                "bbox": [x0, y0, x1 - x0, y1 - y0],
                "score": inst.score if inst.score is not None else 1.0,
            }
            unscored += inst.score is None
            box_only = bool(inst.attributes.get(BOX_ONLY, False))
            if not box_only:
                entry["segmentation"] = [inst.polygon.ravel().tolist()]
            extras = fields_to_json(inst, drop_attributes=[BOX_ONLY] if box_only else [])
            extras.pop("score", None)
            entry.update(extras)
            results.append(entry)
    if unscored and notes is not None:
        notes.append(f"{unscored} instance(s) without a score were written with score 1.0")
    return results


def write_coco_results(path: str | Path, predictions: AnnotationSet, image_ids: Mapping[str, int]) -> list[str]:
    """Write a COCO results JSON file atomically; returns notes on what could not be written as is."""
    path = Path(path)
    notes: list[str] = []
    results = export_coco_results(predictions, image_ids, notes)
    atomic_write_text(path, dump_json(results, path))
    return notes


def is_coco_results(data: Any) -> bool:
    return isinstance(data, list) and all(isinstance(d, dict) and "image_id" in d for d in data)


def read_coco_results(path: str | Path, image_keys: Mapping[int, str]) -> AnnotationSet:
    """Read a COCO results file; image_keys maps COCO image ids to image keys.

    Every key of image_keys gets an entry (empty when nothing was detected there), so missed
    images count as misses in an evaluation. A detection whose image_id is not in image_keys
    is an error; an unknown category or an invalid score is reported and skipped.
    """
    path = Path(path)
    return coco_results_from_list(load_json(path), path, image_keys)


def coco_results_from_list(data: Any, path: Path, image_keys: Mapping[int, str]) -> AnnotationSet:
    if not isinstance(data, list):
        raise AnnotationReadError(path, f"a COCO results file is a JSON list of detections, found a JSON "
                                        f"{type(data).__name__}")
    result: AnnotationSet = {key: ImageAnnotations(key=key) for key in image_keys.values()}
    kept: dict[str, list[dict]] = {key: [] for key in result}
    for index, entry in enumerate(data):
        if not isinstance(entry, dict):
            raise AnnotationReadError(path, f"detection {index + 1} must be a JSON object")
        image_id = entry.get("image_id")
        if image_id not in image_keys:
            raise AnnotationReadError(path, f"detection {index + 1} refers to image_id {image_id!r}, which is not "
                                            "among the images given")
        key = image_keys[image_id]
        where = f"detection {index + 1} (category {entry.get('category_id')!r})"
        category = entry.get("category_id")
        if not isinstance(category, int) or isinstance(category, bool) or not 1 <= category <= len(CLASS_NAMES):
            result[key].skipped.append(f"{where}: category id is not 1..{len(CLASS_NAMES)}; skipped")
            continue
        fields = instance_fields(entry, where, result[key])
        if fields is not None:
            fields["label"] = CLASS_NAMES[category - 1]
            if "source" not in entry:
                fields["source"] = FOREIGN_RESULTS_SOURCE
            kept[key].append(fields)
    for key, fields_list in kept.items():
        ids = assign_ids([f.pop("instance_id") for f in fields_list])
        result[key].instances = [Instance(id=i, **f) for i, f in zip(ids, fields_list)]
    return result
