"""Builders of in-memory annotation sets and a pycocotools reference evaluation for metric tests."""

from __future__ import annotations

import contextlib
import io

import numpy as np

from karyostudio.core.annotated_image import BOX_ONLY, AnnotationSet, ImageAnnotations
from karyostudio.core.classes import CLASS_NAMES, class_index
from karyostudio.core.instance import Instance
from karyostudio.geometry.polygons import polygon_to_mask


def rect(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)


def make_instance(i: int, polygon, label: str | None = "1", score: float | None = None,
                  box_only: bool = False, **attributes) -> Instance:
    attrs = dict(attributes)
    if box_only:
        attrs[BOX_ONLY] = True
    return Instance(id=i, polygon=np.asarray(polygon, dtype=np.float64), label=label, score=score,
                    attributes=attrs)


def make_set(images: dict[str, list[Instance]], image_size: tuple[int, int] | None = None) -> AnnotationSet:
    return {key: ImageAnnotations(key=key, instances=list(insts), image_size=image_size)
            for key, insts in images.items()}


def random_blob(rng: np.random.Generator, cx: float, cy: float, rx: float, ry: float, n: int = 7) -> np.ndarray:
    """A star-shaped polygon around (cx, cy) (not a rectangle, so box and mask IoU differ)."""
    t = np.sort(rng.uniform(0, 2 * np.pi, n))
    r = rng.uniform(0.6, 1.0, n)
    return np.column_stack([cx + rx * r * np.cos(t), cy + ry * r * np.sin(t)])


def coco_reference(gt: AnnotationSet, pred: AnnotationSet, iou_type: str, *, use_cats: bool = True,
                   iou_threshold: float = 0.5) -> dict[str, float | None]:
    """Per-class AP (class name -> AP or None) by pycocotools' COCOeval on the same data.

    Images get COCO ids in sorted-key order; masks are RLE-encoded from polygon_to_mask at the
    image size. With use_cats=False the result has the single key "all".
    """
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    keys = sorted(gt)
    images = []
    for i, key in enumerate(keys):
        w, h = gt[key].image_size or (1000, 1000)
        images.append({"id": i + 1, "width": w, "height": h, "file_name": f"{key}.png"})
    categories = [{"id": k + 1, "name": name} for k, name in enumerate(CLASS_NAMES)]

    def annotations(aset: AnnotationSet, with_score: bool) -> list[dict]:
        out = []
        for i, key in enumerate(keys):
            if key not in aset:
                continue
            w, h = images[i]["width"], images[i]["height"]
            for inst in aset[key].instances:
                if inst.label is None:
                    continue
                x0, y0, x1, y1 = inst.bbox
                ann = {"id": len(out) + 1, "image_id": i + 1, "category_id": class_index(inst.label) + 1,
                       "bbox": [x0, y0, x1 - x0, y1 - y0], "iscrowd": 0}
                if iou_type == "segm":
                    m = polygon_to_mask(inst.polygon, (h, w))
                    ann["segmentation"] = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
                    ann["area"] = float(mask_utils.area(ann["segmentation"]))
                else:
                    ann["area"] = (x1 - x0) * (y1 - y0)
                if with_score:
                    ann["score"] = 1.0 if inst.score is None else inst.score
                out.append(ann)
        return out

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt, coco_dt = COCO(), COCO()
        coco_gt.dataset = {"images": images, "annotations": annotations(gt, False), "categories": categories}
        coco_dt.dataset = {"images": images, "annotations": annotations(pred, True), "categories": categories}
        coco_gt.createIndex()
        coco_dt.createIndex()
        ev = COCOeval(coco_gt, coco_dt, iou_type)
        ev.params.iouThrs = np.array([iou_threshold])
        ev.params.maxDets = [100]
        ev.params.areaRng = [[0, 1e10]]
        ev.params.areaRngLbl = ["all"]
        ev.params.useCats = int(use_cats)
        ev.evaluate()
        ev.accumulate()
    precision = ev.eval["precision"][0, :, :, 0, 0]
    names = CLASS_NAMES if use_cats else ("all",)
    return {name: (float(precision[:, k].mean()) if (precision[:, k] > -1).any() else None)
            for k, name in enumerate(names)}
