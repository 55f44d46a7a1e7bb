"""One count for every report: named + unnamed chromosomes, the karyotype's number; clusters apart."""

import numpy as np

from karyostudio.core.cell_count import CellCount, count_cell, is_placeable, object_kind
from karyostudio.core.instance import Instance

SQ = np.array([[0, 0], [4, 0], [4, 4], [0, 4]], float)


def _inst(i, label=None, **attributes):
    return Instance(id=i, polygon=SQ, label=label, attributes=attributes)


def test_count_agrees_with_the_karyotype_and_clusters_are_apart():
    labels = [str(n) for n in range(1, 23) for _ in (0, 1)] + ["X", "X"]
    instances = [_inst(k, label) for k, label in enumerate(labels)]
    instances += [_inst(100, None), _inst(101, None, cluster=True), _inst(102, "5", cluster=True),
                  _inst(103, None, kind="nucleus")]
    count = count_cell(instances)
    assert (count.named, count.unnamed, count.clusters, count.other) == (46, 1, 2, 1)
    assert count.chromosomes == 47 and count.karyotype == "47,XX,+mar"
    assert int(count.karyotype.split(",")[0]) == count.chromosomes
    assert count.text() == ("47 chromosomes (46 named, 1 unnamed), 2 clusters (not counted), "
                            "1 other object (not counted)")
    assert count.outlines == 50


def test_kinds_and_placeable():
    assert object_kind(_inst(1, "1")) == "chromosome" and is_placeable(_inst(1, "1"))
    assert object_kind(_inst(1, "1", cluster=True)) == "cluster" and not is_placeable(_inst(1, "1", cluster=True))
    assert object_kind(_inst(1, None, kind="Debris")) == "other"
    assert not is_placeable(_inst(1, None))


def test_an_empty_cell():
    assert count_cell([]) == CellCount() and count_cell([]).text() == "" and count_cell([]).karyotype == ""


def test_a_handful_of_objects_is_no_metaphase_but_a_near_haploid_cell_is_one():
    specks = count_cell([_inst(k, "1") for k in range(3)] + [_inst(9, None, kind="debris")])
    assert specks.no_metaphase and specks.result_text() == "no metaphase found (4 objects)"
    assert count_cell([]).result_text() == "no metaphase found (0 objects)"
    near_haploid = count_cell([_inst(k, str(1 + k % 22)) for k in range(24)])
    assert not near_haploid.no_metaphase and near_haploid.result_text() == near_haploid.text()
    # A cluster may hide many chromosomes: not called empty.
    assert not count_cell([_inst(1, "1"), _inst(2, None, cluster=True)]).no_metaphase
