"""Reviewing a case as a lab does: reject cells, count/analyse/karyogram targets, thumbnails, a narrow
Case panel, one count everywhere, relabels marked reviewed."""

from __future__ import annotations

from PySide6.QtCore import Qt

from karyostudio.core.commands import AddInstances
from karyostudio.core.instance import Instance
from karyostudio.gui.case.review import lab_targets, set_lab_targets
from karyostudio.workspace.case_scan import scan_case
from karyostudio.io.case_report import CellStatus, LabTargets
from karyostudio.io.labelme import load_json

from tests.gui.case_folders import NORMAL_FEMALE, make_case, write_cell_annotations, write_cell_image
from tests.gui.helpers import square


def _open(window, tmp_path):
    case = make_case(tmp_path / "case")
    assert window.case.open_case(case)
    return case


def test_rejecting_a_cell_takes_it_out_of_the_tally_at_once_and_is_undoable(window, tmp_path):
    case = _open(window, tmp_path)
    assert window.case.open_cell(3)  # cell10, 45,X
    review = window.case.review
    assert not review.reject_action.isChecked()
    review.reject_action.trigger()
    assert load_json(case / "cell10.json")["cellStatus"] == "rejected"
    cell = window.case.cells[3]
    assert cell.status == CellStatus.REJECTED and review.reject_action.isChecked()
    tally = window.case.panel.tally.text()
    assert "1 rejected" in tally and "45,X" not in tally
    window.act.undo.trigger()  # the mark is one undo step; saving again writes it away
    assert not review.reject_action.isChecked() and "cellStatus" not in window.session.extra
    window.files.save()
    assert window.case.cells[3].status == CellStatus.REVIEWED


def test_a_not_started_cell_can_be_rejected_too(window, tmp_path):
    case = _open(window, tmp_path)
    assert window.session.image_path == case / "cell1.png"
    assert window.case.review.set_rejected(True)
    assert window.case.cells[0].status == CellStatus.REJECTED and (case / "cell1.json").is_file()


def test_the_lab_workflow_is_in_the_tally_and_the_report(window, tmp_path):
    case = _open(window, tmp_path)
    assert lab_targets() == LabTargets(20, 5, 2)
    tally = window.case.panel.tally.text()
    assert "counted 3/20, analysed 2/5, karyograms 0/2" in tally and "modal number 46" in tally
    (case / "cell3_karyogram.png").write_bytes(b"\x89PNG exported")
    set_lab_targets(LabTargets(count=3, analyse=2, karyograms=1))
    window.case.refresh()
    assert "counted 3/3 \u2713, analysed 2/2 \u2713, karyograms 1/1 \u2713" in window.case.panel.tally.text()
    report = tmp_path / "report.html"
    assert window.case.exports.export_case_report(report)
    html = report.read_text()
    assert "karyograms 1/1" in html and "modal number 46" in html and "; complete." in html


def test_a_karyogram_export_of_a_case_cell_goes_beside_it_and_counts(window, tmp_path, monkeypatch, messages):
    from karyostudio.gui.karyogram import export_dialog

    case = _open(window, tmp_path)
    assert window.case.open_cell(1)  # cell2, 46 outlines
    seen = []

    def fake_exec(dialog):
        seen.append((dialog.path.text(), dialog.case_id.text(), dialog.cell.text()))
        dialog.accept()
        return export_dialog.ExportDialog.DialogCode.Accepted

    monkeypatch.setattr(export_dialog.ExportDialog, "exec", fake_exec)
    window.karyogram.act_export.trigger()
    assert seen == [(str(case / "cell2_karyogram.png"), "case", "cell2")]
    assert not messages.errors, messages.errors
    window.case.refresh()
    assert window.case.cells[1].karyogram and "karyograms 1/2" in window.case.panel.tally.text()


def test_the_case_panel_can_be_narrowed(window, tmp_path, qtbot):
    case = make_case(tmp_path / "case")
    long = write_cell_image(case, "cell-with-a-very-long-name-from-the-microscope-export-0001")
    write_cell_annotations(long, NORMAL_FEMALE + [None] * 30, reviewed=False)  # a long karyotype
    assert window.case.open_case(case)
    window.resize(1400, 800)
    dock = window.case.dock
    assert window.case.panel.minimumSizeHint().width() <= 200 and dock.minimumSizeHint().width() <= 230
    window.resizeDocks([dock], [220], Qt.Orientation.Horizontal)
    qtbot.waitUntil(lambda: dock.width() <= 240)
    assert window.centralWidget().width() > 0.5 * window.width()  # metaphase and karyogram keep the room


def test_the_case_list_shows_thumbnails(window, tmp_path, qtbot):
    _open(window, tmp_path)
    model = window.case.panel.model
    model.index(0, 0).data(Qt.ItemDataRole.DecorationRole)  # asks for it
    qtbot.waitUntil(lambda: model.index(0, 0).data(Qt.ItemDataRole.DecorationRole) is not None)
    pixmap = model.index(0, 0).data(Qt.ItemDataRole.DecorationRole)
    assert max(pixmap.width(), pixmap.height()) <= 48 and not pixmap.isNull()


def test_count_and_karyotype_agree_in_the_case_and_the_instance_list(window, tmp_path):
    case = tmp_path / "case"
    case.mkdir()
    image = write_cell_image(case, "cell1")
    labels = NORMAL_FEMALE[:-2]  # 44 named
    path = write_cell_annotations(image, labels + [None], reviewed=False)
    from karyostudio.io.labelme import read_labelme, write_labelme

    ann = read_labelme(path)
    cluster = Instance(id=99, polygon=square(100, 100, 10), attributes={"cluster": True})
    ann.instances = list(ann.instances) + [cluster]
    write_labelme(path, ann)
    cell = scan_case(case)[0]
    assert (cell.count, cell.named, cell.unnamed, cell.clusters) == (45, 44, 1, 1)
    assert cell.karyotype.split(",")[0] == "45"
    assert window.case.open_case(case)
    row = [window.case.panel.model.index(0, c).data() for c in range(4)]
    assert row[2] == "45 +1 cl." and row[3] == cell.karyotype
    summary = window.instance_panel.summary.text()
    assert summary.startswith("45 chromosomes (44 named, 1 unnamed)") and "1 cluster" in summary
    assert cell.karyotype in summary


def test_a_manual_relabel_shows_reviewed_instead_of_the_models_score(window):
    window.session.history.push(AddInstances([Instance(id=1, polygon=square(10, 10, 20), label="4", score=1.0,
                                                       source="model")]))
    model = window.instance_panel.model
    assert model.index(0, 2).data() == "1.00"
    window.selection.set([1])
    window.set_label("5")
    inst = window.session.document.get(1)
    assert inst.label == "5" and inst.reviewed and inst.score is None
    assert model.index(0, 2).data() == "reviewed"
    window.act.undo.trigger()
    assert window.session.document.get(1).score == 1.0 and model.index(0, 2).data() == "1.00"
