"""The picture: min -> 0 / max -> 255 grey, the candidate's border in red on the displayed grid, the status bar."""

import numpy as np
import pytest

from radseg.annotate.render import (
    KEYS_HELP, contour, display_factor, render, scale_gray, status_lines, write_picture,
)
from radseg.annotate._font import _GLYPHS, text_bitmap

RED = np.array([255, 0, 0], np.uint8)


def _is_red(rgb):
    return np.all(rgb == RED, axis=-1)


def test_scale_gray_maps_min_and_max():
    a = np.array([[-1000.0, 0.0], [500.0, 1000.0]])
    g = scale_gray(a)
    assert g.dtype == np.uint8 and g[0, 0] == 0 and g[1, 1] == 255 and g[0, 1] == 128
    assert not scale_gray(np.full((3, 3), 7.0)).any()
    assert scale_gray(np.array([[np.nan, 1.0], [2.0, 3.0]]))[0, 0] == 0


def test_contour_is_the_masks_border_and_the_image_edge_counts_as_outside():
    m = np.zeros((10, 10), bool)
    m[2:8, 3:9] = True
    c = contour(m)
    assert c.sum() == 2 * 6 + 2 * 4 and not c[3:7, 4:8].any() and not (c & ~m).any()
    assert contour(m, 2)[3:7, 4:8].sum() == 16 - 4 and not contour(m, 2)[4:6, 5:7].any()
    full = contour(np.ones((5, 5), bool))
    assert full[0].all() and full[-1].all() and full[:, 0].all() and not full[1:4, 1:4].any()
    assert not contour(np.zeros((5, 5), bool)).any()


def test_small_image_is_enlarged_with_a_two_pixel_red_border():
    image = np.linspace(0, 1, 128 * 128).reshape(128, 128)
    mask = np.zeros((128, 128), bool)
    mask[30:90, 40:100] = True
    rgb = render(image, mask, ["1 OF 1"])
    assert rgb.dtype == np.uint8 and rgb.shape[1] == 512 and rgb.shape[0] > 512 and rgb.shape[2] == 3
    pic = rgb[:512]
    big = np.repeat(np.repeat(mask, 4, 0), 4, 1)
    red = _is_red(pic)
    np.testing.assert_array_equal(red, contour(big, 2))
    # everything else is the scaled slice, grey
    grey = np.repeat(np.repeat(scale_gray(image), 4, 0), 4, 1)
    np.testing.assert_array_equal(pic[~red][:, 0], grey[~red])
    assert np.all(pic[~red][:, 0] == pic[~red][:, 1])


def test_large_image_keeps_its_size_with_a_one_pixel_border_and_huge_ones_are_subsampled():
    mask = np.zeros((512, 512), bool)
    mask[100:400, 100:400] = True
    rgb = render(np.random.default_rng(0).normal(size=(512, 512)), mask, status=())
    assert rgb.shape == (512, 512, 3)
    np.testing.assert_array_equal(_is_red(rgb), contour(mask, 1))
    assert display_factor((2048, 1500)) == (1, 2) and render(np.zeros((2048, 1500)), np.zeros((2048, 1500), bool),
                                                               status=()).shape == (1024, 750, 3)


def test_status_bar_holds_the_text_and_wraps_long_names():
    image, mask = np.zeros((64, 64)), np.ones((64, 64), bool)
    lines = status_lines(3, 40, ["M1(2)", "M1(3)"], mask)
    assert lines == ["3 OF 40   M1(2), M1(3)", KEYS_HELP]
    short = render(image, mask, lines)
    names = [f"M3({i},{c},{h})" for i in (1, 2) for c in (1, 2, 3) for h in (1, 0)]
    long = render(image, mask, status_lines(3, 40, names, mask))
    assert short.shape[0] - 512 == 6 + 2 * (14 + 6)  # 2x font: two rows of 14 px, 6 px spacing
    assert long.shape[0] - 512 == 3 + 3 * (7 + 3)  # 1x font, the 140-character name line wrapped to two rows
    assert long.shape[1] == short.shape[1] == 512
    bar = short[512:]
    assert (bar == 255).all(axis=-1).sum() > 200  # white text drawn
    assert "EMPTY MASK" in status_lines(1, 1, ["A"], np.zeros((3, 3), bool))[0]


def test_font_glyphs_are_5_by_7():
    assert all(len(rows.split()) == 7 and all(len(r) == 5 for r in rows.split()) for rows in _GLYPHS.values())
    bits = text_bitmap("y Y", scale=2)
    assert bits.shape == (14, 36)
    np.testing.assert_array_equal(bits[:, :12], bits[:, 24:])  # lower case drawn upper case
    assert not bits[:, 12:24].any()


def test_picture_is_a_png_that_decodes(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    rgb = render(np.arange(40 * 50).reshape(40, 50), np.eye(40, 50, dtype=bool), ["1 OF 2"])
    path = write_picture(tmp_path / "p.png", rgb)
    with Image.open(path) as im:
        np.testing.assert_array_equal(np.asarray(im.convert("RGB")), rgb)
    with pytest.raises(ValueError, match="one shape"):
        render(np.zeros((4, 4)), np.zeros((4, 5), bool))
