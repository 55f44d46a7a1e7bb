"""Chromosome crops: masking, straightening, aspect-preserving fit, features, box-derived masks."""

from __future__ import annotations

import numpy as np
import pytest

from karyostudio.geometry.polygons import mask_to_polygon, polygon_to_mask
from karyostudio.models.classic import crops as C

BACKGROUND = 220.0


def rect_polygon(cx: float, cy: float, length: float, width: float, angle_deg: float) -> np.ndarray:
    """Rotated rectangle; at angle 0 the long side runs along +y."""
    a = np.radians(angle_deg)
    along = np.array([-np.sin(a), np.cos(a)])
    across = np.array([np.cos(a), np.sin(a)])
    corners = [(-1, -1), (1, -1), (1, 1), (-1, 1)]
    return np.array([[cx, cy] + s * width / 2 * across + t * length / 2 * along for s, t in corners])


def draw(image: np.ndarray, polygon: np.ndarray, *, dark_end: float = 60.0, pale_end: float = 60.0) -> None:
    """Paint a chromosome whose grey level goes from dark_end (first end) to pale_end (other end)."""
    mask = polygon_to_mask(polygon, image.shape)
    ys, xs = np.nonzero(mask)
    p0, p1 = (polygon[0] + polygon[1]) / 2, (polygon[2] + polygon[3]) / 2
    axis = p1 - p0
    t = np.clip(((np.stack([xs + 0.5, ys + 0.5], 1) - p0) @ axis) / (axis @ axis), 0, 1)
    image[ys, xs] = dark_end + (pale_end - dark_end) * t


def blank(h: int = 200, w: int = 200) -> np.ndarray:
    return np.full((h, w), BACKGROUND, dtype=np.float32)


def cell_with(polygons: list[np.ndarray]) -> np.ndarray:
    img = blank()
    for p in polygons:
        draw(img, p)
    return img


def extent(crop: np.ndarray) -> tuple[int, int]:
    ys, xs = np.nonzero(crop > 0.5)
    return int(ys.max() - ys.min() + 1), int(xs.max() - xs.min() + 1)


def test_crop_is_vertical_and_keeps_its_aspect_ratio():
    poly = rect_polygon(100, 100, 80, 16, 37)
    cc = C.cell_crops(cell_with([poly]), [poly], out_size=(64, 32))
    crop = cc.crops[0]
    assert crop.shape == (64, 32) and crop.dtype == np.float32
    assert 0.0 <= crop.min() and crop.max() <= 1.0
    h, w = extent(crop)
    assert h >= 58  # fills the height
    assert abs(h / w - 80 / 16) < 1.0  # not stretched to 2:1
    assert crop[:, :3].max() == 0 and crop[:, -3:].max() == 0  # narrow, centred


def test_crops_do_not_depend_on_orientation():
    crops = []
    for angle in (0, 37, 90, 151):
        poly = rect_polygon(100, 100, 70, 14, angle)
        img = blank()
        draw(img, poly, dark_end=40, pale_end=150)
        crops.append(C.cell_crops(img, [poly]).crops[0])
    for other in crops[1:]:
        assert np.corrcoef(crops[0].ravel(), other.ravel())[0, 1] > 0.9


def test_heavier_end_is_put_on_top():
    for angle in (10, 190):  # the same chromosome turned upside down
        poly = rect_polygon(100, 100, 70, 14, angle)
        img = blank()
        draw(img, poly, dark_end=30, pale_end=190)
        crop = C.cell_crops(img, [poly]).crops[0]
        assert crop[:32].sum() > 1.5 * crop[32:].sum()


def test_crops_are_rotated_not_mirrored():
    base = blank()
    base[60:100, 95:105] = 30  # dark upper half of a vertical chromosome
    base[100:140, 95:105] = 150  # pale lower half
    base[70:78, 87:95] = 30  # a knob on its left near the top
    for turns in range(4):  # the same picture turned by 0, 90, 180 and 270 degrees
        img = np.ascontiguousarray(np.rot90(base, turns))
        crop = C.cell_crops(img, [mask_to_polygon(img < 200)]).crops[0]
        assert crop[:32].sum() > crop[32:].sum()  # dark end on top
        body = np.flatnonzero(crop[40:].sum(axis=0) > 0.5)  # columns of the lower half
        knob = np.flatnonzero(crop[:20].sum(axis=0) > 0.5)
        assert knob.min() < body.min() - 3  # the knob is still on the left


def test_neighbours_inside_the_window_are_blanked():
    target = rect_polygon(100, 100, 90, 14, 45)
    neighbour = rect_polygon(125, 75, 20, 10, 0)  # inside target's box, outside its outline
    alone = C.cell_crops(cell_with([target]), [target]).crops[0]
    crowded = C.cell_crops(cell_with([target, neighbour]), [target, neighbour]).crops[0]
    assert np.abs(alone - crowded).max() < 0.05


