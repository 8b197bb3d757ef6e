"""radseg.montage: which slices, the layout and its size, outlines in each structure's colour, clicks, the PNG."""
import numpy as np
import pytest

from radseg.montage import (CT_WINDOW, GAP, PALETTE, choose_slices, display_window, make_montage, outline,
                            write_montage)


def _volume(slices=30, size=64):
    img = np.full((slices, size, size), -1000.0, np.float32)
    a = np.zeros(img.shape, bool)
    b = np.zeros(img.shape, bool)
    a[5:15, 10:30, 10:30] = True
    b[12:20, 35:55, 35:55] = True
    img[a | b] = 60.0
    return img, a, b


def test_choose_slices_all_when_few_every_nth_when_many_and_seeds_kept():
    img, a, b = _volume()
    assert choose_slices([a, b], seeds=[8]) == (list(range(5, 20)), 1)
    shown, every = choose_slices([a, b], seeds=[13, 19], max_tiles=4)
    assert every == 4 and len(shown) <= 4 and {13, 19} <= set(shown) and shown == sorted(shown)
    assert choose_slices([np.zeros_like(a)], seeds=[3]) == ([3], 1)  # nothing found: the clicked slice
    assert choose_slices([np.zeros_like(a)]) == ([15], 1)  # nothing at all: the middle slice
    with pytest.raises(ValueError, match="max_tiles"):
        choose_slices([a], max_tiles=0)


def test_layout_size_and_structure_colours():
    img, a, b = _volume()
    m = make_montage(img, [a, b], names=["liver", "spleen"], clicks=[[(8, 20, 20, True)], [(15, 45, 45, False)]],
                     modality="CT", tile_side=128)
    n = len(m.slices)
    assert m.slices == list(range(5, 20)) and m.scale == 2 and m.tile_shape == (128, 128)
    rows, cols = m.grid
    assert cols == 4 and rows == 4 and rows * cols >= n  # about square: ceil(sqrt(15)) columns
    legend = 5 * 2 + 8
    assert m.rgb.shape == (rows * 128 + (rows + 1) * GAP + legend, cols * 128 + (cols + 1) * GAP, 3)
    assert m.colors == [PALETTE[0], PALETTE[1]] and m.window == CT_WINDOW

    def tile(k):
        r, c = divmod(k, cols)
        return m.rgb[GAP + r * (128 + GAP):GAP + r * (128 + GAP) + 128, GAP + c * (128 + GAP):][:, :128]

    def has(t, color):
        return bool((t == np.array(color, np.uint8)).all(axis=2).any())

    first = tile(0)  # slice 5: only structure a
    assert has(first, PALETTE[0]) and not has(first, PALETTE[1])
    both = tile(m.slices.index(13))
    assert has(both, PALETTE[0]) and has(both, PALETTE[1])
    seed = tile(m.slices.index(8))  # the positive click: a white-rimmed square at (20, 20) * 2
    assert tuple(seed[41, 41]) == PALETTE[0]
    neg = tile(m.slices.index(15))  # the negative click: black inside a rim of the structure's colour
    assert tuple(neg[91, 91]) == (0, 0, 0)
    info = m.info()
    assert info["size"] == list(m.rgb.shape[:2]) and info["slices"] == m.slices


def test_large_slices_are_reduced_and_many_slices_thinned():
    img = np.zeros((100, 600, 500), np.float32)
    mask = np.zeros(img.shape, bool)
    mask[:, 200:400, 100:300] = True
    m = make_montage(img, [mask], modality="MR", max_tiles=24, tile_side=300)
    assert m.scale == 0.5 and m.tile_shape == (300, 250)
    assert len(m.slices) <= 24 and m.every == 5
    assert m.rgb.shape[0] == m.grid[0] * 300 + (m.grid[0] + 1) * GAP  # no names: no legend strip


def test_display_window():
    assert display_window(np.zeros((2, 8, 8)), "CT") == CT_WINDOW
    a = np.arange(1000, dtype=np.float32).reshape(10, 10, 10)
    low, high = display_window(a, "MR")
    assert low == pytest.approx(4.995) and high == pytest.approx(994.005)
    assert display_window(np.ones((2, 4, 4)), "MR")[1] > 1  # a flat image still has a window


def test_outline_is_the_edge():
    m = np.zeros((9, 9), bool)
    m[2:7, 2:7] = True
    o = outline(m)
    assert o.sum() == 16 and not o[4, 4] and o[2, 4]
    assert outline(m, 2).sum() == 24


def test_bad_arguments():
    img, a, b = _volume()
    with pytest.raises(ValueError, match="masks\\[0\\]"):
        make_montage(img, [a[:5]])
    with pytest.raises(ValueError, match="clicks"):
        make_montage(img, [a], clicks=[[], []])
    with pytest.raises(ValueError, match="slices"):
        make_montage(img, [a], slices=[99])
    with pytest.raises(ValueError, match="image"):
        make_montage(img[0], [a[0]])


def test_png_decodes(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    img, a, b = _volume()
    m = make_montage(img, [a, b], names=["a", "b"])
    path = write_montage(tmp_path / "montage.png", m)
    np.testing.assert_array_equal(np.asarray(Image.open(path)), m.rgb)
