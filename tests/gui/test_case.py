"""Cases: statuses from the files, the case table and tally, moving between cells, drops."""

from __future__ import annotations

import shutil
from pathlib import Path

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from karyostudio.core.commands import AddInstances
from karyostudio.core.instance import Instance
from karyostudio.workspace.case_scan import CaseReader, scan_case
from karyostudio.io.case_report import CellStatus

from tests.gui.case_folders import make_case, write_cell_annotations, write_cell_image
from tests.gui.helpers import square


def test_statuses_counts_and_karyotypes_come_from_the_files(tmp_path):
    case = make_case(tmp_path / "case")
    (case / "notes.txt").write_text("not a cell")
    (case / "cell3.npz").write_bytes(b"arrays")
    broken = write_cell_image(case, "cell4")
    broken.with_suffix(".json").write_text('{"shapes": [')
    cells = scan_case(case)
    assert [c.name for c in cells] == ["cell1", "cell2", "cell3", "cell4", "cell10"]  # natural order
    assert [c.status for c in cells] == [CellStatus.NOT_STARTED, CellStatus.AUTO, CellStatus.REVIEWED,
                                         CellStatus.UNREADABLE, CellStatus.REVIEWED]
    assert [c.count for c in cells] == [None, 46, 46, None, 45]
    assert [c.karyotype for c in cells] == [None, "46,XX", "46,XX", None, "45,X"]
    assert "not valid JSON" in cells[3].error


def _open_case(window, tmp_path) -> Path:
    case = make_case(tmp_path / "case")
    assert window.case.open_case(case)
    return case


def test_open_folder_fills_the_table_and_tally_and_opens_the_first_unfinished_cell(window, tmp_path):
    case = _open_case(window, tmp_path)
    model = window.case.panel.model
    assert model.rowCount() == 4
    rows = [[model.index(r, c).data() for c in range(4)] for r in range(4)]
    assert rows == [["cell1", "not started", "", ""], ["cell2", "auto", "46", "46,XX"],
                    ["cell3", "reviewed", "46", "46,XX"], ["cell10", "reviewed", "45", "45,X"]]
    tally = window.case.panel.tally.text()
    assert "4 cells: 1 not started, 1 auto, 2 reviewed" in tally
    assert "46,XX: 2 cells, 45,X: 1" in tally and "modal number 46" in tally
    assert window.session.image_path == case / "cell1.png"
    assert window.case.current_row() == 0
    assert window.case.panel.table.selectionModel().isRowSelected(0)


def test_reading_the_folder_shows_the_wait_cursor(window, tmp_path, monkeypatch):
    shapes = []
    real_scan = CaseReader.scan

    def watched_scan(self, folder):
        cursor = QApplication.overrideCursor()
        shapes.append(None if cursor is None else cursor.shape())
        return real_scan(self, folder)

    monkeypatch.setattr(CaseReader, "scan", watched_scan)
    _open_case(window, tmp_path)
    assert shapes[0] == Qt.CursorShape.WaitCursor
    assert QApplication.overrideCursor() is None


def _double_click_row(qtbot, table, row: int) -> None:
    rect = table.visualRect(table.model().index(row, 0))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_double_click_opens_a_cell_asking_about_unsaved_changes(window, tmp_path, qtbot, messages):
    case = _open_case(window, tmp_path)
    table = window.case.panel.table
    _double_click_row(qtbot, table, 2)
    assert window.session.annotation_path == case / "cell3.json" and len(window.session.document) == 46

    window.session.history.push(AddInstances([Instance(id=100, polygon=square(100, 80, 10), label="Y")]))
    messages.answer = QMessageBox.StandardButton.Cancel
    _double_click_row(qtbot, table, 1)
    assert len(messages.questions) == 1 and window.session.annotation_path == case / "cell3.json"
    assert len(window.session.document) == 47  # nothing lost

    messages.answer = QMessageBox.StandardButton.Discard
    _double_click_row(qtbot, table, 1)
    assert len(messages.questions) == 2 and window.session.annotation_path == case / "cell2.json"


def test_next_and_previous_cell_with_page_keys(window, tmp_path, qtbot):
    case = _open_case(window, tmp_path)
    window.activateWindow()
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_PageDown)
    assert window.session.image_path == case / "cell2.png"
    qtbot.keyClick(window.view, Qt.Key.Key_PageDown)
    qtbot.keyClick(window.view, Qt.Key.Key_PageDown)
    assert window.session.image_path == case / "cell10.png"
    assert not window.case.step(+1)  # the last cell: stays
    assert window.session.image_path == case / "cell10.png"
    qtbot.keyClick(window.view, Qt.Key.Key_PageUp)
    assert window.session.image_path == case / "cell3.png"
    assert window.case.panel.model.index(2, 0).data(Qt.ItemDataRole.FontRole).bold()


