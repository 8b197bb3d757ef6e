"""Click preprocessing against independent references (scipy.ndimage, brute-force Gaussians)."""
import numpy as np
import pytest
from scipy import ndimage

from radseg.click.preprocess import (REFINE_SIDE_RATIO, CropBox, crop_box, encode_clicks, logits_to_mask,
                                     make_input, normalize_intensity, refine_box, resample_to_crop)
from radseg.manifest import default_click_manifest

M = default_click_manifest(96)


def test_ct_window_maps_to_unit_range():
    img = np.array([[-1000.0, -125.0, 75.0], [275.0, 3000.0, 0.0]])
    out = normalize_intensity(img, "ct", M)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0, 0, 0.5], [1, 1, 125 / 400]], atol=1e-6)


def test_mr_percentiles_of_the_image():
    rng = np.random.default_rng(0)
    img = rng.gamma(2.0, 100.0, (64, 64))
    lo, hi = np.percentile(img, [0.5, 99.5])
    out = normalize_intensity(img, "MR", M)
    np.testing.assert_allclose(out, np.clip((img - lo) / (hi - lo), 0, 1), atol=1e-5)
    assert not normalize_intensity(np.full((8, 8), 7.0), "MR", M).any()  # flat image


@pytest.mark.parametrize("image, err, match", [
    (np.full((4, 4), np.nan), ValueError, "NaN"), (np.zeros((2, 4, 4)), ValueError, "2D"),
    (np.zeros((4, 4), bool), TypeError, "real-valued"), (np.zeros((0, 4)), ValueError, "empty"),
])
def test_bad_images(image, err, match):
    with pytest.raises(err, match=match):
        normalize_intensity(image, "CT", M)


def test_unknown_modality():
    with pytest.raises(ValueError, match="unknown modality 'PET'"):
        normalize_intensity(np.zeros((4, 4)), "PET", M)


def test_box_is_square_in_mm_and_covers_clicks_and_mask():
    mask = np.zeros((200, 300), bool)
    mask[50:90, 100:180] = True  # 40 rows x 80 cols
    spacing = (2.0, 1.0)  # the mask is 80 mm x 80 mm
    box = crop_box(mask.shape, [(70, 140, True)], mask, spacing, M)
    assert box.size_rows * 2.0 == pytest.approx(box.size_cols * 1.0)
    assert box.size_cols == pytest.approx(80 * 1.5)
    assert box.row0 < 50 and box.row0 + box.size_rows > 90 and box.col0 < 100 and box.col0 + box.size_cols > 180
    # a click far from the mask widens the box
    box2 = crop_box(mask.shape, [(70, 140, True), (150, 20, False)], mask, spacing, M)
    assert box2.row0 < 150 < box2.row0 + box2.size_rows and box2.col0 < 20


def test_box_minimum_and_initial_sizes():
    shape, sp = (256, 256), (0.5, 0.5)
    first = crop_box(shape, [(100, 100, True)], None, sp, M)
    assert first.size_rows * 0.5 == pytest.approx(M.crop["initial_size_mm"])
    tiny = np.zeros(shape, bool)
    tiny[100, 100] = True
    small = crop_box(shape, [(100, 100, True)], tiny, sp, M)
    assert small.size_rows * 0.5 == pytest.approx(M.crop["min_size_mm"])
    coarse = crop_box(shape, [(100, 100, True)], tiny, (3.0, 3.0), M)  # 32 mm would be < 24 px
    assert coarse.size_rows == pytest.approx(M.crop["min_size_px"])


def test_box_coordinate_maps_are_inverse_and_centred():
    box = CropBox(10.3, -4.0, 50.0, 70.0, 96)
    pts = np.array([[0.0, 0.0], [33.3, 12.5], [-2.0, 80.0]])
    np.testing.assert_allclose(box.to_image(box.to_crop(pts)), pts, atol=1e-9)
    # the crop's centre (47.5, 47.5) is the box's centre
    np.testing.assert_allclose(box.to_image([47.5, 47.5]), [10.3 + 25 - 0.5, -4 + 35 - 0.5])


def test_resample_matches_scipy_bilinear_with_zero_padding():
    rng = np.random.default_rng(1)
    img = rng.random((120, 90)).astype(np.float32)
    box = CropBox(-12.7, 30.2, 70.0, 80.0, 96)  # partly outside the image
    ii, jj = np.meshgrid(np.arange(96), np.arange(96), indexing="ij")
    coords = box.to_image(np.stack([ii, jj], -1).reshape(-1, 2).astype(float)).T
    ref = ndimage.map_coordinates(img, coords, order=1, mode="grid-constant", cval=0.0).reshape(96, 96)
    np.testing.assert_allclose(resample_to_crop(img, box), ref, atol=1e-5)


def test_paste_back_matches_scipy_and_is_background_outside_the_box():
    rng = np.random.default_rng(2)
    logits = ndimage.gaussian_filter(rng.normal(size=(96, 96)), 3).astype(np.float32)
    box = CropBox(20.4, 15.0, 60.0, 45.0, 96)
    out = logits_to_mask(logits, box, (100, 120))
    rr, cc = np.meshgrid(np.arange(100), np.arange(120), indexing="ij")
    crop = box.to_crop(np.stack([rr, cc], -1).reshape(-1, 2).astype(float))
    ref = ndimage.map_coordinates(logits, crop.T, order=1, mode="nearest").reshape(100, 120) > 0
    inside = ((rr + 0.5 >= box.row0) & (rr + 0.5 < box.row0 + box.size_rows)
              & (cc + 0.5 >= box.col0) & (cc + 0.5 < box.col0 + box.size_cols))
    assert not out[~inside].any()
    agree = (out == ref)[inside].mean()
    assert agree > 0.999, agree  # values within float rounding of 0 may flip
    with pytest.raises(ValueError, match="logits must be"):
        logits_to_mask(logits[:50], box, (100, 120))


