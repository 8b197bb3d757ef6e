"""Filled convex hull (pixel-centre convention) against scipy.spatial, OpenCV and skimage."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from radseg.geometry import convex_hull
from tests.conftest import shared_data

cv2 = pytest.importorskip("cv2")


def exact_hull(m, tol=1e-9):
    """Pixels whose centres lie in the closed convex hull of the foreground centres (scipy.spatial / Qhull).

    With tol > 0: pixels whose centres are within about tol of it (every facet's plane moved out by tol).
    """
    from scipy.spatial import ConvexHull, QhullError

    pts = np.argwhere(m).astype(float)
    if len(pts) == 0:
        return np.zeros(m.shape, bool)
    grid = np.argwhere(np.ones(m.shape, bool)).astype(float)
    try:
        hull = ConvexHull(pts)
    except QhullError:  # collinear (or single) points: the hull is a segment from a to b
        a, b = pts[np.argmin(pts @ [1e6, 1])], pts[np.argmax(pts @ [1e6, 1])]
        d = b - a
        t = np.clip((grid - a) @ d / max(d @ d, 1e-12), 0, 1)
        dist = np.linalg.norm(grid - (a + t[:, None] * d), axis=1)
        return (dist <= tol).reshape(m.shape)
    eq = hull.equations  # unit normal . p + offset <= 0 inside
    return ((grid @ eq[:, :2].T + eq[:, 2]) <= tol).all(axis=1).reshape(m.shape)


def cv2_hull(m):
    pts = np.argwhere(m)[:, ::-1].astype(np.int32)  # (x, y)
    out = np.zeros(m.shape, np.uint8)
    if len(pts):
        cv2.fillPoly(out, [cv2.convexHull(pts)], 1)
    return out.astype(bool)


def test_small_shapes():
    m = np.zeros((9, 9), bool)
    m[1, 1] = m[1, 7] = m[7, 4] = True
    h = convex_hull(m)
    np.testing.assert_array_equal(h, exact_hull(m))
    # Row 4 crosses the edges at x = 2.5 and 5.5: centres 3..5 are inside.
    assert h[1, 1:8].all() and h[7, 4] and h[4, 3:6].all() and not h[4, 2] and not h[4, 6] and not h[7, 3]


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (7, 1), (5, 6)])
def test_edge_cases(shape):
    assert not convex_hull(np.zeros(shape, bool)).any()
    assert convex_hull(np.ones(shape, bool)).all()
    one = np.zeros(shape, bool)
    one[-1, -1] = True
    np.testing.assert_array_equal(convex_hull(one), one)


def test_collinear_gives_exact_segment():
    m = np.zeros((10, 10), bool)
    m[2, 1] = m[8, 4] = True  # the segment passes through (4, 2) and (6, 3) only
    h = convex_hull(m)
    assert sorted(map(tuple, np.argwhere(h))) == [(2, 1), (4, 2), (6, 3), (8, 4)]
    d = np.zeros((6, 6), bool)
    d[0, 0] = d[5, 5] = True
    np.testing.assert_array_equal(convex_hull(d), np.eye(6, dtype=bool))


@settings(max_examples=100, deadline=None)
@given(m=arrays(np.bool_, st.tuples(st.integers(1, 24), st.integers(1, 24)),
                elements=st.sampled_from([False, False, False, True])))
def test_random_vs_exact_reference(m):
    h = convex_hull(m)
    np.testing.assert_array_equal(h, exact_hull(m))
    assert not (m & ~h).any()
    np.testing.assert_array_equal(convex_hull(h), h)  # idempotent


def near_hull(extra, m):
    """Every pixel of `extra` has its centre within one pixel of the hull polygon of m."""
    return not (extra & ~exact_hull(m, tol=1.0)).any()


@settings(max_examples=60, deadline=None)
@given(m=arrays(np.bool_, st.tuples(st.integers(2, 40), st.integers(2, 40)),
                elements=st.sampled_from([False] * 6 + [True])))
def test_random_vs_opencv_within_one_pixel(m):
    # cv2.fillPoly's line rasteriser adds some pixels just outside slanted edges; it never misses an inside pixel.
    ours, theirs = convex_hull(m), cv2_hull(m)
    assert not (ours & ~theirs).any()
    assert near_hull(theirs & ~ours, m)


def test_vs_skimage_corner_convention():
    morphology = pytest.importorskip("skimage.morphology")
    rng = np.random.default_rng(0)
    m = np.zeros((60, 70), bool)
    m[10:50, 15:60] = rng.random((40, 45)) < 0.05
    ours = convex_hull(m)
    sk = morphology.convex_hull_image(m)  # through pixel corners: a superset, at most one pixel wider
    assert not (ours & ~sk).any()
    assert near_hull(sk & ~ours, m)


def test_real_slices():
    nib = pytest.importorskip("nibabel")
    lab = np.asarray(nib.load(shared_data("btcv_sabs_ct", "labels", "sabs_04.nii.gz")).dataobj).transpose(2, 1, 0)
    zs = np.flatnonzero((lab > 0).any(axis=(1, 2)))
    for k in zs[:: max(1, len(zs) // 5)]:
        for m in (lab[k] > 0, lab[k] == 6):
            h = convex_hull(m)
            np.testing.assert_array_equal(h, exact_hull(m))
            theirs = cv2_hull(m)
            assert not (h & ~theirs).any() and near_hull(theirs & ~h, m)


def test_bad_input():
    with pytest.raises(ValueError, match="mask"):
        convex_hull(np.ones((2, 3, 4), bool))
    with pytest.raises(ValueError, match="mask"):
        convex_hull(np.ones((3, 4), float))
