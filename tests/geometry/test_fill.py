"""Hole filling and flood fill against scipy.ndimage, OpenCV's flood-fill recipe and the fill_voids package."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from radseg.geometry import fill_holes, flood_fill
from tests.conftest import shared_data

cv2 = pytest.importorskip("cv2")


def ref_fill(m, connectivity=1):
    """Background components (scipy labels) that touch no array face become foreground."""
    lab, _ = ndi.label(~m, structure=ndi.generate_binary_structure(m.ndim, connectivity))
    border = np.zeros(m.shape, bool)
    for a in range(m.ndim):
        border[(slice(None),) * a + (0,)] = True
        border[(slice(None),) * a + (-1,)] = True
    touching = np.unique(lab[border])
    return m | ~np.isin(lab, touching)


def ref_flood(m, seed, connectivity):
    same = m == m[tuple(seed)]
    lab, _ = ndi.label(same, structure=ndi.generate_binary_structure(m.ndim, connectivity))
    return lab == lab[tuple(seed)]


def cv2_fill_recipe(m):
    """The usual OpenCV recipe: pad by one, flood the background from the corner, invert, OR with the mask."""
    pad = np.pad(m.astype(np.uint8), 1)
    ff = pad.copy()
    h, w = pad.shape
    cv2.floodFill(ff, np.zeros((h + 2, w + 2), np.uint8), (0, 0), 1)  # 4-connectivity by default
    return m | (ff[1:-1, 1:-1] == 0)


def ring(shape=(40, 50)):
    m = np.zeros(shape, bool)
    m[5:30, 8:40] = True
    m[10:25, 15:30] = False  # hole
    m[15:18, 20:23] = True  # island inside the hole
    return m


def test_simple_ring_and_island():
    m = ring()
    f = fill_holes(m)
    assert f[10:25, 15:30].all() and f.sum() == 25 * 32
    np.testing.assert_array_equal(f, ndi.binary_fill_holes(m))
    np.testing.assert_array_equal(f, cv2_fill_recipe(m))


def test_diagonal_gap_is_closed_for_face_connected_background():
    # A ring whose wall only touches diagonally: face-connected background cannot leak out; full connectivity can.
    m = np.zeros((7, 7), bool)
    m[1, 2:5] = m[5, 2:5] = m[2:5, 1] = m[2:5, 5] = True  # corners (1,1), (1,5), ... missing
    assert fill_holes(m)[3, 3]
    assert not fill_holes(m, connectivity=2)[3, 3]
    np.testing.assert_array_equal(fill_holes(m, connectivity=8), ref_fill(m, 2))


@settings(max_examples=80, deadline=None)
@given(m=arrays(np.bool_, st.tuples(st.integers(1, 30), st.integers(1, 30)), elements=st.booleans()))
def test_random_2d(m):
    np.testing.assert_array_equal(fill_holes(m), ndi.binary_fill_holes(m))
    np.testing.assert_array_equal(fill_holes(m), cv2_fill_recipe(m))
    np.testing.assert_array_equal(fill_holes(m, 2), ref_fill(m, 2))


@settings(max_examples=60, deadline=None)
@given(m=arrays(np.bool_, st.tuples(st.integers(1, 10), st.integers(1, 12), st.integers(1, 12))),
       c=st.sampled_from([1, 2, 3]))
def test_random_3d(m, c):
    np.testing.assert_array_equal(fill_holes(m, c), ref_fill(m, c))


def test_dense_random_3d_vs_fill_voids():
    fill_voids = pytest.importorskip("fill_voids")
    rng = np.random.default_rng(0)
    m = ndi.binary_dilation(rng.random((30, 60, 50)) < 0.03, iterations=2) ^ (rng.random((30, 60, 50)) < 0.2)
    ours = fill_holes(m)
    np.testing.assert_array_equal(ours, fill_voids.fill(m))
    np.testing.assert_array_equal(ours, ndi.binary_fill_holes(m))


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (3, 1, 1), (6, 7), (4, 6, 7)])
def test_edge_cases(shape):
    assert not fill_holes(np.zeros(shape, bool)).any()
    assert fill_holes(np.ones(shape, bool)).all()
    m = np.zeros(shape, bool)
    m[(0,) * len(shape)] = True
    np.testing.assert_array_equal(fill_holes(m), m)


def test_hole_opened_to_the_border_is_not_a_hole():
    m = ring()
    m[15:18, 0:15] = False  # a channel from the hole to the left border
    f = fill_holes(m)
    assert not f[12, 16] and f[16, 21]  # the hole stays open, the island stays
    np.testing.assert_array_equal(f, ndi.binary_fill_holes(m))


def test_real_organs():
    nib = pytest.importorskip("nibabel")
    lab = np.asarray(nib.load(shared_data("btcv_sabs_ct", "labels", "sabs_01.nii.gz")).dataobj).transpose(2, 1, 0)
    organs = lab > 0
    body_like = ndi.binary_dilation(organs, iterations=2) & ~organs  # shells around the organs: many cavities
    np.testing.assert_array_equal(fill_holes(body_like), ndi.binary_fill_holes(body_like))
    k = int(np.argmax(organs.sum(axis=(1, 2))))
    np.testing.assert_array_equal(fill_holes(body_like[k]), cv2_fill_recipe(body_like[k]))


# ---- flood fill ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("c", [1, 2])
def test_flood_fill_2d_vs_opencv(c):
    rng = np.random.default_rng(c)
    m = rng.random((60, 70)) < 0.45
    for seed in [(0, 0), (30, 35), (59, 69), (12, 50)]:
        ff = m.astype(np.uint8) * 2
        h, w = m.shape
        flags = (4 if c == 1 else 8) | (1 << 8)  # new value 1 via flags' fill value bits; compare region only
        cv_mask = np.zeros((h + 2, w + 2), np.uint8)
        cv2.floodFill(ff, cv_mask, (seed[1], seed[0]), 0, 0, 0, flags | cv2.FLOODFILL_MASK_ONLY)
        expected = cv_mask[1:-1, 1:-1] > 0
        np.testing.assert_array_equal(flood_fill(m, seed, connectivity=c), expected)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), shape=st.sampled_from([(9, 11), (1, 14), (4, 6, 5), (3, 1, 7)]))
def test_flood_fill_random(data, shape):
    m = data.draw(arrays(np.bool_, shape))
    seed = tuple(data.draw(st.integers(0, n - 1)) for n in shape)
    c = data.draw(st.integers(1, len(shape)))
    np.testing.assert_array_equal(flood_fill(m, seed, connectivity=c), ref_flood(m, seed, c))


def test_flood_fill_background_and_integer_seed_types():
    m = ring()
    outside = flood_fill(m, (0, 0))
    np.testing.assert_array_equal(outside, ref_flood(m, (0, 0), 1))
    inside = flood_fill(m, (np.int64(12), 16))
    assert inside[12, 16] and not inside[16, 21] and inside.sum() == 15 * 15 - 9


@pytest.mark.parametrize("seed", [(-1, 0), (0, 50), (40, 0), (1,), (1, 2, 3), (1.5, 2), "ab", None])
def test_flood_fill_bad_seed(seed):
    with pytest.raises(ValueError, match="seed"):
        flood_fill(ring(), seed)


def test_bad_connectivity():
    with pytest.raises(ValueError, match="connectivity"):
        fill_holes(ring(), connectivity=3)
    with pytest.raises(ValueError, match="connectivity"):
        flood_fill(ring(), (0, 0), connectivity=0)
