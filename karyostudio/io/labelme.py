"""labelme JSON annotation files: one image, its chromosome outlines as polygon shapes.

Reading accepts both key styles seen in the wild: camelCase (imagePath, imageHeight, imageWidth,
imageData; labelme 3-6) and snake_case (image_path, image_height, image_width, image_data; the
AutoKary2022 files). Writing produces camelCase files that labelme itself loads.

Instance fields labelme has no place for travel as extra keys of each shape, which labelme
keeps (in ``other_data``) and writes back: "instance_id", "score", "source", "reviewed" and
"attributes". In the other direction, labelme shape fields karyostudio does not use (a
group_id, description or flags, unknown keys) are kept in Instance.attributes["labelme"] and
written back. Rectangles are read as box-only instances (BOX_ONLY) and written as rectangles.
An instance without a class is written with the label "unlabeled"; reading treats
"unlabeled", "" and null as "no class yet" rather than as an unknown label.

Outlines are checked as they are read (karyostudio.io.geometry_checks: bow-ties repaired,
outlines reaching past the image clipped, zero-area or far-away ones skipped), and an
imageWidth/imageHeight that contradicts the image file or the embedded image is reported and
replaced by the image's own size. An embedded image (imageData) is kept in
``ImageAnnotations.image_data`` and written back, so a conversion never drops the only copy.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from karyostudio.core.annotated_image import BOX_ONLY, ImageAnnotations
from karyostudio.core.classes import UnknownLabelError, parse_label
from karyostudio.core.instance import Instance
from karyostudio.geometry.polygons import box_to_polygon, polygon_bbox
from karyostudio.io.atomic import atomic_write_text
from karyostudio.io.errors import AnnotationReadError, AnnotationWriteError, ImageReadError
from karyostudio.io.geometry_checks import checked_polygon, size_conflict
from karyostudio.io.images import decode_image, image_key, image_size, read_image
from karyostudio.io.instance_fields import FIELD_KEYS, InvalidFieldError, assign_ids, fields_from_json, fields_to_json

LABELME_VERSION = "5.5.0"  # the file layout we write (labelme 5 and 6 share it)
UNLABELED = "unlabeled"
_UNLABELED_TEXTS = ("", UNLABELED)

# Top-level keys we interpret, each with its snake_case spelling; anything else goes to ann.extra.
_KEY_STYLES = {
    "imagePath": "image_path",
    "imageData": "image_data",
    "imageHeight": "image_height",
    "imageWidth": "image_width",
}
_OWN_TOP_KEYS = {"version", "shapes", *_KEY_STYLES, *_KEY_STYLES.values()}
# Shape keys labelme defines, and the defaults we do not bother to keep.
_LABELME_SHAPE_DEFAULTS: dict[str, Any] = {"group_id": None, "description": "", "flags": {}, "mask": None}
_OWN_SHAPE_KEYS = {"label", "points", "shape_type", *FIELD_KEYS}
# Labelme fields that karyostudio does not use are kept under this attribute and written back.
LABELME_EXTRA_ATTRIBUTE = "labelme"


# --- reading -------------------------------------------------------------------------------------

def read_labelme(path: str | Path) -> ImageAnnotations:
    """Read a labelme JSON file; invalid shapes are skipped and reported in ``ann.skipped``."""
    path = Path(path)
    return labelme_from_dict(load_json(path), path)


def load_json(path: Path) -> Any:
    """Parse a JSON file, turning every failure into an AnnotationReadError."""
    if not path.is_file():
        raise AnnotationReadError(path, "no such file" if not path.exists() else "not a file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AnnotationReadError(path, f"not a UTF-8 text file ({exc.reason})") from exc
    except OSError as exc:
        raise AnnotationReadError(path, f"cannot read the file: {exc.strerror or exc}") from exc
    if not text.strip():
        raise AnnotationReadError(path, "the file is empty")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise AnnotationReadError(path, f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from exc
    except RecursionError as exc:
        raise AnnotationReadError(path, "JSON nested too deeply") from exc


def is_labelme_dict(data: Any) -> bool:
    return isinstance(data, dict) and "shapes" in data


def labelme_from_dict(data: Any, path: Path) -> ImageAnnotations:
    """Build ImageAnnotations from the parsed JSON of a labelme file stored at ``path``."""
    if not isinstance(data, dict):
        raise AnnotationReadError(path, f"expected a labelme JSON object, found a JSON {type(data).__name__}")
    if "shapes" not in data:
        raise AnnotationReadError(path, "not a labelme file: no 'shapes' list")
    shapes = data["shapes"]
    if not isinstance(shapes, list):
        raise AnnotationReadError(path, f"'shapes' must be a list, found {type(shapes).__name__}")

    image_path_text = _get(data, "imagePath")
    if image_path_text is not None and not isinstance(image_path_text, str):
        raise AnnotationReadError(path, "'imagePath' must be a string")
    image_path = _resolve_image_path(path, image_path_text)
    key = image_key(image_path_text) if image_path_text else path.stem

    ann = ImageAnnotations(key=key, image_path=image_path)
    ann.image_size = _read_size(data, path, image_path, ann.skipped)
    ann.image_data = embedded_image_bytes(data, path)
    ann.extra = {k: v for k, v in data.items() if k not in _OWN_TOP_KEYS}

    parsed = [_parse_shape(path, f"shape {index + 1} of {len(shapes)}", shape, ann.skipped, ann.image_size)
              for index, shape in enumerate(shapes)]
    kept = [p for p in parsed if p is not None]
    ids = assign_ids([p.pop("instance_id") for p in kept])
    for instance_id, fields in zip(ids, kept):
        ann.instances.append(Instance(id=instance_id, **fields))
    return ann


def _get(data: dict, camel: str) -> Any:
    """A top-level value under its camelCase or snake_case key."""
    if camel in data:
        return data[camel]
    return data.get(_KEY_STYLES[camel])


def _resolve_image_path(json_path: Path, text: str | None) -> Path | None:
    if not text:
        return None
    relative = Path(text.replace("\\", "/"))
    return relative if relative.is_absolute() else Path(os.path.normpath(json_path.parent / relative))


def _read_size(data: dict, path: Path, image_path: Path | None, report: list[str]) -> tuple[int, int] | None:
    """The image size: the embedded image's, else the image file's, else the declared one; a
    declared size that contradicts the image is reported."""
    height, width = _get(data, "imageHeight"), _get(data, "imageWidth")
    for name, value in (("imageHeight", height), ("imageWidth", width)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
            raise AnnotationReadError(path, f"'{name}' must be a positive integer, found {value!r}")
    declared = (int(width), int(height)) if height is not None and width is not None else None
    actual, what = None, ""
    embedded = embedded_image_bytes(data, path)
    if embedded is not None:
        try:
            with Image.open(io.BytesIO(embedded)) as im:
                actual, what = _upright_size(im), "the embedded image"
        except (OSError, ValueError, SyntaxError) as exc:
            raise AnnotationReadError(path, f"the embedded image data is not a readable image: {exc}") from exc
    elif image_path is not None and image_path.is_file():
        try:
            actual, what = image_size(image_path), f"the image file {image_path.name}"
        except ImageReadError:
            actual = None  # the annotations are still usable without the image's size
    if declared is not None and actual is not None and declared != actual:
        report.append(size_conflict(declared, actual, what))
    return actual if actual is not None else declared


def _upright_size(im: Image.Image) -> tuple[int, int]:
    width, height = int(im.size[0]), int(im.size[1])
    try:
        rotated = im.getexif().get(0x0112, 1) in (5, 6, 7, 8)
    except Exception:  # noqa: BLE001 - a broken EXIF block: the stored size
        rotated = False
    return (height, width) if rotated else (width, height)


def embedded_image_bytes(data: dict, path: Path) -> bytes | None:
    """The decoded imageData (either key style) of a labelme dict, or None when there is none."""
    encoded = _get(data, "imageData")
    if encoded is None:
        return None
    if not isinstance(encoded, str):
        raise AnnotationReadError(path, "'imageData' must be a base64 string or null")
    try:
        return base64.b64decode(encoded, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise AnnotationReadError(path, f"'imageData' is not valid base64: {exc}") from exc


def _parse_shape(path: Path, where: str, shape: Any, skipped: list[str],
                 image_size: tuple[int, int] | None = None) -> dict | None:
    """Fields of one Instance (plus "instance_id"), or None after reporting why the shape is skipped."""
    if not isinstance(shape, dict):
        raise AnnotationReadError(path, f"{where} must be a JSON object, found {type(shape).__name__}")
    raw_label = shape.get("label")
    if isinstance(raw_label, bool) or (raw_label is not None and not isinstance(raw_label, (str, int))):
        raise AnnotationReadError(path, f"{where}: label must be a string, found {raw_label!r}")
    shape_type = shape.get("shape_type") or "polygon"
    if not isinstance(shape_type, str):
        raise AnnotationReadError(path, f"{where}: shape_type must be a string, found {shape_type!r}")
    points = _parse_points(path, where, shape.get("points"))
    described = f"{where} (label {raw_label!r}, {shape_type})"

    if raw_label is None or str(raw_label).strip().lower() in _UNLABELED_TEXTS:
        label = None
    else:
        try:
            label = parse_label(raw_label, "any")
        except UnknownLabelError:
            skipped.append(f"{described}: unknown chromosome label {raw_label!r}; skipped")
            return None

    try:
        fields = fields_from_json(shape)
    except InvalidFieldError as exc:
        skipped.append(f"{described}: {exc}; skipped")
        return None
    attributes = fields["attributes"]
    if shape_type == "polygon":
        if len(points) < 3:
            skipped.append(f"{described}: a polygon needs at least 3 points, found {len(points)}; skipped")
            return None
        polygon = points
    elif shape_type == "rectangle":
        if len(points) != 2:
            skipped.append(f"{described}: a rectangle needs 2 corner points, found {len(points)}; skipped")
            return None
        (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
        if x1 <= x0 or y1 <= y0:
            skipped.append(f"{described}: the rectangle has no area; skipped")
            return None
        polygon = box_to_polygon((x0, y0, x1, y1))
        attributes[BOX_ONLY] = True
    else:
        skipped.append(f"{described}: shape type {shape_type!r} is not a chromosome outline "
                       "(polygon or rectangle); skipped")
        return None
    polygon = checked_polygon(polygon, image_size, described, skipped, box_only=shape_type == "rectangle")
    if polygon is None:
        return None

    labelme_fields = {k: v for k, v in shape.items()
                      if k not in _OWN_SHAPE_KEYS and _LABELME_SHAPE_DEFAULTS.get(k, object()) != v}
    if labelme_fields:
        attributes[LABELME_EXTRA_ATTRIBUTE] = labelme_fields

    fields.update(polygon=polygon, label=label, attributes=attributes)
    return fields


def _parse_points(path: Path, where: str, points: Any) -> np.ndarray:
    if not isinstance(points, list):
        raise AnnotationReadError(path, f"{where}: 'points' must be a list of [x, y] pairs")
    for point in points:
        if (not isinstance(point, list) or len(point) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in point)):
            raise AnnotationReadError(path, f"{where}: 'points' must be a list of [x, y] number pairs, "
                                            f"found {point!r}")
    arr = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if not np.all(np.isfinite(arr)):
        raise AnnotationReadError(path, f"{where}: 'points' contain non-finite coordinates")
    return arr


def read_labelme_image(path: str | Path) -> np.ndarray | None:
    """The image of a labelme file: its embedded imageData, else the file at imagePath.

    Returns None when the file embeds no image and imagePath names no existing file.
    """
    path = Path(path)
    data = load_json(path)
    if not isinstance(data, dict):
        raise AnnotationReadError(path, "expected a labelme JSON object")
    embedded = embedded_image_bytes(data, path)
    if embedded is not None:
        return decode_image(embedded, source=f"{path} (embedded imageData)")
    text = _get(data, "imagePath")
    image_path = _resolve_image_path(path, text) if isinstance(text, str) else None
    if image_path is None or not image_path.is_file():
        return None
    return read_image(image_path)


# --- writing -------------------------------------------------------------------------------------

def write_labelme(path: str | Path, ann: ImageAnnotations, *, image_data: bytes | None = None) -> None:
    """Write a labelme JSON file atomically (camelCase keys, labelme 5/6 layout).

    image_data: the encoded image file (PNG/JPEG bytes) to embed as base64 imageData; by
    default the file refers to the image through imagePath only.
    """
    path = Path(path)
    atomic_write_text(path, labelme_json_text(ann, path, image_data=image_data))


def labelme_json_text(ann: ImageAnnotations, json_path: Path, *, image_data: bytes | None = None) -> str:
    """The JSON text write_labelme would write to json_path (nothing is written)."""
    data = labelme_to_dict(ann, json_path, image_data=image_data if image_data is not None else ann.image_data)
    try:
        return json.dumps(data, ensure_ascii=False, indent=2, allow_nan=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise AnnotationWriteError(json_path, f"the annotations hold data JSON cannot store: {exc}") from exc


def labelme_to_dict(ann: ImageAnnotations, json_path: Path, *, image_data: bytes | None = None) -> dict:
    json_path = Path(json_path)
    width, height = ann.image_size if ann.image_size is not None else (None, None)
    if image_data is not None:
        try:
            with Image.open(io.BytesIO(image_data)) as im:
                actual = _upright_size(im)
        except (OSError, ValueError, SyntaxError) as exc:
            raise AnnotationWriteError(json_path, f"image_data is not an encoded image: {exc}") from exc
        if ann.image_size is not None and tuple(ann.image_size) != actual:
            raise AnnotationWriteError(json_path, f"image_data is {actual[0]} x {actual[1]} px but the annotations "
                                                  f"say {ann.image_size[0]} x {ann.image_size[1]}")
        width, height = actual
    data: dict[str, Any] = {
        "version": LABELME_VERSION,
        "flags": ann.extra.get("flags") or {},
        "shapes": [_shape_dict(inst) for inst in ann.instances],
        "imagePath": _relative_image_path(ann.image_path, json_path.parent),
        "imageData": base64.b64encode(image_data).decode("ascii") if image_data is not None else None,
        "imageHeight": height,
        "imageWidth": width,
    }
    for key, value in ann.extra.items():
        if key not in data and key not in _OWN_TOP_KEYS:
            data[key] = value
    return data


def _relative_image_path(image_path: Path | None, folder: Path) -> str:
    # labelme needs a string; with no image known, the empty path says "none".
    if image_path is None:
        return ""
    try:
        return Path(os.path.relpath(Path(image_path).absolute(), folder.absolute())).as_posix()
    except ValueError:  # another drive on Windows
        return Path(image_path).as_posix()


def _shape_dict(inst: Instance) -> dict[str, Any]:
    labelme_fields = inst.attributes.get(LABELME_EXTRA_ATTRIBUTE)
    dropped = [LABELME_EXTRA_ATTRIBUTE]
    if inst.attributes.get(BOX_ONLY, False) and _is_axis_aligned_box(inst.polygon):
        x0, y0, x1, y1 = polygon_bbox(inst.polygon)
        shape_type, points = "rectangle", [[x0, y0], [x1, y1]]
        dropped.append(BOX_ONLY)  # implied by the rectangle
    else:
        shape_type, points = "polygon", inst.polygon.tolist()
    shape: dict[str, Any] = {
        "label": inst.label if inst.label is not None else UNLABELED,
        "points": points,
        "group_id": None,
        "description": "",
        "shape_type": shape_type,
        "flags": {},
        "mask": None,
    }
    if isinstance(labelme_fields, dict):
        shape.update({k: v for k, v in labelme_fields.items() if k not in _OWN_SHAPE_KEYS})
    shape.update(fields_to_json(inst, drop_attributes=dropped))
    return shape


def _is_axis_aligned_box(polygon: np.ndarray) -> bool:
    if len(polygon) != 4:
        return False
    box = box_to_polygon(polygon_bbox(polygon))
    return {tuple(p) for p in polygon.tolist()} == {tuple(p) for p in box.tolist()}
