"""ClusterSplitter on drawn cells with exact maps (see scenes.py)."""

from __future__ import annotations

import numpy as np
import pytest

from karyostudio.geometry.crossing_partition import PartitionStatus
from karyostudio.geometry.polygons import polygon_to_mask
from karyostudio.models.overlap.splitter import RECONSTRUCTED, SPLIT_FROM, ClusterSplitter, chromosome_width
from tests.models.overlap.scenes import BACKGROUND, DOUBLE, ThresholdSegmenter, bar, outline, render

SHAPE = (240, 260)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def scene(kind: str) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """(image, the cluster's chromosomes, a neighbour bar lying inside the crop margin)."""
    chromosomes = {
        "X": [bar(SHAPE, (40, 120), (200, 120), 16), bar(SHAPE, (70, 40), (170, 200), 16)],
        "T": [bar(SHAPE, (40, 100), (200, 100), 16), bar(SHAPE, (120, 92), (125, 210), 16)],
        "L": [bar(SHAPE, (40, 100), (130, 100), 16), bar(SHAPE, (122, 92), (160, 200), 16)],
    }[kind]
    neighbour = bar(SHAPE, (215, 30), (215, 110), 14)  # 5 px beside the cluster's box
    return render(SHAPE, [*chromosomes, neighbour]), chromosomes, neighbour


@pytest.mark.parametrize("kind", ["X", "T", "L"])
def test_split_returns_two_exact_pieces(kind):
    image, chromosomes, _ = scene(kind)
    cluster = outline(chromosomes[0] | chromosomes[1], 7, attributes={"cluster": True}, source="fixed")
    result = ClusterSplitter(ThresholdSegmenter()).split(image, cluster, first_id=20)
    assert result.ok, result.reason
    assert [p.id for p in result.pieces] == [20, 21]
    masks = [polygon_to_mask(p.polygon, SHAPE) for p in result.pieces]
    best = max(iou(masks[0], chromosomes[0]) + iou(masks[1], chromosomes[1]),
               iou(masks[1], chromosomes[0]) + iou(masks[0], chromosomes[1])) / 2
    assert best >= 0.95
    for piece in result.pieces:
        assert piece.attributes[SPLIT_FROM] == 7 and piece.attributes[RECONSTRUCTED] is True
        assert piece.label is None and piece.source == "fixed"


def test_split_keeps_the_neighbour_out_and_reconstructs_patches():
    image, chromosomes, neighbour = scene("X")
    cluster = outline(chromosomes[0] | chromosomes[1], 3)
    result = ClusterSplitter(ThresholdSegmenter(), margin=12).split(image, cluster)
    assert result.ok
    union = np.zeros(SHAPE, bool)
    for p in result.pieces:
        union |= polygon_to_mask(p.polygon, SHAPE)
    assert not (union & neighbour).any()
    x0, y0 = result.origin
    crop = image[y0:y0 + result.partition.foreground.shape[0], x0:x0 + result.partition.foreground.shape[1]]
    patches = result.partition.reconstruct(crop)
    assert len(patches) == 2
    for patch in patches:
        assert (patch.image[~patch.mask] == BACKGROUND).all() and (patch.image == DOUBLE).any()


def test_three_chromosomes_through_one_point_are_refused():
    bars = [bar(SHAPE, (40, 120), (200, 120), 14), bar(SHAPE, (120, 40), (120, 200), 14),
            bar(SHAPE, (60, 60), (180, 180), 14)]
    image = render(SHAPE, bars)
    cluster = outline(bars[0] | bars[1] | bars[2], 5, attributes={"cluster": True})
    result = ClusterSplitter(ThresholdSegmenter()).split(image, cluster)
    assert not result.ok and result.pieces == ()
    assert result.status is PartitionStatus.AMBIGUOUS and "more than two chromosomes" in result.reason


def test_outline_the_segmenter_does_not_see_is_refused():
    image = np.full(SHAPE, BACKGROUND, np.uint8)  # nothing drawn under the outline
    cluster = outline(bar(SHAPE, (40, 120), (200, 120), 16), 1)
    result = ClusterSplitter(ThresholdSegmenter()).split(image, cluster)
    assert not result.ok and "segmenter finds chromosome in only 0" in result.reason


def test_maps_of_the_wrong_size_are_an_error():
    class Broken(ThresholdSegmenter):
        def predict_maps(self, crop):
            return np.zeros((3, 3), np.float32), np.zeros((3, 3), np.float32)

    image, chromosomes, _ = scene("X")
    with pytest.raises(ValueError, match="maps of shapes"):
        ClusterSplitter(Broken()).split(image, outline(chromosomes[0] | chromosomes[1], 1))
    with pytest.raises(ValueError, match="2-D"):
        ClusterSplitter(Broken()).split(np.zeros((4, 4, 3), np.uint8), outline(chromosomes[0], 1))


def test_chromosome_width_of_a_bar():
    assert chromosome_width(bar(SHAPE, (40, 120), (200, 120), 16)) == pytest.approx(16, abs=2)
