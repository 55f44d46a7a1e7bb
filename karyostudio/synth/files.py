"""Write a synthetic metaphase to disk: STEM.png, STEM.json (labelme) and STEM.npz (arrays).

STEM.npz keys (np.load works without allow_pickle):
  label_map, second_label_map  uint16 H x W: largest / second-largest instance id at each pixel
                               (0 = none; see SynthMetaphase.label_maps)
  overlap_mask                 bool H x W: pixels covered by two or more chromosomes
  instance_ids                 int32 N;  labels  <U2 N (class names "1".."22", "X", "Y")
  mask_boxes, mask_bits        exact per-instance masks: int32 N x 4 (x0, y0, x1, y1) patches whose
                               row-major bits are concatenated and packed (np.packbits);
                               read them back with read_instance_masks
  skeleton_points, skeleton_offsets   float32 M x 2 centreline points (p end first) of all instances;
                               instance k owns rows skeleton_offsets[k]:skeleton_offsets[k+1]
  endpoints (N x 2 x 2, p end first), centromeres (N x 2), rotated_boxes (N x 5)   float32
  cluster_members, cluster_offsets, cluster_kinds   touching/crossing groups: member ids of cluster c
                               are cluster_members[cluster_offsets[c]:cluster_offsets[c+1]]
  karyotype                    0-d <U string, e.g. "46,XY"
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np

from karyostudio.core.annotated_image import ImageAnnotations
from karyostudio.io.atomic import atomic_write_bytes
from karyostudio.io.labelme import write_labelme
from karyostudio.synth.metaphase import SynthMetaphase


def sample_paths(out_dir: str | Path, stem: str) -> dict[str, Path]:
    """The files write_sample writes: keys "image", "labelme", "arrays"."""
    out = Path(out_dir)
    return {"image": out / f"{stem}.png", "labelme": out / f"{stem}.json", "arrays": out / f"{stem}.npz"}


def sample_annotations(sample: SynthMetaphase, image_path: Path) -> ImageAnnotations:
    """The labelme view of a sample: polygons with labels, plus karyotype and clusters as extra keys."""
    height, width = sample.shape
    clusters = [{"members": list(c.members), "kind": c.kind, "pairs": [list(p) for p in c.pairs]}
                for c in sample.clusters]
    return ImageAnnotations(key=image_path.stem, instances=list(sample.instances), image_path=image_path,
                            image_size=(width, height), extra={"karyotype": sample.karyotype, "clusters": clusters})


def sample_arrays(sample: SynthMetaphase) -> dict[str, np.ndarray]:
    """The arrays stored in STEM.npz (see the module docstring)."""
    top, second = sample.label_maps()
    boxes, bits = [], []
    for patch in sample.mask_patches:
        (rows, cols), part = patch.clipped(sample.shape)
        boxes.append([cols.start, rows.start, cols.stop, rows.stop])
        bits.append(part.ravel())
    skeletons = [np.asarray(inst.attributes["skeleton"], dtype=np.float32).reshape(-1, 2) for inst in sample.instances]
    members = [np.asarray(c.members, dtype=np.int32) for c in sample.clusters]
    n = len(sample.instances)
    return {
        "label_map": top,
        "second_label_map": second,
        "overlap_mask": sample.overlap_mask,
        "instance_ids": np.array([inst.id for inst in sample.instances], dtype=np.int32),
        "labels": np.array([inst.label for inst in sample.instances], dtype="<U2"),
        "mask_boxes": np.array(boxes, dtype=np.int32).reshape(n, 4),
        "mask_bits": np.packbits(np.concatenate(bits)) if bits else np.zeros(0, np.uint8),
        "skeleton_points": np.concatenate(skeletons) if skeletons else np.zeros((0, 2), np.float32),
        "skeleton_offsets": np.cumsum([0] + [len(s) for s in skeletons]).astype(np.int64),
        "endpoints": np.array([inst.attributes["endpoints"] for inst in sample.instances], dtype=np.float32).reshape(n, 2, 2),
        "centromeres": np.array([inst.attributes["centromere"] for inst in sample.instances], dtype=np.float32).reshape(n, 2),
        "rotated_boxes": np.array([inst.attributes["rotated_box"] for inst in sample.instances], dtype=np.float32).reshape(n, 5),
        "cluster_members": np.concatenate(members) if members else np.zeros(0, np.int32),
        "cluster_offsets": np.cumsum([0] + [len(m) for m in members]).astype(np.int64),
        "cluster_kinds": np.array([c.kind for c in sample.clusters], dtype="<U5"),
        "karyotype": np.array(sample.karyotype),
    }


def read_instance_masks(npz_path: str | Path) -> np.ndarray:
    """The exact instance masks (N x H x W bool) stored in a STEM.npz file."""
    with np.load(npz_path) as data:
        boxes, packed, shape = data["mask_boxes"], data["mask_bits"], data["label_map"].shape
    sizes = [(y1 - y0) * (x1 - x0) for x0, y0, x1, y1 in boxes]
    bits = np.unpackbits(packed, count=int(sum(sizes))).astype(bool)
    masks = np.zeros((len(boxes), *shape), dtype=bool)
    start = 0
    for k, ((x0, y0, x1, y1), size) in enumerate(zip(boxes, sizes)):
        masks[k, y0:y1, x0:x1] = bits[start:start + size].reshape(y1 - y0, x1 - x0)
        start += size
    return masks


def write_sample(sample: SynthMetaphase, out_dir: str | Path, stem: str) -> dict[str, Path]:
    """Write STEM.png, STEM.npz and STEM.json into out_dir (each atomically); returns their paths."""
    paths = sample_paths(out_dir, stem)
    ok, png = cv2.imencode(".png", sample.image)  # several times faster than Pillow's encoder
    if not ok:
        raise ValueError("could not encode the image as PNG")
    atomic_write_bytes(paths["image"], png.tobytes())
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **sample_arrays(sample))
    atomic_write_bytes(paths["arrays"], buffer.getvalue())
    write_labelme(paths["labelme"], sample_annotations(sample, paths["image"]))
    return paths
