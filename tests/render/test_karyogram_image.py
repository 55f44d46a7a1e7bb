"""The karyogram PNG (``karyostudio predict``): the clinical page layout drawn with numpy."""

import math

import cv2
import numpy as np
import pytest

from karyostudio.core.classes import KARYOGRAM_GROUPS
from karyostudio.core.instance import Instance
from karyostudio.geometry.polygons import box_to_polygon
from karyostudio.render.cutout import long_axis_angle, to_gray_uint8, upright_cutout
from karyostudio.render.karyogram_image import compose_karyogram, render_karyogram, write_png
from karyostudio.render.karyogram_layout import relative_lengths

BACKGROUND = 210


def _rect(cx, cy, length, width, angle_deg):
    return cv2.boxPoints(((cx, cy), (width, length), angle_deg)).astype(np.float64)


def _paint(image, polygon, value):
    cv2.fillPoly(image, [np.round(polygon).astype(np.int32)], int(value))


def _cell(labels, *, chr1=100.0, spacing=60, rows=4, background=BACKGROUND):
    """Upright bars, one per label, sized by their class's relative length; value 60."""
    rel = relative_lengths()
    cols = math.ceil(len(labels) / rows)
    image = np.full((rows * 140 + 40, cols * spacing + 40), background, np.uint8)
    instances = []
    for k, label in enumerate(labels):
        length = chr1 * (rel[label] if label in rel else 0.5)
        cx, cy = 40 + (k % cols) * spacing, 80 + (k // cols) * 140
        polygon = box_to_polygon((cx - 6, cy - length / 2, cx + 6, cy + length / 2))
        _paint(image, polygon, 60)
        instances.append(Instance(k + 1, polygon, label=label if label in rel else None, score=0.9))
    return image, instances


NORMAL = [name for row in KARYOGRAM_GROUPS for group in row for name in group if name != "Y"]
NORMAL = [n for n in NORMAL for _ in (0, 1)]  # 46,XX


def test_the_page_is_landscape_with_four_rows_of_groups_in_iscn_order():
    image, instances = _cell(NORMAL)
    k = compose_karyogram(image, instances)
    height, width = k.image.shape[:2]
    assert width / height == pytest.approx(297 / 210, abs=0.01)
    tops = []
    for row in KARYOGRAM_GROUPS:
        names = [n for group in row for n in group]
        row_tops = {k.slots[n][1] for n in names}
        assert len(row_tops) == 1, "every slot of a row starts at the same height"
        tops.append(row_tops.pop())
        lefts = [k.slots[n][0] for n in names]
        assert lefts == sorted(lefts)
    assert tops == sorted(tops) and len(tops) == 4
    # Groups are set apart: the gap between 3 and 4 is wider than between 1 and 2.
    gap = lambda a, b: k.slots[b][0] - k.slots[a][2]  # noqa: E731
    assert gap("3", "4") > 1.5 * gap("1", "2")
    assert gap("20", "21") > 1.5 * gap("19", "20") and gap("22", "X") > 1.5 * gap("21", "22")


def test_one_scale_chromosome_1_fills_its_row_and_homologues_stand_side_by_side():
    image, instances = _cell(NORMAL)
    k = compose_karyogram(image, instances)
    by_label = {}
    for inst in instances:
        by_label.setdefault(inst.label, []).append(k.placements[inst.id])
    a, b = by_label["1"]
    row1 = k.layout.rows[0]
    chr_area = (row1[3] - 60) * k.image.shape[1] / k.layout.width  # the row without its label
    assert a[3] - a[1] == pytest.approx(chr_area, rel=0.03)
    assert a[3] == b[3] and a[2] < b[0]  # side by side on one line
    h1, h21 = a[3] - a[1], by_label["21"][0][3] - by_label["21"][0][1]
    assert h21 / h1 == pytest.approx(relative_lengths()["21"], rel=0.06)
    assert k.scale == pytest.approx(h1 / 100.0, rel=0.03)


def test_clusters_and_unnamed_objects_stay_out_of_the_rows_unless_asked_for():
    image, instances = _cell(NORMAL + ["?", "?"])
    cluster = instances[-1].with_(attributes={"cluster": True})
    instances = instances[:-1] + [cluster]
    unnamed = instances[-2]
    k = compose_karyogram(image, instances)
    assert unnamed.id not in k.placements and cluster.id not in k.placements
    assert set(k.unplaced) == {unnamed.id, cluster.id}
    listed = compose_karyogram(image, instances, include_unplaced=True)
    bottom_of_rows = max(box[3] for box in listed.slots.values())
    for iid in (unnamed.id, cluster.id):
        assert listed.placements[iid][1] > bottom_of_rows


def test_homologues_are_aligned_at_a_known_centromere():
    image = np.full((200, 200), BACKGROUND, np.uint8)
    first = box_to_polygon((20, 20, 32, 120))
    second = box_to_polygon((80, 40, 92, 130))
    _paint(image, first, 60)
    _paint(image, second, 60)
    instances = [Instance(1, first, label="1", score=0.9, attributes={"centromere": [26, 60]}),
                 Instance(2, second, label="1", score=0.8, attributes={"centromere": [86, 75]})]
    k = compose_karyogram(image, instances)
    (_, a0, _, a1), (_, b0, _, b1) = k.placements[1], k.placements[2]
    # centromere 40 px from the top of the first (p arm up: the shorter arm) and 35 px of the second
    cen_a = a0 + (a1 - a0) * 40 / 100
    cen_b = b0 + (b1 - b0) * 35 / 90
    assert cen_a == pytest.approx(cen_b, abs=2)
    assert a1 != b1  # the bottoms are not on one line any more


def test_no_halo_the_slide_inside_an_outline_turns_white():
    image = np.full((200, 200), BACKGROUND, np.uint8)
    dark = _rect(100, 100, 90, 14, 30.0)
    _paint(image, dark, 60)
    loose = _rect(100, 100, 96, 20, 30.0)  # the outline takes 3 px of slide all round
    k = compose_karyogram(image, [Instance(1, loose, label="2")])
    x0, y0, x1, y1 = k.placements[1]
    patch = k.image[y0:y1, x0:x1, 0].astype(int)
    assert patch.min() < 30  # the chromosome is stretched to black
    mid = ((patch > 90) & (patch < 235)).sum()
    perimeter = 2 * ((y1 - y0) + (x1 - x0))
    # An anti-aliased rim is about one image pixel wide; the slide ring would be three.
    assert mid < perimeter * max(2.0, 1.2 * k.scale), "a gray fringe surrounds the cut-out"


def test_pale_chromosomes_are_stretched_to_full_contrast():
    image = np.full((160, 120), 215, np.uint8)
    polygon = box_to_polygon((40, 20, 54, 140))
    _paint(image, polygon, 170)
    image[50:60, 40:54] = 140  # a dark band
    k = compose_karyogram(image, [Instance(1, polygon, label="1")])
    x0, y0, x1, y1 = k.placements[1]
    patch = k.image[y0 + 3:y1 - 3, x0 + 3:x1 - 3, 0]
    assert patch.min() < 20 and np.percentile(patch, 50) < 200


def test_ideograms_are_a_choice():
    image, instances = _cell(["1", "1"])
    plain = compose_karyogram(image, instances)
    with_ideograms = compose_karyogram(image, instances, ideograms=True)
    assert plain.layout.slot("1").ideogram is None
    x, y, w, h = with_ideograms.layout.slot("1").ideogram
    ppu = with_ideograms.image.shape[1] / with_ideograms.layout.width
    ideogram = with_ideograms.image[int(y * ppu) + 2:int((y + h) * ppu) - 2, int(x * ppu) + 1:int((x + w) * ppu) - 1]
    assert (ideogram < 100).any() and (ideogram > 200).any()


def test_a_bent_chromosome_is_straightened_and_a_straight_one_only_turned():
    image = np.full((220, 220), BACKGROUND, np.uint8)
    t = np.linspace(-1.0, 1.0, 60)
    centre = np.column_stack([110 + 80 * np.sin(t), 110 - 80 * np.cos(t) + 40])  # an arc
    mask = np.zeros_like(image)
    cv2.polylines(mask, [np.round(centre).astype(np.int32)], False, 1, thickness=12)
    image[mask > 0] = 60
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    arc = Instance(1, contours[0][:, 0, :].astype(float), label="1")
    straightened = compose_karyogram(image, [arc]).placements[1]
    turned = compose_karyogram(image, [arc], straighten=False).placements[1]
    aspect = lambda b: (b[3] - b[1]) / (b[2] - b[0])  # noqa: E731
    assert aspect(straightened) > 2 * aspect(turned) and aspect(straightened) > 5


def test_neighbour_inside_the_bounding_box_is_left_out():
    image = np.full((120, 120), BACKGROUND, np.uint8)
    corners = cv2.boxPoints(((60, 60), (90, 12), 45.0))
    _paint(image, corners, 100)
    image[20:30, 80:100] = 5  # a darker neighbour in the empty corner of the diagonal one's box
    instances = [Instance(1, corners, label="2"), Instance(2, box_to_polygon((80, 20, 100, 30)), label="3")]
    k = compose_karyogram(image, instances)
    x0, y0, x1, y1 = k.placements[1]
    patch = k.image[y0:y1, x0:x1, 0].astype(int)
    assert y1 - y0 > 2 * (x1 - x0)
    inside = patch[patch < 250]
    # only the chromosome (stretched) and its anti-aliased rim; the neighbour (darker) never shows
    assert inside.size and np.percentile(inside, 5) >= np.percentile(inside, 50) - 40


def test_header_names_the_cell_the_karyotype_and_the_counts():
    image, instances = _cell(["1", "1", "2"])
    k = compose_karyogram(image, instances, title="cell 7", karyotype="3,U")
    header = k.layout.header
    ppu = k.image.shape[1] / k.layout.width
    top = k.image[int(header[1] * ppu):int((header[1] + header[3]) * ppu)]
    assert (top < 128).any()


def test_empty_cell_and_sixteen_bit_input():
    blank = render_karyogram(np.zeros((50, 50), np.uint16), [])
    assert blank.ndim == 3 and (blank == 255).mean() > 0.9
    image16 = np.full((60, 60), 60000, np.uint16)
    image16[10:50, 20:28] = 1000
    k = compose_karyogram(image16, [Instance(1, box_to_polygon((20, 10, 28, 50)), label="5")])
    x0, y0, x1, y1 = k.placements[1]
    rim = int(math.ceil(k.scale)) + 1  # the anti-aliased edge, one image pixel wide
    assert (k.image[y0 + rim:y1 - rim, x0 + rim:x1 - rim] < 30).all()


def test_rotated_box_attribute_sets_the_axis():
    horizontal = Instance(1, box_to_polygon((0, 0, 40, 10)))
    assert long_axis_angle(horizontal) % 180 == pytest.approx(0, abs=1e-6)
    vertical_by_box = horizontal.with_(attributes={"rotated_box": [20, 5, 10, 40, 0.0]})
    assert long_axis_angle(vertical_by_box) % 180 == pytest.approx(90, abs=1e-6)


def test_outline_without_pixels_is_skipped():
    image = np.zeros((20, 20), np.uint8)
    sliver = Instance(1, np.array([[5.1, 5.1], [5.4, 5.1], [5.4, 5.4]]), label="3")
    assert upright_cutout(image, sliver) is None
    assert 1 not in compose_karyogram(image, [sliver]).placements


def test_colour_input_becomes_gray():
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[..., 1] = 200
    gray = to_gray_uint8(rgb)
    assert gray.shape == (4, 4) and gray.dtype == np.uint8


def test_write_png_round_trip(tmp_path):
    image, instances = _cell(["1", "2"])
    picture = render_karyogram(image, instances)
    picture[0, 0] = (255, 0, 0)
    write_png(tmp_path / "k.png", picture)
    back = cv2.cvtColor(cv2.imread(str(tmp_path / "k.png")), cv2.COLOR_BGR2RGB)
    assert np.array_equal(back, picture)
    assert [p.name for p in tmp_path.iterdir()] == ["k.png"]