def test_crop_then_paste_reproduces_a_mask():
    mask = np.zeros((200, 200), bool)
    r, c = np.ogrid[:200, :200]
    mask |= (r - 90) ** 2 / 30 ** 2 + (c - 110) ** 2 / 45 ** 2 <= 1
    box = crop_box(mask.shape, [(90, 110, True)], mask, (1.0, 1.0), M)
    logits = resample_to_crop(mask.astype(np.float32), box) - 0.5
    back = logits_to_mask(logits, box, mask.shape)
    dice = 2 * (back & mask).sum() / (back.sum() + mask.sum())
    assert dice > 0.98, dice


def test_encode_clicks_brute_force():
    clicks = [(10.0, 20.5, True), (12.0, 22.0, True), (50.2, 60.0, False)]
    out = encode_clicks(clicks, 64, 2.0)
    ii, jj = np.mgrid[:64, :64]
    for ch, want in ((0, True), (1, False)):
        ref = sum(np.exp(-((ii - r) ** 2 + (jj - c) ** 2) / 8.0) for r, c, p in clicks if p == want)
        np.testing.assert_allclose(out[ch], ref / ref.max(), atol=1e-5)
        assert out[ch].max() == pytest.approx(1.0)
    assert not encode_clicks([(3, 3, True)], 16, 2.0)[1].any()


def test_make_input_shapes_and_guidance_peaks_at_the_click():
    img = np.linspace(0, 1, 150 * 170, dtype=np.float32).reshape(150, 170)
    x, box = make_input(img, [(70, 80, True), (90, 60, False)], None, (1.2, 0.8), M)
    assert x.shape == (1, 3, 96, 96) and x.dtype == np.float32
    peak = np.unravel_index(np.argmax(x[0, 1]), (96, 96))
    np.testing.assert_allclose(box.to_image(np.array(peak, float)), [70, 80], atol=max(box.scale))
    with pytest.raises(ValueError, match="outside the image"):
        make_input(img, [(150, 10, True)], None, (1.0, 1.0), M)
    with pytest.raises(ValueError, match="at least one"):
        make_input(img, [], None, (1.0, 1.0), M)
    with pytest.raises(ValueError, match="spacing"):
        make_input(img, [(1, 1, True)], None, (0.0, 1.0), M)


# ---- the first click's second-pass box ---------------------------------------------------------------------------
def _disc(shape, centre, radius):
    r, c = np.ogrid[:shape[0], :shape[1]]
    return (r - centre[0]) ** 2 + (c - centre[1]) ** 2 <= radius ** 2


def test_refine_box_fits_a_small_first_mask():
    m = M.replace(crop={**M.crop, "refine_first_click": True})
    shape, sp, click = (256, 256), (0.8, 0.8), [(100.0, 120.0, True)]
    first = crop_box(shape, click, None, sp, m)
    assert first.size_rows * sp[0] == pytest.approx(160.0)
    mask = _disc(shape, (102, 121), 6)
    box = refine_box(shape, click, mask, sp, m, first)
    assert box == crop_box(shape, click, mask, sp, m)  # the box a later click would get
    assert box.size_rows * sp[0] == pytest.approx(32.0)  # 13 px x 0.8 mm x 1.5 < 32 mm minimum


def test_refine_box_grows_for_a_mask_that_fills_the_first_box():
    m = M.replace(crop={**M.crop, "refine_first_click": True})
    shape, sp, click = (512, 512), (0.7, 0.7), [(250.0, 250.0, True)]
    first = crop_box(shape, click, None, sp, m)
    mask = np.zeros(shape, bool)
    mask[140:360, 140:360] = True  # 154 mm: the whole first box
    box = refine_box(shape, click, mask, sp, m, first)
    assert box is not None and box.size_rows > first.size_rows * REFINE_SIDE_RATIO


@pytest.mark.parametrize("case", ["off", "two clicks", "empty", "similar"])
def test_refine_box_declines(case):
    on = M.replace(crop={**M.crop, "refine_first_click": True})
    shape, sp = (256, 256), (1.0, 1.0)
    assert refine_box(shape, [(128.0, 128.0, True)], _disc(shape, (128, 128), 5), sp, on,
                      crop_box(shape, [(128.0, 128.0, True)], None, sp, on)) is not None  # the same case, refined
    clicks = [(128.0, 128.0, True)]
    mask = _disc(shape, (128, 128), 45)  # 91 mm x 1.5 = 137 mm: within a factor 1.25 of 160 mm
    m = on
    if case == "off":
        m, mask = M.replace(crop={**M.crop, "refine_first_click": False}), _disc(shape, (128, 128), 5)
    elif case == "two clicks":
        clicks, mask = clicks + [(130.0, 128.0, False)], _disc(shape, (128, 128), 5)
    elif case == "empty":
        mask = np.zeros(shape, bool)
    first = crop_box(shape, clicks, None, sp, m)
    assert refine_box(shape, clicks, mask, sp, m, first) is None
