"""SplittingPredictor around a fixed predictor, with exact maps (see scenes.py)."""

from __future__ import annotations

import numpy as np
import pytest

from karyostudio.core.classes import NUM_CLASSES, class_index
from karyostudio.core.instance import Instance
from karyostudio.core.progress import CancelToken, Cancelled
from karyostudio.models.base import Predictor, is_cluster
from karyostudio.models.overlap import segmenter as segmenter_module
from karyostudio.models.overlap import stage
from karyostudio.models.overlap.candidates import CandidateRules, expected_relative_areas, find_candidates
from karyostudio.models.overlap.splitter import SPLIT_REFUSED, ClusterSplitter
from karyostudio.models.overlap.stage import SplittingPredictor, with_splitter
from tests.models.overlap.scenes import FixedPredictor, ThresholdSegmenter, bar, outline, render

SHAPE = (300, 420)


class PreferenceClassifier:
    """Every outline: 60% class "7", 30% class "8", the rest spread over the other classes."""

    def classify_cell(self, image, polygons):
        row = np.full(NUM_CLASSES, 0.1 / (NUM_CLASSES - 2))
        row[class_index("7")], row[class_index("8")] = 0.6, 0.3
        return np.log(np.tile(row, (len(polygons), 1)))


def cell():
    """Two single 7s, an X cluster and a three-way cluster; returns (image, instances, X bars)."""
    singles = [bar(SHAPE, (20, 20), (20, 120), 14), bar(SHAPE, (50, 20), (50, 120), 14)]
    x_pair = [bar(SHAPE, (90, 80), (230, 80), 14), bar(SHAPE, (110, 20), (210, 140), 14)]
    three = [bar(SHAPE, (260, 220), (400, 220), 14), bar(SHAPE, (330, 150), (330, 290), 14),
             bar(SHAPE, (280, 170), (380, 270), 14)]
    image = render(SHAPE, [*singles, *x_pair, *three])
    instances = [outline(singles[0], 1, label="7", score=0.9, source="fixed"),
                 outline(singles[1], 2, label="7", score=0.9, source="fixed"),
                 outline(x_pair[0] | x_pair[1], 3, source="fixed", attributes={"cluster": True}),
                 outline(three[0] | three[1] | three[2], 4, source="fixed", attributes={"cluster": True})]
    return image, instances, x_pair


def test_cluster_is_split_relabelled_and_refusal_keeps_the_original():
    image, instances, x_pair = cell()
    predictor = SplittingPredictor(FixedPredictor(instances), ClusterSplitter(ThresholdSegmenter()),
                                   PreferenceClassifier())
    assert isinstance(predictor, Predictor) and predictor.name == "fixed+threshold-test"
    out = predictor.predict(image)
    assert [i.id for i in out[:2]] == [1, 2] and out[0] == instances[0] and out[1] == instances[1]
    pieces = [i for i in out if i.attributes.get("split_from") == 3]
    assert len(pieces) == 2 and {p.id for p in pieces} == {5, 6}
    # Two 7s are already in the cell: a third would be an extra copy, so the joint assignment
    # gives both pieces their second choice.
    assert [p.label for p in pieces] == ["8", "8"]
    assert all(0.0 <= p.score <= 1.0 and p.source == predictor.name for p in pieces)
    assert all(p.attributes["top3"][0][0] == "7" for p in pieces)
    refused = [i for i in out if i.id == 4]
    assert len(refused) == 1 and is_cluster(refused[0]) and refused[0].label is None
    assert np.array_equal(refused[0].polygon, instances[3].polygon)
    assert "more than two chromosomes" in refused[0].attributes[SPLIT_REFUSED]
    assert len({i.id for i in out}) == len(out) == 5


def test_without_a_classifier_pieces_stay_unnamed_and_progress_reaches_100():
    image, instances, _ = cell()
    seen = []
    predictor = SplittingPredictor(FixedPredictor(instances), ClusterSplitter(ThresholdSegmenter()))
    out = predictor.predict(image, progress=lambda done, total, msg="": seen.append(100 * done // total))
    assert [p.label for p in out if p.attributes.get("reconstructed")] == [None, None]
    assert seen == sorted(seen) and seen[-1] == 100


def test_cancel_during_the_base_prediction_stops_before_splitting():
    image, instances, _ = cell()
    token = CancelToken()
    segmenter = ThresholdSegmenter()
    predictor = SplittingPredictor(FixedPredictor(instances, on_predict=token.cancel), ClusterSplitter(segmenter))
    with pytest.raises(Cancelled):
        predictor.predict(image, cancel=token)
    assert segmenter.calls == 0


def test_cancel_between_clusters():
    image, instances, _ = cell()
    token = CancelToken()

    class CancellingSegmenter(ThresholdSegmenter):
        def predict_maps(self, crop):
            token.cancel()
            return super().predict_maps(crop)

    segmenter = CancellingSegmenter()
    with pytest.raises(Cancelled):
        SplittingPredictor(FixedPredictor(instances), ClusterSplitter(segmenter)).predict(image, cancel=token)
    assert segmenter.calls == 1


def test_with_splitter_names_pieces_with_the_default_classifier(monkeypatch):
    image, instances, _ = cell()
    monkeypatch.setattr(segmenter_module, "load_splitter_model", lambda name, device="cpu": ThresholdSegmenter())
    predictor = with_splitter(FixedPredictor(instances), "anything")
    out = predictor.predict(image)
    pieces = [i for i in out if i.attributes.get("reconstructed")]
    assert len(pieces) == 2 and all(p.label is not None and 0 <= p.score <= 1 for p in pieces)
    assert isinstance(predictor.classifier, stage.ChromosomeClassifier)


def _box(id_, area, label=None, attributes=None, aspect=5.0):
    """A straight bar outline of the given area (long side vertical)."""
    w = np.sqrt(area / aspect)
    h = area / w
    x, y = 30.0 * id_, 10.0
    poly = np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]])
    return Instance(id=id_, polygon=poly, label=label, attributes=attributes or {})


def test_candidates_by_flag_area_and_branching():
    areas = expected_relative_areas()
    scale = 2500.0  # chromosome 1's area in this cell
    labels = [str(n) for n in range(1, 13)]
    cell_instances = [_box(k + 1, scale * areas[name], name) for k, name in enumerate(labels)]
    too_big = _box(20, 2.2 * scale * areas["21"], "21")
    unnamed_big = _box(21, 1.6 * scale)
    flagged = _box(22, 0.3 * scale, attributes={"cluster": True})
    x_shape = bar((200, 200), (50, 100), (150, 100), 10) | bar((200, 200), (100, 50), (100, 150), 10)
    crossing = outline(x_shape, 23)
    found = find_candidates([*cell_instances, too_big, unnamed_big, flagged, crossing])
    assert set(found) == {20, 21, 22, 23}
    assert "21" in found[20] and "chromosome 1" in found[21]
    assert found[22] == "flagged as a cluster" and "branches" in found[23]
    # Too few named outlines to know the cell's scale: only flag and skeleton tests remain.
    assert set(find_candidates([too_big, flagged, crossing], CandidateRules())) == {22, 23}
