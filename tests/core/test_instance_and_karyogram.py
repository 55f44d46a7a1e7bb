import numpy as np
import pytest

from karyostudio.core.instance import Instance
from karyostudio.core.karyogram import layout_karyogram

SQ = [[0, 0], [4, 0], [4, 2], [0, 2]]


def test_instance_validates_and_is_immutable():
    inst = Instance(id=1, polygon=SQ, label="X", score=0.25)
    assert inst.area == 8.0 and inst.bbox == (0.0, 0.0, 4.0, 2.0)
    with pytest.raises(ValueError):
        inst.polygon[0, 0] = 5
    for bad in [dict(polygon=[[0, 0], [1, 1]]), dict(polygon=[[0, 0, 0]] * 3), dict(label="23"),
                dict(score=1.5), dict(polygon=[[0, 0], [np.nan, 1], [2, 2]])]:
        with pytest.raises(ValueError):
            Instance(**{"id": 1, "polygon": SQ, **bad})
    edited = inst.with_(label="Y")
    assert edited.label == "Y" and inst.label == "X" and edited != inst


def test_layout_groups_by_class_in_rows():
    insts = [Instance(id=1, polygon=SQ, label="1", score=0.6), Instance(id=2, polygon=SQ, label="1", score=0.9),
             Instance(id=3, polygon=SQ, label="X"), Instance(id=4, polygon=SQ, label=None),
             Instance(id=5, polygon=SQ, label="Y", score=0.5),
             Instance(id=6, polygon=SQ, label="2", attributes={"cluster": True}),
             Instance(id=7, polygon=SQ, label=None, attributes={"kind": "nucleus"})]
    layout = layout_karyogram(insts)
    assert [s.name for s in layout.rows[0]] == ["1", "2", "3", "4", "5"]
    assert len(layout.rows) == 4
    assert layout.slot("1").instance_ids == [2, 1]  # higher score first
    assert layout.rows[-1][-2].name == "X" and layout.slot("X").instance_ids == [3]
    assert layout.rows[-1][-1].name == "Y" and layout.slot("Y").instance_ids == [5]
    # a labelled cluster never sits in a slot; unnamed first, then clusters, then other objects
    assert layout.slot("2").instance_ids == [] and layout.unassigned == [4, 6, 7]
