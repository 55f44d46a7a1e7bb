"""The karyogram page layout (pure numbers) shared by the app, its exports and predict."""

import pytest

from karyostudio.core.classes import KARYOGRAM_GROUPS
from karyostudio.render.karyogram_layout import PAGE_SIZE, Piece, chromosome1_length, layout_page, \
    relative_lengths


def _pieces(labels, chr1=100.0, width=14.0):
    rel = relative_lengths()
    return [Piece(k + 1, label, width, chr1 * rel[label]) for k, label in enumerate(labels)]


def test_slots_follow_the_clinical_four_rows_and_fit_the_page():
    page = layout_page(_pieces(["1", "1", "X", "X"]))
    assert (page.width, page.height) == PAGE_SIZE
    names = [slot.name for slot in page.slots]
    assert names == [n for row in KARYOGRAM_GROUPS for g in row for n in g]
    for slot in page.slots:
        x, y, w, h = slot.rect
        assert 0 <= x and x + w <= page.width and 0 <= y and y + h <= page.height
    assert len(page.rows) == 4


def test_missing_copies_get_placeholders_and_extra_copies_are_marked():
    page = layout_page(_pieces(["1", "2", "2", "2", "X", "Y"]))
    assert len(page.slot("1").placeholders) == 1 and page.slot("1").abnormal
    assert len(page.slot("3").placeholders) == 2
    assert page.slot("2").caption == "2 (3)" and page.extra == {4}
    # a Y makes the cell male: one X and one Y expected
    assert not page.slot("X").abnormal and not page.slot("Y").abnormal
    female = layout_page(_pieces(["X"]))
    assert female.slot("X").abnormal and not female.slot("Y").placeholders


def test_the_scale_comes_from_the_cell_itself():
    small, large = layout_page(_pieces(["1", "5", "21"], chr1=50)), layout_page(_pieces(["1", "5", "21"], chr1=200))
    assert small.scale == pytest.approx(4 * large.scale, rel=0.01)
    assert small.sizes[1][1] == pytest.approx(large.sizes[1][1], rel=0.01)  # chromosome 1 fills its row either way
    # a mislabelled outlier does not set the scale: the median over every named chromosome does
    pieces = _pieces(["1", "1", "5", "5", "9", "21"]) + [Piece(99, "21", 14.0, 100.0)]
    assert chromosome1_length(pieces) == pytest.approx(100.0, rel=0.05)


def test_a_very_wide_cell_is_scaled_to_the_page_width():
    pieces = [Piece(k, "6", 400.0, 70.0) for k in range(1, 4)]
    page = layout_page(pieces)
    for slot in page.slots:
        x, _, w, _ = slot.rect
        assert x + w <= page.width + 1e-6


def test_unplaced_pieces_fill_a_band_below_the_rows():
    page = layout_page(_pieces(["1", "1"]), [Piece(50, None, 80.0, 60.0), Piece(51, None, 20.0, 30.0)])
    band = page.unplaced_band
    assert band is not None
    last_row = page.rows[-1]
    assert band[1] >= last_row[1] + last_row[3]
    for pid in (50, 51):
        x, y, w, h = page.box_of(pid)
        assert band[1] <= y and y + h <= band[1] + band[3] + 1e-6