def test_features_are_relative_to_the_cell():
    polys = [rect_polygon(40 + 60 * k, 100, length, 12, 0) for k, length in enumerate((40, 60, 80))]
    cc = C.cell_crops(cell_with(polys), polys)
    names = list(C.FEATURE_NAMES)
    rel_len = cc.features[:, names.index("log_rel_length")]
    assert cc.features.shape == (3, C.NUM_FEATURES)
    assert rel_len[1] == pytest.approx(0.0, abs=1e-6)
    assert rel_len[2] == pytest.approx(np.log(81 / 61), abs=0.05)
    assert rel_len[0] < 0 < rel_len[2]
    assert cc.features[2, names.index("aspect")] == pytest.approx(13 / 81, abs=0.03)
    assert cc.stats is not None and cc.stats.length == pytest.approx(61, abs=1.5)


def test_chromosome_crop_matches_cell_crops():
    polys = [rect_polygon(60, 100, 70, 14, 20), rect_polygon(140, 100, 50, 12, -30)]
    img = cell_with(polys)
    cc = C.cell_crops(img, polys)
    crop, feats = C.chromosome_crop(img, polys[1], cell=cc.stats)
    np.testing.assert_allclose(crop, cc.crops[1], atol=1e-6)
    np.testing.assert_allclose(feats, cc.features[1], atol=1e-6)


def test_box_derived_mask_ignores_an_intruding_neighbour():
    target = rect_polygon(100, 100, 90, 14, 40)
    neighbour = rect_polygon(140, 100, 40, 16, 90)  # pokes into target's box from the right, not touching
    img = cell_with([target, neighbour])
    gray = C.to_gray(img)
    x, y = target[:, 0], target[:, 1]
    box = (x.min(), y.min(), x.max(), y.max())
    mask, (x0, y0) = C.crop_from_box(gray, box, C.image_levels(gray))
    full = np.zeros(gray.shape, dtype=bool)
    full[y0:y0 + mask.shape[0], x0:x0 + mask.shape[1]] = mask
    truth = polygon_to_mask(target, gray.shape)
    iou = (full & truth).sum() / (full | truth).sum()
    assert iou > 0.9
    # Training crops from boxes look like inference crops from outlines.
    from_box = C.box_crops(img, [box]).crops[0]
    from_outline = C.cell_crops(img, [target, neighbour]).crops[0]
    assert np.corrcoef(from_box.ravel(), from_outline.ravel())[0, 1] > 0.9


def test_unusable_outlines_are_marked_invalid():
    good = rect_polygon(100, 100, 60, 12, 0)
    outside = np.array([[500.0, 500], [510, 500], [510, 510]])
    cc = C.cell_crops(cell_with([good]), [good, outside])
    assert cc.valid.tolist() == [True, False]
    assert cc.crops[1].max() == 0 and np.all(cc.features[1] == 0)
    nothing = C.box_crops(blank(), [(10, 10, 40, 40)])  # an empty box: nothing dark inside
    assert nothing.valid.tolist() == [False] and nothing.stats is None


def test_colour_and_bad_images():
    poly = rect_polygon(100, 100, 60, 12, 0)
    gray = cell_with([poly])
    rgb = np.repeat(gray[..., None], 3, axis=2).astype(np.uint8)
    np.testing.assert_allclose(C.cell_crops(rgb, [poly]).crops, C.cell_crops(gray.astype(np.uint8), [poly]).crops)
    with pytest.raises(ValueError):
        C.cell_crops(np.zeros((3, 4, 5, 6)), [poly])


@pytest.mark.shared_data
def test_real_taichung_cell(taichung_dir):
    import cv2

    from karyostudio.training.classifier_data import read_voc_boxes

    image_id = sorted(p.stem for p in (taichung_dir / "annotations").glob("*.xml"))[0]
    cell = read_voc_boxes(taichung_dir / "annotations" / f"{image_id}.xml")
    image = cv2.imread(str(taichung_dir / "JEPG" / f"{image_id}.jpg"), cv2.IMREAD_GRAYSCALE)
    cc = C.box_crops(image, cell.boxes)
    assert cc.valid.mean() > 0.95
    assert all(c.max() > 0.5 for c in cc.crops[cc.valid])
    rel_len = cc.features[:, list(C.FEATURE_NAMES).index("log_rel_medial_length")]
    labels = np.array(cell.labels)
    assert rel_len[labels == "1"].mean() > rel_len[np.isin(labels, ["21", "22"])].mean() + 0.5
