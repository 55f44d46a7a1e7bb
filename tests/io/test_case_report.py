"""Case tally (karyotypes, modal number, statuses) and the HTML case report."""

from __future__ import annotations

from pathlib import Path

from karyostudio.io.case_report import CaseCell, CellStatus, case_report_html, case_tally


def _cell(name: str, status: CellStatus, count: int | None = None, karyotype: str | None = None) -> CaseCell:
    annotation = None if status == CellStatus.NOT_STARTED else Path(f"{name}.json")
    return CaseCell(name, Path(f"{name}.png"), annotation, status, count, karyotype)


CELLS = [
    *[_cell(f"r{i}", CellStatus.REVIEWED, 46, "46,XX") for i in range(3)],
    _cell("a1", CellStatus.AUTO, 45, "45,X"),
    _cell("a2", CellStatus.AUTO, 46, "46,XX"),
    _cell("n1", CellStatus.NOT_STARTED),
    _cell("u1", CellStatus.UNREADABLE),
]


def test_tally_counts_karyotypes_statuses_and_modal_number():
    tally = case_tally(CELLS)
    assert tally.cells == 7
    assert tally.by_status == {CellStatus.NOT_STARTED: 1, CellStatus.AUTO: 2, CellStatus.REVIEWED: 3,
                               CellStatus.REJECTED: 0, CellStatus.UNREADABLE: 1}
    assert tally.karyotypes == [("46,XX", 4), ("45,X", 1)]
    assert tally.karyotype_text() == "46,XX: 4 cells, 45,X: 1"
    assert tally.modal_numbers == (46,)
    assert tally.text().splitlines() == ["7 cells: 1 not started, 2 auto, 3 reviewed, 1 unreadable",
                                         "counted 5/20, analysed 3/5, karyograms 0/2",
                                         "46,XX: 4 cells, 45,X: 1", "modal number 46"]


def test_tally_of_an_empty_case_and_a_tie():
    empty = case_tally([_cell("n", CellStatus.NOT_STARTED)])
    assert empty.karyotypes == [] and empty.modal_numbers == ()
    assert "no karyotypes yet" in empty.text() and "unreadable" not in empty.status_text()
    tie = case_tally([_cell("a", CellStatus.AUTO, 45, "45,X"), _cell("b", CellStatus.AUTO, 47, "47,XXY")])
    assert tie.modal_numbers == (45, 47) and tie.modal_text() == "modal number 45/47 (tie)"


def test_report_lists_every_cell_with_the_tally():
    html = case_report_html("patient <7>", CELLS, date="2026-03-01", reviewer="Dr. A & B")
    assert "Case patient &lt;7&gt;" in html and "2026-03-01" in html and "Reviewer: Dr. A &amp; B" in html
    for cell in CELLS:
        assert f"<td>{cell.name}</td><td>{cell.status.value}</td>" in html
    assert "<tr><td>46,XX</td><td>4</td></tr>" in html and "modal number 46" in html
    assert "<td>a1</td><td>auto</td><td>45</td><td>45,X</td>" in html
    assert "counted 5/20, analysed 3/5, karyograms 0/2" in html and "not complete yet" in html
    assert "Reviewer" not in case_report_html("c", CELLS, date="2026-03-01")


def test_rejected_cells_are_listed_but_left_out_of_the_tally():
    cells = CELLS + [_cell("x1", CellStatus.REJECTED, 39, "39,X")]
    tally = case_tally(cells)
    assert tally.by_status[CellStatus.REJECTED] == 1 and "1 rejected" in tally.status_text()
    assert ("39,X", 1) not in tally.karyotypes and tally.counted == 5 and tally.modal_numbers == (46,)
    assert "<td>x1</td><td>rejected</td>" in case_report_html("c", cells, date="2026-03-01")


def test_the_lab_workflow_targets_count_analyse_and_karyograms():
    from dataclasses import replace

    from karyostudio.io.case_report import LabTargets

    cells = [replace(_cell(f"r{i}", CellStatus.REVIEWED, 46, "46,XY"), karyogram=i < 2) for i in range(5)]
    cells += [_cell(f"a{i}", CellStatus.AUTO, 46, "46,XY") for i in range(15)]
    tally = case_tally(cells)
    assert (tally.counted, tally.analysed, tally.karyograms) == (20, 5, 2) and tally.complete
    assert tally.workflow_text() == "counted 20/20 \u2713, analysed 5/5 \u2713, karyograms 2/2 \u2713"
    small = case_tally(cells, LabTargets(count=30, analyse=5, karyograms=3))
    assert not small.complete and "counted 20/30," in small.workflow_text()
    html = case_report_html("c", cells, date="2026-03-01")
    assert "modal number 46" in html and "; complete." in html
