"""ClusterSplitter: split one cluster outline into chromosomes (ChromSeg, both stages).

For one instance (an outline holding crossing chromosomes):
  1. crop its bounding box plus a margin from the image;
  2. ask the segmenter for the crop's foreground and crossing-overlap probability maps
     (stage one, region-guided UNet++) and threshold them;
  3. keep only the foreground inside the instance's outline (grown by a few pixels, since two
     segmentations never agree to the pixel), so a neighbour in the crop does not join in;
  4. run the crossing-partition (stage two, karyostudio.geometry.crossing_partition) with its
     disk radius scaled to the chromosome width measured in the crop;
  5. turn each chromosome mask into an Instance (outline from mask_to_polygon) with
     attributes {"split_from": original id, "reconstructed": True}.

A split that the geometry does not support comes back refused, with the partition's reason,
and no pieces: callers keep the original outline.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
from scipy import ndimage
from skimage.morphology import skeletonize

from karyostudio.core.instance import Instance
from karyostudio.geometry.crossing_parts import dilate
from karyostudio.geometry.crossing_partition import PartitionParams, PartitionResult, PartitionStatus, partition_cluster
from karyostudio.geometry.polygons import mask_to_polygon, polygon_to_mask

SPLIT_FROM = "split_from"
RECONSTRUCTED = "reconstructed"
SPLIT_REFUSED = "split_refused"  # set by callers on outlines kept because the split was refused


class MapSegmenter(Protocol):
    """What the splitter needs from stage one (karyostudio.models.overlap.segmenter.OverlapSegmenter)."""

    def predict_maps(self, crop: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass(frozen=True)
class SplitResult:
    """The pieces of one instance, or why there are none.

    ``partition`` holds the chromosome masks in crop coordinates (crop origin ``origin``,
    (x0, y0) in the image), e.g. for ``partition.reconstruct(crop)``. Pieces are numbered
    from the ``first_id`` given to split (1 when none was given).
    """

    original: Instance
    pieces: tuple[Instance, ...]
    status: PartitionStatus
    reason: str
    origin: tuple[int, int] = (0, 0)
    partition: PartitionResult | None = None

    @property
    def ok(self) -> bool:
        return self.status is PartitionStatus.SPLIT and len(self.pieces) >= 2

    def with_ids(self, first_id: int) -> "SplitResult":
        return replace(self, pieces=tuple(p.with_(id=first_id + k) for k, p in enumerate(self.pieces)))


class ClusterSplitter:
    """ChromSeg's two stages for one outline at a time; see the module docstring."""

    def __init__(self, segmenter: MapSegmenter, *, margin: int = 8, threshold: float | None = None,
                 outline_grow: int = 3, min_foreground_fraction: float = 0.5,
                 params: PartitionParams | None = None, name: str | None = None):
        self.segmenter = segmenter
        self.margin = int(margin)
        self.threshold = float(threshold if threshold is not None else getattr(segmenter, "threshold", 0.5))
        self.outline_grow = int(outline_grow)
        self.min_foreground_fraction = float(min_foreground_fraction)
        self.params = params  # None: scaled to the chromosome width of each crop
        self.name = name or getattr(segmenter, "name", "") or "chromseg"

    def window(self, image_shape: tuple[int, int], instance: Instance) -> tuple[int, int, int, int] | None:
        """(x0, y0, x1, y1) of the crop: the outline's box plus the margin, inside the image."""
        xmin, ymin, xmax, ymax = instance.bbox
        x0, y0 = max(int(np.floor(xmin)) - self.margin, 0), max(int(np.floor(ymin)) - self.margin, 0)
        x1 = min(int(np.ceil(xmax)) + self.margin, image_shape[1])
        y1 = min(int(np.ceil(ymax)) + self.margin, image_shape[0])
        return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None

    def maps(self, crop: np.ndarray, outline: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Thresholded (foreground, crossing) of a crop, limited to the grown outline mask."""
        fg_prob, cross_prob = self.segmenter.predict_maps(crop)
        if np.shape(fg_prob) != crop.shape or np.shape(cross_prob) != crop.shape:
            raise ValueError(f"segmenter returned maps of shapes {np.shape(fg_prob)} and {np.shape(cross_prob)} "
                             f"for a crop of shape {crop.shape}")
        foreground = (np.asarray(fg_prob) >= self.threshold) & dilate(outline, self.outline_grow)
        foreground = _drop_specks(foreground)
        return foreground, (np.asarray(cross_prob) >= self.threshold) & foreground

    def split(self, image: np.ndarray, instance: Instance, *, first_id: int | None = None) -> SplitResult:
        image = np.asarray(image)
        if image.ndim != 2:
            raise ValueError(f"image must be 2-D grayscale, got shape {image.shape}")
        box = self.window(image.shape, instance)
        if box is None:
            return SplitResult(instance, (), PartitionStatus.AMBIGUOUS, "the outline lies outside the image")
        x0, y0, x1, y1 = box
        crop = image[y0:y1, x0:x1]
        outline = polygon_to_mask(instance.polygon - np.array([x0, y0], dtype=np.float64), crop.shape)
        foreground, crossing = self.maps(crop, outline)
        if foreground.sum() < self.min_foreground_fraction * max(int(outline.sum()), 1):
            return SplitResult(instance, (), PartitionStatus.AMBIGUOUS,
                               f"the segmenter finds chromosome in only {foreground.sum()} of the outline's "
                               f"{int(outline.sum())} pixels", (x0, y0))
        params = self.params or PartitionParams.for_chromosome_width(chromosome_width(foreground))
        result = partition_cluster(foreground, crossing, params)
        if not result.ok:
            return SplitResult(instance, (), result.status, result.reason, (x0, y0), result)
        pieces = []
        for k, mask in enumerate(result.chromosomes):
            polygon = mask_to_polygon(mask)
            if polygon is None:
                return SplitResult(instance, (), PartitionStatus.AMBIGUOUS, "a piece has no outline", (x0, y0), result)
            attributes = {SPLIT_FROM: instance.id, RECONSTRUCTED: True, "junctions": list(result.junctions)}
            pieces.append(Instance(id=(first_id if first_id is not None else 1) + k,
                                   polygon=polygon + np.array([x0, y0], dtype=np.float64),
                                   source=instance.source, attributes=attributes))
        return SplitResult(instance, tuple(pieces), result.status, result.reason, (x0, y0), result)


def chromosome_width(foreground: np.ndarray) -> float:
    """Typical width (px) of the chromosomes in a mask: twice the median distance to the
    background along the medial skeleton."""
    if not foreground.any():
        return 0.0
    distance = ndimage.distance_transform_edt(np.pad(foreground, 1))[1:-1, 1:-1]
    skeleton = skeletonize(foreground)
    values = distance[skeleton] if skeleton.any() else distance[foreground]
    return float(2.0 * np.median(values))


def _drop_specks(mask: np.ndarray, share: float = 0.05) -> np.ndarray:
    """Remove connected pieces smaller than ``share`` of the mask's largest piece."""
    labels, n = ndimage.label(mask, structure=np.ones((3, 3), bool))
    if n <= 1:
        return mask
    sizes = ndimage.sum_labels(mask, labels, index=np.arange(1, n + 1))
    keep = np.concatenate([[False], sizes >= share * sizes.max()])
    return keep[labels]
