"""Pascal VOC XML annotations (boxes only), as in the Taichung chromosome data set.

Coordinates: VOC numbers pixels from 1 and its xmax/ymax are inclusive, so a box
(xmin, ymin, xmax, ymax) covers the pixels xmin..xmax, ymin..ymax. In karyostudio's continuous
coordinates (pixel (c, r) covers [c, c+1) x [r, r+1), 0-based) that is the rectangle
[xmin - 1, xmax] x [ymin - 1, ymax]. Writing inverts this (xmin = floor(x0) + 1,
xmax = ceil(x1)), so integer VOC boxes survive a round trip exactly and a polygon is written
as the smallest VOC box holding all of its pixels. Boxes reaching outside the image (some
Taichung files have coordinates of -1 or past the width) are clipped to the image when its
size is known.
"""

from __future__ import annotations

import functools
import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Sequence

from karyostudio.core.annotated_image import BOX_ONLY, AnnotationSet, ImageAnnotations
from karyostudio.core.classes import UnknownLabelError, parse_label, voc_name
from karyostudio.core.instance import Instance
from karyostudio.core.progress import CancelToken, ProgressCallback, check, report
from karyostudio.geometry.polygons import box_to_polygon
from karyostudio.io.atomic import atomic_write_text
from karyostudio.io.errors import AnnotationReadError
from karyostudio.io.geometry_checks import CLIP_SLACK, checked_polygon
from karyostudio.io.images import image_key

# Folders that hold the images of a VOC tree: Taichung's (spelled JEPG upstream) and VOC's own.
IMAGE_FOLDER_NAMES = ("JEPG", "JPEGImages", "images")
ANNOTATION_FOLDER_NAMES = ("annotations", "Annotations")


# --- reading -------------------------------------------------------------------------------------

def read_voc(xml_path: str | Path, *, image_dirs: Sequence[Path] = ()) -> ImageAnnotations:
    """Read one VOC XML file; objects with unknown class names are reported and skipped.

    The image is looked for in image_dirs, then beside the XML file, then in the image
    folders of a VOC tree (../JEPG, ../JPEGImages, ../images); image_path is the first
    existing candidate, else the file beside the XML (None when <filename> is a bare key
    without an image suffix, as write_voc writes it when no image is known).
    """
    xml_path = Path(xml_path)
    root = _parse_xml(xml_path)
    filename = _text(root, "filename")
    key = image_key(filename) if filename else xml_path.stem
    size = _read_size(root, xml_path)
    image_path = _find_image(xml_path, filename, image_dirs) if filename else None
    ann = ImageAnnotations(key=key, image_path=image_path, image_size=size)
    objects = root.findall("object")
    for index, obj in enumerate(objects):
        fields = _read_object(obj, f"object {index + 1} of {len(objects)}", xml_path, size, ann.skipped)
        if fields is not None:
            ann.instances.append(Instance(id=len(ann.instances) + 1, **fields))
    return ann


def _parse_xml(path: Path) -> ET.Element:
    if not path.is_file():
        raise AnnotationReadError(path, "no such file" if not path.exists() else "not a file")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise AnnotationReadError(path, f"not well-formed XML: {exc}") from exc
    except OSError as exc:
        raise AnnotationReadError(path, f"cannot read the file: {exc.strerror or exc}") from exc
    if root.tag != "annotation":
        raise AnnotationReadError(path, f"not a Pascal VOC annotation (root element <{root.tag}>, "
                                        "expected <annotation>)")
    return root


def _text(element: ET.Element, tag: str) -> str | None:
    child = element.find(tag)
    if child is None or child.text is None:
        return None
    return child.text.strip() or None


def _number(element: ET.Element, tag: str, path: Path, where: str) -> float:
    text = _text(element, tag)
    try:
        value = float(text) if text is not None else math.nan
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise AnnotationReadError(path, f"{where}: <{tag}> must be a number, found {text!r}")
    return value


def _read_size(root: ET.Element, path: Path) -> tuple[int, int] | None:
    size = root.find("size")
    if size is None or _text(size, "width") is None or _text(size, "height") is None:
        return None
    width, height = (_number(size, tag, path, "<size>") for tag in ("width", "height"))
    if width <= 0 or height <= 0:
        # Some tools write 0 x 0 when they did not know the size: treat it as unknown.
        return None
    if width != int(width) or height != int(height):
        raise AnnotationReadError(path, f"<size> must hold whole pixel counts, found {width} x {height}")
    return int(width), int(height)


def _read_object(obj: ET.Element, where: str, path: Path, size: tuple[int, int] | None,
                 skipped: list[str]) -> dict | None:
    name = _text(obj, "name")
    where = f"{where} (name {name!r})"
    label = _voc_label(name or "")
    if label is None:
        skipped.append(f"{where}: unknown chromosome class name {name!r}; skipped")
        return None
    box = obj.find("bndbox")
    if box is None:
        skipped.append(f"{where}: no <bndbox>; skipped")
        return None
    xmin, ymin, xmax, ymax = (_number(box, tag, path, where) for tag in ("xmin", "ymin", "xmax", "ymax"))
    x0, y0, x1, y1 = xmin - 1.0, ymin - 1.0, xmax, ymax
    if xmax < xmin or ymax < ymin:
        skipped.append(f"{where}: box ({xmin:g}, {ymin:g}, {xmax:g}, {ymax:g}) has no area (xmin > xmax "
                       "or ymin > ymax); skipped")
        return None
    if size is not None:
        width, height = size
        beyond = x0 < -CLIP_SLACK or y0 < -CLIP_SLACK or x1 > width + CLIP_SLACK or y1 > height + CLIP_SLACK
        x0, x1 = min(max(x0, 0.0), width), min(max(x1, 0.0), width)
        y0, y1 = min(max(y0, 0.0), height), min(max(y1, 0.0), height)
        if beyond and x1 > x0 and y1 > y0:  # a pixel or two past the border is common and harmless
            skipped.append(f"{where}: box ({xmin:g}, {ymin:g}, {xmax:g}, {ymax:g}) reaches outside the "
                           f"{width} x {height} image; clipped to the image")
    if x1 <= x0 or y1 <= y0:
        skipped.append(f"{where}: box ({xmin:g}, {ymin:g}, {xmax:g}, {ymax:g}) has no area inside the image; skipped")
        return None
    polygon = checked_polygon(box_to_polygon((x0, y0, x1, y1)), size, where, skipped, box_only=True)
    if polygon is None:
        return None
    return dict(polygon=polygon, label=label, attributes={BOX_ONLY: True})


