"""File > Open Recent: persistence in the settings, at most ten entries, missing ones removed."""

from __future__ import annotations

import shutil

from karyostudio.gui.recent import MAX_RECENT, RecentPaths

from tests.gui.case_folders import make_case, write_cell_image


def test_recent_list_persists_newest_first_without_duplicates(tmp_path, isolated_settings):
    paths = [write_cell_image(tmp_path, f"c{i}") for i in range(MAX_RECENT + 2)]
    recent = RecentPaths()
    for path in paths:
        recent.add(path)
    recent.add(paths[3])  # again: moves to the top
    stored = RecentPaths().entries()  # a fresh reader: what the settings file holds
    assert len(stored) == MAX_RECENT
    assert stored[0] == paths[3] and stored[1:] == [p for p in reversed(paths) if p != paths[3]][: MAX_RECENT - 1]
    assert any(isolated_settings.rglob("*.ini"))  # inside the test's settings folder


def test_opening_files_and_cases_fills_the_menu(window, tmp_path):
    image = write_cell_image(tmp_path, "single")
    assert window.files.open_path(image)
    case = make_case(tmp_path / "case")
    assert window.case.open_case(case)  # opens a cell too; cells do not crowd the list
    assert window.case.recent.entries() == [case.absolute(), image]
    menu = window.case.recent_menu
    menu.rebuild()
    texts = [a.text() for a in menu.actions()]
    assert texts[:2] == ["&1 case/", "&2 single.png"]
    menu.actions()[1].trigger()
    assert window.session.image_path == image
    menu.actions()[0].trigger()
    assert window.case.folder == case.absolute()


def test_missing_entries_are_removed_with_a_message(window, tmp_path, messages):
    kept = write_cell_image(tmp_path, "kept")
    gone = write_cell_image(tmp_path, "gone")
    folder = make_case(tmp_path / "gone_case")
    for path in (kept, gone, folder):
        window.case.recent.add(path)
    menu = window.case.recent_menu
    menu.rebuild()
    stale = next(a for a in menu.actions() if a.text().endswith("gone.png"))
    gone.unlink()
    stale.trigger()  # vanished after the menu was shown
    assert len(messages.warnings) == 1 and "gone.png" in messages.warnings[0]
    assert gone not in RecentPaths().entries()

    shutil.rmtree(folder)
    menu.aboutToShow.emit()
    assert "removed 1 missing entry from Open Recent: gone_case" in window.status.currentMessage()
    assert RecentPaths().entries() == [kept]
    assert [a.text() for a in menu.actions()][0] == "&1 kept.png"
