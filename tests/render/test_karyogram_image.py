import cv2
import numpy as np
import pytest

from karyostudio.core.classes import KARYOGRAM_ROWS
from karyostudio.core.instance import Instance
from karyostudio.geometry.polygons import box_to_polygon
from karyostudio.render.cutout import long_axis_angle, to_gray_uint8, upright_cutout
from karyostudio.render.karyogram_image import compose_karyogram, render_karyogram, write_png

BACKGROUND = 230


def _scene():
    """Lying (wider than tall) rectangles, each with its own grey value, and their instances."""
    image = np.full((200, 300), BACKGROUND, np.uint8)
    specs = [  # label, (x0, y0, x1, y1), value
        ("1", (10, 10, 90, 24), 10),
        ("1", (10, 40, 86, 53), 20),
        ("7", (120, 10, 160, 20), 30),
        ("X", (120, 40, 170, 50), 40),
        ("21", (200, 10, 214, 17), 50),
        ("Y", (200, 40, 211, 46), 60),
        (None, (20, 120, 60, 150), 70),
    ]
    instances = []
    for i, (label, box, value) in enumerate(specs, start=1):
        x0, y0, x1, y1 = box
        image[y0:y1, x0:x1] = value
        instances.append(Instance(i, box_to_polygon(box), label=label, score=0.9))
    return image, instances, {i: s for i, s in enumerate(specs, start=1)}


def _inside(inner, outer):
    return outer[0] <= inner[0] and outer[1] <= inner[1] and inner[2] <= outer[2] and inner[3] <= outer[3]


def test_each_chromosome_stands_upright_in_its_slot_with_only_its_own_pixels():
    image, instances, specs = _scene()
    k = compose_karyogram(image, instances, scale=1.0)
    assert k.image.dtype == np.uint8 and k.image.ndim == 3
    assert set(k.placements) == set(specs)
    for iid, (label, (x0, y0, x1, y1), value) in specs.items():
        px0, py0, px1, py1 = k.placements[iid]
        assert py1 - py0 > px1 - px0, f"instance {iid} is not upright"
        # Lying rectangles turned a quarter: the slot holds exactly the rectangle's pixels.
        assert (py1 - py0, px1 - px0) == (x1 - x0, y1 - y0)
        patch = k.image[py0:py1, px0:px1]
        assert np.all(patch == value), f"instance {iid} shows pixels that are not its own"
        if label is not None:
            assert _inside(k.placements[iid], k.slots[label])


def test_homologues_side_by_side_and_rows_in_karyogram_order():
    image, instances, _ = _scene()
    k = compose_karyogram(image, instances, scale=1.0)
    a, b = k.placements[1], k.placements[2]
    assert a[3] == b[3]  # same baseline
    assert a[2] <= b[0]  # next to each other, higher score (equal) then id order
    row_tops = [min(k.slots[name][1] for name in row) for row in KARYOGRAM_ROWS]
    assert row_tops == sorted(row_tops) and len(set(row_tops)) == len(row_tops)
    for name in ("1", "7", "X", "21", "Y"):
        row = next(r for r in KARYOGRAM_ROWS if name in r)
        assert k.slots[name][1] == min(k.slots[n][1] for n in row)
    # the unnamed instance comes after every class row
    assert k.placements[7][1] > max(box[3] for box in k.slots.values())


def test_neighbour_inside_the_bounding_box_is_left_out():
    image = np.full((120, 120), BACKGROUND, np.uint8)
    corners = cv2.boxPoints(((60, 60), (90, 12), 45.0))
    diagonal = np.zeros_like(image)
    cv2.fillPoly(diagonal, [np.round(corners).astype(np.int32)], 1)
    image[diagonal > 0] = 200
    # A darker neighbour in the empty corner of the diagonal one's bounding box.
    image[20:30, 80:100] = 5
    instances = [Instance(1, corners, label="2"), Instance(2, box_to_polygon((80, 20, 100, 30)), label="3")]
    k = compose_karyogram(image, instances, scale=1.0)
    x0, y0, x1, y1 = k.placements[1]
    patch = k.image[y0:y1, x0:x1, 0].astype(int)
    assert y1 - y0 > 2 * (x1 - x0)
    # only the chromosome (200), white, and blends of the two after rotation
    assert patch.min() >= 199