def test_saving_a_cell_updates_its_status_and_the_tally(window, tmp_path, monkeypatch):
    case = _open_case(window, tmp_path)  # cell1 is open, not started
    window.session.history.push(AddInstances([Instance(id=1, polygon=square(10, 10, 20), label="X",
                                                       reviewed=True)]))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda parent, title, start, *a: (start, "")))
    window.act.save.trigger()  # Save As suggests cell1.json beside the image
    assert (case / "cell1.json").is_file()
    model = window.case.panel.model
    assert [model.index(0, c).data() for c in range(4)] == ["cell1", "reviewed", "1", "1,X,-1,-1,-2,-2,-3,-3,"
                                                            "-4,-4,-5,-5,-6,-6,-7,-7,-8,-8,-9,-9,-10,-10,-11,-11,"
                                                            "-12,-12,-13,-13,-14,-14,-15,-15,-16,-16,-17,-17,-18,"
                                                            "-18,-19,-19,-20,-20,-21,-21,-22,-22"]
    assert "3 reviewed" in window.case.panel.tally.text()


def test_a_change_on_disk_is_picked_up(window, tmp_path, qtbot):
    case = _open_case(window, tmp_path)
    write_cell_image(case, "cell11")
    qtbot.waitUntil(lambda: window.case.panel.model.rowCount() == 5, timeout=5000)


def _drag_and_drop(window, path: Path) -> tuple[bool, bool]:
    """What a drag from a file manager delivers: enter, move, drop; returns (entered, dropped) accepted."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    args = (Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    enter = QDragEnterEvent(QPoint(200, 200), *args)
    QApplication.sendEvent(window, enter)
    QApplication.sendEvent(window, QDragMoveEvent(QPoint(210, 210), *args))
    drop = QDropEvent(QPointF(210, 210), *args)
    QApplication.sendEvent(window, drop)
    return enter.isAccepted(), drop.isAccepted()


def _drop(window, path: Path) -> None:
    assert _drag_and_drop(window, path) == (True, True)


def test_dropping_a_folder_image_or_annotation_opens_it(window, tmp_path, qtbot):
    case = make_case(tmp_path / "case")
    _drop(window, case)
    qtbot.waitUntil(lambda: window.case.folder == case.absolute(), timeout=3000)
    assert window.case.panel.model.rowCount() == 4
    _drop(window, case / "cell10.json")
    qtbot.waitUntil(lambda: window.session.annotation_path == case / "cell10.json", timeout=3000)
    other = write_cell_image(tmp_path, "elsewhere")
    _drop(window, other)
    qtbot.waitUntil(lambda: window.session.image_path == other, timeout=3000)
    assert window.case.current_row() is None  # a file outside the case


def test_dropping_something_unopenable_is_refused(window, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    session = window.session
    assert _drag_and_drop(window, text) == (False, False)
    assert window.session is session


def test_unreadable_image_and_folder_errors_are_dialogs(window, tmp_path, messages):
    case = _open_case(window, tmp_path)
    (case / "cell2.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00garbage")
    (case / "cell2.json").unlink()
    window.case.refresh()
    before = window.session
    assert not window.case.open_cell(1)
    assert len(messages.errors) == 1 and "cell2.png" in messages.errors[0]
    assert window.session is before
    assert not window.case.open_case(tmp_path / "missing")
    assert "could not be opened as a case" in messages.errors[1]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert not window.case.open_case(empty) and "holds no images" in messages.warnings[-1]
    assert window.case.folder == case.absolute()  # the open case stays


def test_a_copied_cell_whose_imagepath_leads_nowhere_opens_with_its_own_image(window, tmp_path):
    samples = Path(__file__).resolve().parents[2] / "resources" / "samples"
    case = tmp_path / "copied"
    case.mkdir()
    shutil.copy(samples / "sample_metaphase.png", case / "m1.png")
    shutil.copy(samples / "sample_metaphase.json", case / "m1.json")  # imagePath names sample_metaphase.png
    assert window.case.open_case(case)
    session = window.session
    assert session.image is not None and session.image_path == case / "m1.png"
    assert session.annotation_path == case / "m1.json" and len(session.document) > 40
    assert window.case.current_row() == 0


def test_rescans_read_only_changed_annotation_files(tmp_path, monkeypatch):
    import karyostudio.workspace.case_scan as scan_module

    case = make_case(tmp_path / "case")
    reads = []
    real = scan_module.read_labelme
    monkeypatch.setattr(scan_module, "read_labelme", lambda path: reads.append(path.name) or real(path))
    reader = CaseReader()
    first = reader.scan(case)
    assert sorted(reads) == ["cell10.json", "cell2.json", "cell3.json"]
    reads.clear()
    assert reader.scan(case) == first and reads == []
    write_cell_annotations(case / "cell2.png", ["X"], reviewed=True)  # an atomic rewrite
    again = reader.scan(case)
    assert reads == ["cell2.json"] and (again[1].status, again[1].count) == (CellStatus.REVIEWED, 1)
    (case / "cell3.json").unlink()
    assert reader.scan(case)[2].status == CellStatus.NOT_STARTED
