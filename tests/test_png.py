"""The minimal PNG writer, decoded by Pillow (an independent decoder)."""
import numpy as np
import pytest

from radseg._png import encode_png, overlay, to_uint8, write_png

Image = pytest.importorskip("PIL.Image")


@pytest.mark.parametrize("shape", [(1, 1), (7, 13), (64, 33, 3)])
def test_roundtrip(tmp_path, shape):
    a = np.random.default_rng(0).integers(0, 256, size=shape).astype(np.uint8)
    p = write_png(tmp_path / "a.png", a)
    np.testing.assert_array_equal(np.asarray(Image.open(p)), a)


def test_bool_and_errors(tmp_path):
    m = np.eye(5, dtype=bool)
    np.testing.assert_array_equal(np.asarray(Image.open(write_png(tmp_path / "m.png", m))), m.astype(np.uint8) * 255)
    with pytest.raises(TypeError, match="uint8"):
        encode_png(np.zeros((3, 3), np.float32))
    with pytest.raises(ValueError, match="shape"):
        encode_png(np.zeros((3, 3, 4), np.uint8))


def test_overlay_and_window():
    g = to_uint8(np.array([[-2000.0, 0.0, 2000.0]]), -100, 100)
    assert g.tolist() == [[0, 127, 255]]
    gray = np.zeros((10, 10), np.uint8)
    m = np.zeros((10, 10), bool)
    m[3:7, 3:7] = True
    ov = overlay(gray, m, points=[(0, 0, True)])
    assert ov.shape == (10, 10, 3) and ov[5, 5, 0] > 0 and ov[9, 9].sum() == 0
    assert tuple(ov[0, 0]) == (40, 220, 40)


def test_overlay_of_a_small_image_is_enlarged_by_a_whole_factor():
    gray = np.zeros((128, 100), np.uint8)
    m = np.zeros((128, 100), bool)
    m[40:60, 30:50] = True
    big = overlay(gray, m, points=[(50, 40, True)], min_side=512)
    assert big.shape == (512, 400, 3)  # k = 4: 128 -> 512
    # the mask region (4x) is tinted, far pixels are untouched, the click is drawn at its enlarged place
    assert big[4 * 45, 4 * 35].sum() > 0 and big[4 * 100, 4 * 90].sum() == 0
    assert tuple(big[4 * 50 + 1, 4 * 40 + 1]) == (40, 220, 40)
    same = overlay(np.zeros((600, 600), np.uint8), np.zeros((600, 600), bool), min_side=512)
    assert same.shape == (600, 600, 3)