def test_one_scale_for_the_whole_karyogram():
    image = np.full((100, 200), BACKGROUND, np.uint8)
    image[10:90, 10:20] = 0
    image[10:50, 50:60] = 0
    instances = [Instance(1, box_to_polygon((10, 10, 20, 90)), label="1"),
                 Instance(2, box_to_polygon((50, 10, 60, 50)), label="22")]
    k = compose_karyogram(image, instances)
    long_h = k.placements[1][3] - k.placements[1][1]
    short_h = k.placements[2][3] - k.placements[2][1]
    assert long_h == pytest.approx(2 * short_h, abs=1)
    assert long_h == pytest.approx(80 * k.scale, abs=1)


def test_title_and_karyotype_make_room_and_draw_text():
    image, instances, _ = _scene()
    plain = render_karyogram(image, instances, scale=1.0)
    titled = compose_karyogram(image, instances, title="cell 7", karyotype="46,XY", scale=1.0)
    assert titled.image.shape[0] > plain.shape[0]
    top = titled.image[: min(box[1] for box in titled.slots.values())]
    assert (top < 128).any()


def test_empty_cell_and_sixteen_bit_input():
    blank = render_karyogram(np.zeros((50, 50), np.uint16), [])
    assert blank.ndim == 3 and (blank == 255).mean() > 0.9
    image16 = np.full((60, 60), 60000, np.uint16)
    image16[10:50, 20:28] = 1000
    k = compose_karyogram(image16, [Instance(1, box_to_polygon((20, 10, 28, 50)), label="5")], scale=1.0)
    x0, y0, x1, y1 = k.placements[1]
    assert (k.image[y0:y1, x0:x1] < 30).all()


def test_rotated_box_attribute_sets_the_axis():
    horizontal = Instance(1, box_to_polygon((0, 0, 40, 10)))
    assert long_axis_angle(horizontal) % 180 == pytest.approx(0, abs=1e-6)
    vertical_by_box = horizontal.with_(attributes={"rotated_box": [20, 5, 10, 40, 0.0]})
    assert long_axis_angle(vertical_by_box) % 180 == pytest.approx(90, abs=1e-6)


def test_outline_without_pixels_is_skipped():
    image = np.zeros((20, 20), np.uint8)
    sliver = Instance(1, np.array([[5.1, 5.1], [5.4, 5.1], [5.4, 5.4]]))
    assert upright_cutout(image, sliver) is None
    assert 1 not in compose_karyogram(image, [sliver]).placements


def test_colour_input_becomes_gray():
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[..., 1] = 200
    gray = to_gray_uint8(rgb)
    assert gray.shape == (4, 4) and gray.dtype == np.uint8


def test_write_png_round_trip(tmp_path):
    image, instances, _ = _scene()
    picture = render_karyogram(image, instances)
    picture[0, 0] = (255, 0, 0)
    write_png(tmp_path / "k.png", picture)
    back = cv2.cvtColor(cv2.imread(str(tmp_path / "k.png")), cv2.COLOR_BGR2RGB)
    assert np.array_equal(back, picture)
    assert [p.name for p in tmp_path.iterdir()] == ["k.png"]


def test_bent_chromosome_keeps_neighbour_out_without_rotation():
    image = np.full((100, 60), BACKGROUND, np.uint8)
    image[10:90, 10:20] = 100  # vertical arm
    image[80:90, 10:40] = 100  # bent foot
    image[20:40, 25:35] = 5  # a neighbour inside the bent one's bounding box
    bent = np.array([[10, 10], [20, 10], [20, 80], [40, 80], [40, 90], [10, 90]], dtype=float)
    instances = [Instance(1, bent, label="4", attributes={"rotated_box": [25, 50, 10, 80, 0.0]}),
                 Instance(2, box_to_polygon((25, 20, 35, 40)), label="5")]
    k = compose_karyogram(image, instances, scale=1.0)
    x0, y0, x1, y1 = k.placements[1]
    patch = k.image[y0:y1, x0:x1, 0]
    assert (patch == 100).sum() == 80 * 10 + 10 * 20
    assert set(np.unique(patch)) == {100, 255}
