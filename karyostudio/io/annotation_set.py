"""Loading and saving whole annotation sets in any supported format, detected from the path.

Readable: a Pascal VOC tree (root/annotations/*.xml, as Taichung) or folder of VOC XML files, a
single VOC XML file, a folder of labelme JSON files (not recursive), a single labelme JSON file,
a COCO instances JSON file and a COCO results JSON file (a top-level list of detections).
Writable: labelme (a folder of <key>.json), voc (a folder of <key>.xml), coco (one JSON file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from karyostudio.core.annotated_image import AnnotationSet
from karyostudio.core.progress import CancelToken, ProgressCallback, check, report
from karyostudio.io.atomic import atomic_write_text, check_writable_folder, remove_stale_temp_files
from karyostudio.io.coco import coco_from_dict, dump_json, export_coco, is_coco_dict
from karyostudio.io.coco_results import coco_results_from_list, is_coco_results
from karyostudio.io.errors import AnnotationReadError, AnnotationWriteError
from karyostudio.io.labelme import is_labelme_dict, labelme_from_dict, labelme_json_text, load_json
from karyostudio.io.voc import read_voc, read_voc_dir, voc_annotation_folder, voc_xml_text

WRITE_FORMATS = ("labelme", "coco", "voc")
# What load_annotations_with_format reports it found.
SOURCE_FORMATS = ("voc-dir", "voc", "labelme-dir", "labelme", "coco", "coco-results")

_EXPECTED = ("a labelme JSON file or folder, a Pascal VOC XML file or folder (or VOC tree with "
             "annotations/), a COCO instances JSON file or a COCO results JSON list")


def load_annotation_set(path: str | Path, *, image_keys: Mapping[int, str] | None = None,
                        progress: ProgressCallback | None = None,
                        cancel: CancelToken | None = None) -> AnnotationSet:
    """Read annotations from any supported file or folder (see the module docstring).

    image_keys maps COCO image ids to keys when reading a COCO results file; without it the
    keys are the ids as strings.
    """
    return load_annotations_with_format(path, image_keys=image_keys, progress=progress, cancel=cancel)[1]


def load_annotations_with_format(path: str | Path, *, image_keys: Mapping[int, str] | None = None,
                                 progress: ProgressCallback | None = None,
                                 cancel: CancelToken | None = None) -> tuple[str, AnnotationSet]:
    """Like load_annotation_set, also naming the format found (one of SOURCE_FORMATS)."""
    path = Path(path)
    if path.is_dir():
        return _load_folder(path, progress, cancel)
    if not path.exists():
        raise AnnotationReadError(path, "no such file or folder")
    suffix = path.suffix.lower()
    if suffix == ".xml":
        ann = read_voc(path)
        report(progress, 1, 1, path.name)
        return "voc", {ann.key: ann}
    if suffix != ".json":
        raise AnnotationReadError(path, f"unknown annotation file type {path.suffix!r}; expected {_EXPECTED}")
    data = load_json(path)
    if is_labelme_dict(data):
        found, result = "labelme", _single(labelme_from_dict(data, path))
    elif is_coco_dict(data):
        found, result = "coco", coco_from_dict(data, path)
    elif is_coco_results(data):
        keys = image_keys if image_keys is not None else {
            d["image_id"]: str(d["image_id"]) for d in data if isinstance(d["image_id"], int)}
        found, result = "coco-results", coco_results_from_list(data, path, keys)
    else:
        raise AnnotationReadError(path, f"JSON of an unknown kind; expected {_EXPECTED}")
    report(progress, 1, 1, path.name)
    return found, result


def _single(ann) -> AnnotationSet:
    return {ann.key: ann}


def _load_folder(root: Path, progress, cancel) -> tuple[str, AnnotationSet]:
    if voc_annotation_folder(root) is not None:
        return "voc-dir", read_voc_dir(root, progress=progress, cancel=cancel)
    files = [p for p in root.iterdir() if p.is_file()]
    json_files = sorted(p for p in files if p.suffix.lower() == ".json")
    has_xml = any(p.suffix.lower() == ".xml" for p in files)
    if json_files and has_xml:
        raise AnnotationReadError(root, "the folder holds both .json and .xml files; point at one format only")
    if has_xml:
        return "voc-dir", read_voc_dir(root, progress=progress, cancel=cancel)
    if not json_files:
        raise AnnotationReadError(root, f"no annotation files in this folder; expected {_EXPECTED}")
    result: AnnotationSet = {}
    origin: dict[str, Path] = {}
    for done, json_path in enumerate(json_files):
        check(cancel)
        data = load_json(json_path)
        if not is_labelme_dict(data):
            raise AnnotationReadError(json_path, "not a labelme file (no 'shapes'); a labelme folder must hold "
                                                 "only labelme JSON files")
        ann = labelme_from_dict(data, json_path)
        if ann.key in result:
            raise AnnotationReadError(json_path, f"image key {ann.key!r} is also annotated by {origin[ann.key].name}")
        result[ann.key], origin[ann.key] = ann, json_path
        report(progress, done + 1, len(json_files), json_path.name)
    return "labelme-dir", result


def save_annotation_set(annotations: AnnotationSet, out: str | Path, fmt: str, *,
                        progress: ProgressCallback | None = None,
                        cancel: CancelToken | None = None) -> list[str]:
    """Write annotations as labelme (folder), voc (folder) or coco (one .json file).

    Every file is rendered before the first is written, so bad data fails before anything
    changes on disk; each file is written atomically. Returns notes on instances a format
    cannot hold (e.g. unlabelled instances in VOC or COCO).
    """
    if fmt not in WRITE_FORMATS:
        raise ValueError(f"unknown annotation format {fmt!r}; expected one of {', '.join(WRITE_FORMATS)}")
    out = Path(out)
    notes: list[str] = _embedded_only_notes(annotations, fmt)
    if fmt == "coco":
        if out.is_dir():
            raise AnnotationWriteError(out, "is a folder; COCO annotations are one file, give a .json path")
        text = dump_json(export_coco(annotations, folder=out.parent, notes=notes), out)
        check(cancel)
        check_writable_folder(out.parent)
        remove_stale_temp_files(out.parent)
        atomic_write_text(out, text)
        report(progress, 1, 1, out.name)
        return notes
    if out.exists() and not out.is_dir():
        raise AnnotationWriteError(out, f"is a file; {fmt} annotations are written into a folder")
    rendered: list[tuple[Path, str]] = []
    for key in sorted(annotations):
        check(cancel)
        _check_key(key, out)
        if fmt == "labelme":
            target = out / f"{key}.json"
            rendered.append((target, labelme_json_text(annotations[key], target)))
        else:
            text, ann_notes = voc_xml_text(annotations[key])
            rendered.append((out / f"{key}.xml", text))
            notes.extend(ann_notes)
    check_writable_folder(out)
    remove_stale_temp_files(out)
    for done, (target, text) in enumerate(rendered):
        check(cancel)
        atomic_write_text(target, text)
        report(progress, done + 1, len(rendered), target.name)
    return notes


def _embedded_only_notes(annotations: AnnotationSet, fmt: str) -> list[str]:
    """Notes on images that exist only as embedded imageData, which COCO and VOC cannot hold."""
    if fmt == "labelme":
        return []  # labelme keeps imageData
    return [f"{key}: its image exists only as the imageData embedded in the labelme file; {fmt} cannot hold "
            f"it (convert to labelme to keep it)" for key in sorted(annotations)
            if annotations[key].image_data is not None
            and (annotations[key].image_path is None or not annotations[key].image_path.is_file())]


def _check_key(key: str, out: Path) -> None:
    if not key or key in (".", "..") or any(c in key for c in '/\\\0'):
        raise AnnotationWriteError(out, f"image key {key!r} cannot be used as a file name")
