"""Connected components against scipy.ndimage / skimage, and outer contours against cv2.findContours."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from radseg.geometry import keep_largest, label_components, outer_contours, remove_small_components
from tests.conftest import shared_data

cv2 = pytest.importorskip("cv2")


def scipy_label(m, c):
    return ndi.label(m, structure=ndi.generate_binary_structure(m.ndim, c))


def same_partition(a, b):
    """Two label images describe the same partition (numbering may differ)."""
    assert a.shape == b.shape and ((a == 0) == (b == 0)).all()
    pairs = np.unique(np.stack([a.ravel(), b.ravel()]), axis=1)
    assert len(np.unique(pairs[0])) == pairs.shape[1] == len(np.unique(pairs[1]))


@settings(max_examples=80, deadline=None)
@given(data=st.data(), shape=st.sampled_from([(1, 1), (7, 9), (20, 25), (1, 30), (3, 5, 6), (6, 9, 8), (1, 1, 9)]))
def test_random_vs_scipy_exact_numbering(data, shape):
    m = data.draw(arrays(np.bool_, shape))
    c = data.draw(st.integers(1, len(shape)))
    labels, sizes = label_components(m, connectivity=c)
    ref, n = scipy_label(m, c)
    assert labels.dtype == np.int32 and sizes.dtype == np.int64
    np.testing.assert_array_equal(labels, ref)  # same raster-order numbering as scipy.ndimage.label
    np.testing.assert_array_equal(sizes, np.bincount(ref.ravel(), minlength=n + 1))


@pytest.mark.parametrize("ndim", [2, 3])
def test_vs_skimage_partition_default_full_connectivity(ndim):
    measure = pytest.importorskip("skimage.measure")
    rng = np.random.default_rng(ndim)
    m = rng.random((40, 50) if ndim == 2 else (12, 30, 30)) < 0.4
    labels, sizes = label_components(m)  # default: full connectivity, as skimage
    same_partition(labels, measure.label(m))
    assert len(sizes) - 1 == measure.label(m).max()


def test_connectivity_aliases_and_errors():
    m = np.eye(5, dtype=bool)
    assert label_components(m, 4)[1].size == 6 and label_components(m, 8)[1].size == 2
    assert label_components(m, 1)[1].size == 6 and label_components(m, None)[1].size == 2
    m3 = np.zeros((3, 3, 3), bool)
    m3[0, 0, 0] = m3[1, 1, 1] = True  # corner neighbours only
    assert [label_components(m3, c)[1].size for c in (6, 18, 26)] == [3, 3, 2]
    for bad in (0, 3, 5, 6, 2.0, "8", True):
        with pytest.raises(ValueError, match="connectivity"):
            label_components(m, bad)
    with pytest.raises(ValueError, match="connectivity"):
        label_components(m3, 8)


def test_edge_cases():
    for shape in [(0, 5), (5, 5), (2, 3, 4)]:
        labels, sizes = label_components(np.zeros(shape, bool))
        assert not labels.any() and sizes.tolist() == [int(np.prod(shape))]
    labels, sizes = label_components(np.ones((4, 6), bool))
    assert (labels == 1).all() and sizes.tolist() == [0, 24]


def test_keep_largest_and_remove_small():
    rng = np.random.default_rng(5)
    m = ndi.binary_dilation(rng.random((80, 90)) < 0.01, iterations=2) | (rng.random((80, 90)) < 0.02)
    ref, n = scipy_label(m, 2)
    sizes = np.bincount(ref.ravel())[1:]
    for k in (0, 1, 3, n + 5):
        order = np.argsort(-sizes, kind="stable")[:k] + 1
        np.testing.assert_array_equal(keep_largest(m, k), np.isin(ref, order))
    np.testing.assert_array_equal(remove_small_components(m, 10), np.isin(ref, np.flatnonzero(sizes >= 10) + 1))
    np.testing.assert_array_equal(remove_small_components(m, 0), m)
    ref4, _ = scipy_label(m, 1)
    s4 = np.bincount(ref4.ravel())[1:]
    np.testing.assert_array_equal(keep_largest(m, 1, connectivity=4), ref4 == np.argmax(s4) + 1)
    for bad in (-1, 1.5, None):
        with pytest.raises(ValueError, match="k"):
            keep_largest(m, bad)
        with pytest.raises(ValueError, match="min_size"):
            remove_small_components(m, bad)


def test_remove_small_vs_skimage():
    morphology = pytest.importorskip("skimage.morphology")
    rng = np.random.default_rng(7)
    m = rng.random((60, 60)) < 0.3
    lab, _ = scipy_label(m, 2)
    sizes = np.bincount(lab.ravel())
    expected = np.isin(lab, np.flatnonzero(sizes >= 4)) & m
    np.testing.assert_array_equal(remove_small_components(m, 4), expected)
    # skimage >= 0.26 names it max_size (removes objects <= max_size); older versions min_size (< min_size).
    try:
        sk = morphology.remove_small_objects(m, max_size=3, connectivity=2)
    except TypeError:
        sk = morphology.remove_small_objects(m, min_size=4, connectivity=2)
    np.testing.assert_array_equal(remove_small_components(m, 4), sk)


def test_real_organs_3d():
    nib = pytest.importorskip("nibabel")
    lab = np.asarray(nib.load(shared_data("btcv_sabs_ct", "labels", "sabs_02.nii.gz")).dataobj).transpose(2, 1, 0)
    for organ, c in [(lab == 8, 1), (lab > 0, 3), (lab == 11, 2)]:
        labels, sizes = label_components(organ, connectivity=c)
        ref, n = scipy_label(organ, c)
        np.testing.assert_array_equal(labels, ref)
        assert len(sizes) == n + 1


# ---- outer contours --------------------------------------------------------------------------------------------

def cv2_external(m):
    contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    return contours


def check_against_cv2(m):
    oc = outer_contours(m)
    cs = cv2_external(m)
    assert len(oc) == len(cs)
    # Match each cv2 contour to our component by its first point (cv2 starts at the topmost-leftmost pixel).
    for c in cs:
        x, y = c[0, 0]
        i = oc.labels[y, x] - 1
        assert i >= 0
        assert oc.lengths[i] == len(c)
        assert oc.perimeters[i] == pytest.approx(cv2.arcLength(c, True), rel=1e-6)  # cv2 sums in float32
        filled = np.zeros(m.shape, np.uint8)
        cv2.drawContours(filled, [c], -1, 1, thickness=cv2.FILLED)
        np.testing.assert_array_equal(oc.labels == i + 1, filled > 0)
        assert oc.areas[i] == int(filled.sum())


def test_contour_shapes():
    m = np.zeros((12, 14), bool)
    m[1, 1] = True  # lone pixel: 1 point, arc 0
    m[3, 2:8] = True  # straight run of 6: 10 points
    m[6:10, 2:6] = True  # 4x4 square: 12 points
    m[5:11, 8:13] = True
    m[7:9, 10] = False  # a square with a hole: only its outer border counts
    m[0:3, 11:14] = np.eye(3, dtype=bool)  # diagonal touching the border
    oc = outer_contours(m)
    assert oc.lengths[oc.labels[1, 1] - 1] == 1 and oc.perimeters[oc.labels[1, 1] - 1] == 0
    assert oc.lengths[oc.labels[3, 2] - 1] == 10
    assert oc.lengths[oc.labels[6, 2] - 1] == 12
    check_against_cv2(m)


@settings(max_examples=80, deadline=None)
@given(m=arrays(np.bool_, st.tuples(st.integers(1, 25), st.integers(1, 25))))
def test_random_contours_vs_cv2(m):
    check_against_cv2(m)


def test_nested_component_belongs_to_outer_contour():
    m = np.zeros((20, 20), bool)
    m[2:18, 2:18] = True
    m[4:16, 4:16] = False
    m[8:12, 8:12] = True  # island in the hole: RETR_EXTERNAL does not report it
    oc = outer_contours(m)
    assert len(oc) == 1 and oc.areas[0] == 16 * 16
    check_against_cv2(m)


def test_select_and_mask():
    m = np.zeros((40, 40), bool)
    m[2:4, 2:4] = True  # contour length 4: dropped by min_length=20
    m[10:20, 5:25] = True  # area 200
    m[25:35, 25:33] = True  # area 80
    m[30:39, 2:12] = True  # area 90
    oc = outer_contours(m)
    idx = oc.select(min_length=20, largest=2)
    assert [int(oc.areas[i]) for i in idx] == [200, 90]
    np.testing.assert_array_equal(oc.mask(idx), m & ~((np.arange(40)[:, None] >= 25) & (np.arange(40) >= 25))
                                  & ~((np.arange(40)[:, None] < 5) & (np.arange(40) < 5)))
    np.testing.assert_array_equal(oc.mask(), m)


def test_real_slices_vs_cv2():
    nib = pytest.importorskip("nibabel")
    lab = np.asarray(nib.load(shared_data("btcv_sabs_ct", "labels", "sabs_03.nii.gz")).dataobj).transpose(2, 1, 0)
    zs = np.flatnonzero((lab > 0).any(axis=(1, 2)))
    for k in zs[:: max(1, len(zs) // 6)]:
        check_against_cv2(lab[k] > 0)
        check_against_cv2(lab[k] == 7)


def test_contours_bad_input():
    with pytest.raises(ValueError, match="mask"):
        outer_contours(np.zeros((3, 4, 5), bool))