@functools.lru_cache(maxsize=256)
def _voc_label(name: str) -> str | None:
    # Cached: a data set repeats the same two dozen names hundreds of thousands of times.
    try:
        return parse_label(name, "voc")
    except UnknownLabelError:
        return None


def _find_image(xml_path: Path, filename: str, image_dirs: Sequence[Path]) -> Path | None:
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    beside = xml_path.parent / name
    tree_root = xml_path.parent.parent
    candidates = [Path(d) / name for d in image_dirs]
    candidates += [beside] + [tree_root / folder / name for folder in IMAGE_FOLDER_NAMES]
    found = next((c for c in candidates if c.is_file()), None)
    if found is None and image_key(name) != name:  # a bare key names no file
        found = beside
    return found


def voc_annotation_folder(root: Path) -> Path | None:
    """The annotations folder of a VOC tree (root/annotations or root/Annotations), if any."""
    for name in ANNOTATION_FOLDER_NAMES:
        if (root / name).is_dir():
            return root / name
    return None


def read_voc_dir(root: str | Path, *, progress: ProgressCallback | None = None,
                 cancel: CancelToken | None = None) -> AnnotationSet:
    """Read every VOC XML file of a VOC tree (root/annotations + root/JEPG, as Taichung) or a plain folder."""
    root = Path(root)
    if not root.is_dir():
        raise AnnotationReadError(root, "no such folder")
    xml_dir = voc_annotation_folder(root) or root
    image_dirs = [root / name for name in IMAGE_FOLDER_NAMES if (root / name).is_dir()]
    files = sorted(p for p in xml_dir.iterdir() if p.suffix.lower() == ".xml" and p.is_file())
    if not files:
        raise AnnotationReadError(xml_dir, "no Pascal VOC .xml files in this folder")
    result: AnnotationSet = {}
    origin: dict[str, Path] = {}
    for done, xml_path in enumerate(files):
        check(cancel)
        ann = read_voc(xml_path, image_dirs=image_dirs)
        if ann.key in result:
            raise AnnotationReadError(xml_path, f"image key {ann.key!r} is also annotated by {origin[ann.key].name}")
        result[ann.key] = ann
        origin[ann.key] = xml_path
        report(progress, done + 1, len(files), xml_path.name)
    return result


# --- writing -------------------------------------------------------------------------------------

def write_voc(path: str | Path, ann: ImageAnnotations) -> list[str]:
    """Write one VOC XML file atomically; returns notes on instances VOC cannot hold (unlabelled ones)."""
    text, notes = voc_xml_text(ann)
    atomic_write_text(path, text)
    return notes


def voc_xml_text(ann: ImageAnnotations) -> tuple[str, list[str]]:
    """The XML text write_voc writes, and notes on instances left out (nothing is written)."""
    root = ET.Element("annotation")
    # The file name carries the key, so use the image's name only when it gives the same key.
    known = ann.image_path is not None and image_key(ann.image_path.name) == ann.key
    filename = ann.image_path.name if known else ann.key
    folder = ann.image_path.parent.name if known else ""
    ET.SubElement(root, "folder").text = folder
    ET.SubElement(root, "filename").text = filename
    if ann.image_size is not None:
        width, height = ann.image_size
        size = ET.SubElement(root, "size")
        ET.SubElement(size, "width").text = str(int(width))
        ET.SubElement(size, "height").text = str(int(height))
        ET.SubElement(size, "depth").text = "1"
    ET.SubElement(root, "segmented").text = "0"
    notes = []
    for inst in ann.instances:
        if inst.label is None:
            notes.append(f"{ann.key}: instance {inst.id} has no class; VOC needs a class name, not written")
            continue
        obj = ET.SubElement(root, "object")
        ET.SubElement(obj, "name").text = voc_name(inst.label)
        ET.SubElement(obj, "pose").text = "Unspecified"
        ET.SubElement(obj, "truncated").text = "0"
        ET.SubElement(obj, "difficult").text = "0"
        box = ET.SubElement(obj, "bndbox")
        for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), voc_box(inst.bbox)):
            ET.SubElement(box, tag).text = str(value)
    ET.indent(root, space="   ")
    return ET.tostring(root, encoding="unicode") + "\n", notes


def voc_box(bbox: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
    """Continuous (x0, y0, x1, y1) -> VOC (xmin, ymin, xmax, ymax): 1-based inclusive pixel indices."""
    x0, y0, x1, y1 = bbox
    return math.floor(x0) + 1, math.floor(y0) + 1, math.ceil(x1), math.ceil(y1)
