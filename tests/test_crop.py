"""radseg.crop, the box and resampling every model shares: extents, boxes square in mm, crop / paste round trips."""
import numpy as np
import pytest

from radseg.crop import CropBox, logits_to_mask, mask_extent, resample_to_crop, square_box


def test_mask_extent_is_inclusive_pixel_indices():
    m = np.zeros((20, 30), bool)
    m[3:7, 10:25] = True
    m[15, 2] = True
    assert mask_extent(m) == (3, 15, 2, 24)
    assert all(isinstance(v, int) for v in mask_extent(m))
    one = np.zeros((5, 5), np.uint8)
    one[4, 0] = 1
    assert mask_extent(one) == (4, 4, 0, 0)
    assert mask_extent(np.zeros((5, 5), bool)) is None


@pytest.mark.parametrize("spacing", [(1.0, 1.0), (0.7, 1.4), (2.0, 0.5)])
def test_square_box_is_square_in_mm_and_centred_on_the_extent(spacing):
    extent = (40, 59, 100, 129)  # 20 rows x 30 cols
    box = square_box(extent, spacing, 64, expand=1.5, min_size_mm=1.0, min_size_px=1)
    assert box.size_rows * spacing[0] == pytest.approx(box.size_cols * spacing[1])
    longer_mm = max(20 * spacing[0], 30 * spacing[1])
    assert box.size_rows * spacing[0] == pytest.approx(1.5 * longer_mm)
    # the centre (edge coordinates) is the extent's: rows [40, 60), cols [100, 130)
    assert box.row0 + box.size_rows / 2 == pytest.approx(50.0)
    assert box.col0 + box.size_cols / 2 == pytest.approx(115.0)
    assert box.out_size == 64


def test_square_box_minimum_sizes():
    ext = (10, 10, 10, 10)  # one pixel
    sp = (0.5, 0.5)
    assert square_box(ext, sp, 32, 2.0, 24.0, 4).size_rows * 0.5 == pytest.approx(24.0)  # min_size_mm
    assert square_box(ext, (3.0, 2.0), 32, 2.0, 24.0, 16).size_rows * 3.0 == pytest.approx(16 * 3.0)  # px of max
    assert square_box(ext, sp, 32, 2.0, 24.0, 4, at_least_mm=100.0).size_cols * 0.5 == pytest.approx(100.0)


def test_coordinate_maps_are_inverse():
    box = CropBox(-3.2, 7.5, 40.0, 25.0, 32)
    pts = np.array([[0.0, 0.0], [12.25, 30.0], [-5.0, 100.0]])
    np.testing.assert_allclose(box.to_crop(box.to_image(pts)), pts, atol=1e-9)
    assert box.scale == (40.0 / 32, 25.0 / 32)


def test_resample_identity_box_returns_the_image():
    rng = np.random.default_rng(0)
    img = rng.random((16, 16)).astype(np.float32)
    out = resample_to_crop(img, CropBox(0.0, 0.0, 16.0, 16.0, 16))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, img, atol=1e-6)


def test_resample_is_zero_outside_the_image():
    img = np.ones((10, 10), np.float32)
    far = resample_to_crop(img, CropBox(100.0, 100.0, 20.0, 20.0, 8))
    assert far.shape == (8, 8) and not far.any()
    half = resample_to_crop(img, CropBox(-10.0, 0.0, 20.0, 10.0, 20))  # rows -10..10: the top half is outside
    assert not half[:9].any() and np.allclose(half[11:, 1:-1], 1.0)
    # the outermost samples lie a quarter pixel past the image's edge: they blend with the zero outside
    np.testing.assert_allclose(half[11:, [0, -1]], 0.75)


@pytest.mark.parametrize("spacing", [(1.0, 1.0), (0.7, 1.4)])
def test_crop_then_paste_round_trip_reproduces_a_mask(spacing):
    r, c = np.ogrid[:160, :160]
    mask = ((r - 70) * spacing[0]) ** 2 + ((c - 85) * spacing[1]) ** 2 <= 30.0 ** 2
    box = square_box(mask_extent(mask), spacing, 96, 1.5, 10.0, 8)
    logits = resample_to_crop(mask.astype(np.float32), box) - 0.5
    back = logits_to_mask(logits, box, mask.shape)
    assert back.dtype == bool and back.shape == mask.shape
    dice = 2 * (back & mask).sum() / (back.sum() + mask.sum())
    assert dice > 0.98, dice
    assert not back[mask_extent(mask)[1] + 3:].any()  # nothing pasted far outside the structure


def test_paste_accepts_a_leading_batch_of_one_and_refuses_other_shapes():
    box = CropBox(0.0, 0.0, 8.0, 8.0, 8)
    lg = np.full((1, 1, 8, 8), 1.0, np.float32)
    assert logits_to_mask(lg, box, (10, 10))[:8, :8].all()
    assert not logits_to_mask(lg, box, (10, 10))[8:].any()  # outside the box: background
    with pytest.raises(ValueError, match="logits must be"):
        logits_to_mask(np.zeros((2, 1, 8, 8)), box, (10, 10))
    with pytest.raises(ValueError, match="shape must be"):
        logits_to_mask(lg, box, (10,))
    # a box entirely off the image pastes nothing
    assert not logits_to_mask(lg, CropBox(50.0, 50.0, 8.0, 8.0, 8), (10, 10)).any()
