"""Exact EDT (radseg.geometry.distance_transform) against scipy.ndimage and a brute-force reference."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import ndimage

import radseg
from radseg.geometry import distance_transform
from tests.conftest import shared_data

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402


def brute_force_edt(mask: np.ndarray, spacing) -> np.ndarray:
    """Distance from every element to the nearest zero, by comparing all pairs (tiny inputs only)."""
    sp = np.asarray(spacing, float)
    pts = np.argwhere(np.ones(mask.shape, bool)) * sp
    zeros = np.argwhere(mask == 0) * sp
    if len(zeros) == 0:
        return np.full(mask.shape, np.inf)
    d2 = ((pts[:, None, :] - zeros[None, :, :]) ** 2).sum(-1).min(1)
    return np.sqrt(d2).reshape(mask.shape)


def assert_close_to_scipy(mask, spacing=None):
    ours = distance_transform(mask, spacing=spacing)
    ref = ndimage.distance_transform_edt(mask, sampling=spacing)
    assert ours.dtype == np.float32 and ours.shape == mask.shape
    np.testing.assert_allclose(ours, ref, rtol=2e-6, atol=2e-5)


@pytest.mark.parametrize("shape,spacing", [
    ((7,), (0.5,)), ((6, 5), (1.0, 1.0)), ((5, 7), (0.3, 2.1)), ((3, 4, 5), (2.5, 0.7, 0.9)), ((4, 4, 4), None),
])
def test_matches_brute_force_on_tiny_masks(shape, spacing):
    rng = np.random.default_rng(1)
    for density in (0.95, 0.7, 0.3):
        mask = rng.random(shape) < density
        mask.flat[0] = False  # at least one zero
        ours = distance_transform(mask, spacing=spacing)
        ref = brute_force_edt(mask, spacing if spacing is not None else (1.0,) * len(shape))
        np.testing.assert_allclose(ours, ref, rtol=2e-6, atol=1e-5)


@pytest.mark.parametrize("shape,spacing", [
    ((300,), (0.8,)), ((129, 257), None), ((200, 64), (0.6, 2.2)), ((33, 65, 47), (3.0, 0.8, 0.8)),
    ((20, 40, 90), (0.5, 1.7, 1.0)),
])
@pytest.mark.parametrize("density", [0.999, 0.9, 0.5, 0.05])
def test_matches_scipy_random(shape, spacing, density):
    rng = np.random.default_rng(abs(hash((shape, density))) % 2**32)
    mask = rng.random(shape) < density
    mask.flat[rng.integers(mask.size)] = False  # scipy is undefined without a zero
    assert_close_to_scipy(mask, spacing)


def test_matches_scipy_on_smooth_blobs_with_long_distances():
    rng = np.random.default_rng(3)
    blobs = ndimage.gaussian_filter(rng.random((40, 160, 160)), 6) > 0.5
    assert_close_to_scipy(blobs, (2.5, 0.7, 0.7))
    yy, xx = np.mgrid[:400, :300]
    assert_close_to_scipy(((yy - 200) ** 2 + (xx - 150) ** 2) < 140**2, (0.9, 1.3))


@settings(max_examples=60, deadline=None)
@given(
    mask=hnp.arrays(bool, hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=12)),
    data=st.data(),
)
def test_hypothesis_matches_scipy(mask, data):
    spacing = data.draw(st.lists(st.floats(0.1, 5.0), min_size=mask.ndim, max_size=mask.ndim))
    if mask.all():
        assert np.isinf(distance_transform(mask, spacing=spacing)).all()
    else:
        assert_close_to_scipy(mask, spacing)


def test_edge_cases():
    # No zero at all: no finite distance (documented inf, scipy is undefined there).
    assert np.isinf(distance_transform(np.ones((5, 6), bool))).all()
    # No foreground: all zeros.
    assert (distance_transform(np.zeros((4, 5, 6), np.uint8)) == 0).all()
    # One background pixel in a corner: distance to it everywhere, in mm.
    m = np.ones((6, 9), bool)
    m[0, 0] = False
    yy, xx = np.mgrid[:6, :9]
    np.testing.assert_allclose(distance_transform(m, spacing=(2.0, 0.5)), np.hypot(2.0 * yy, 0.5 * xx), rtol=1e-6)
    # One-pixel lines and a single pixel / single row shapes.
    assert_close_to_scipy(np.eye(17, dtype=bool) == 0)
    assert_close_to_scipy(np.array([[1, 1, 0, 1, 1, 1]], bool), (1.0, 3.0))
    assert_close_to_scipy(np.array([[1], [1], [0], [1]], bool), (0.5, 3.0))
    assert distance_transform(np.zeros((1, 1), bool)).item() == 0.0
    # Foreground touching the border: the outside of the array is not a zero.
    m = np.zeros((5, 8), bool)
    m[:, 4:] = True
    np.testing.assert_allclose(distance_transform(m)[2], [0, 0, 0, 0, 1, 2, 3, 4])
    # Empty axes.
    assert distance_transform(np.zeros((0, 5), bool)).shape == (0, 5)


def test_squared_and_isotropic_scalar_spacing():
    rng = np.random.default_rng(7)
    m = rng.random((30, 41)) < 0.8
    d = distance_transform(m, spacing=0.7)
    np.testing.assert_allclose(distance_transform(m, spacing=(0.7, 0.7), squared=True), d.astype(np.float64) ** 2,
                               rtol=1e-5)
    np.testing.assert_allclose(d, ndimage.distance_transform_edt(m, sampling=0.7), rtol=2e-6, atol=1e-5)


@pytest.mark.parametrize("dtype", [bool, np.uint8, np.int16, np.int64, np.uint32])
def test_dtypes_and_layouts_give_the_same_result(dtype):
    rng = np.random.default_rng(11)
    m = rng.random((23, 31, 19)) < 0.7
    ref = distance_transform(m, spacing=(1.5, 1.0, 0.5))
    values = (m * (7 if dtype is not bool else 1)).astype(dtype)
    np.testing.assert_array_equal(distance_transform(np.asfortranarray(values), spacing=(1.5, 1.0, 0.5)), ref)
    t = np.ascontiguousarray(values.transpose(2, 0, 1)).transpose(1, 2, 0)  # non-contiguous view
    np.testing.assert_array_equal(distance_transform(t, spacing=(1.5, 1.0, 0.5)), ref)


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="mask"):
        distance_transform(np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match="mask"):
        distance_transform(np.zeros((2, 2, 2, 2), bool))
    with pytest.raises(ValueError, match="spacing"):
        distance_transform(np.zeros((3, 3), bool), spacing=(1.0, 0.0))
    with pytest.raises(ValueError, match="spacing"):
        distance_transform(np.zeros((3, 3), bool), spacing=(1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="spacing"):
        distance_transform(np.zeros((3, 3), bool), spacing=(1.0, float("nan")))


def test_large_2d_image_on_the_parallel_path_matches_scipy():
    rng = np.random.default_rng(6)
    image = ndimage.gaussian_filter(rng.random((1024, 700)), 5) > 0.5  # above the 2^19-element threshold
    assert_close_to_scipy(image, (0.6, 0.9))


def test_large_volume_with_threads_matches_scipy_on_slices():
    """A volume big enough for the parallel path; scipy on the whole volume would be slow, so check slices of a
    2D-extruded mask, whose 3D EDT along the extruded axis equals the 2D EDT where every slice is the same."""
    rng = np.random.default_rng(5)
    plane = ndimage.gaussian_filter(rng.random((256, 256)), 4) > 0.5
    vol = np.broadcast_to(plane, (48, 256, 256))
    d3 = distance_transform(vol, spacing=(3.0, 0.8, 0.8))
    d2 = ndimage.distance_transform_edt(plane, sampling=(0.8, 0.8))
    for k in (0, 17, 47):
        np.testing.assert_allclose(d3[k], d2, rtol=2e-6, atol=2e-5)


def test_real_organ_labels_match_scipy():
    nib = pytest.importorskip("nibabel")
    path = shared_data("btcv_sabs_ct", "labels", "sabs_00.nii.gz")
    img = nib.load(str(path))
    lab = np.asarray(img.dataobj).transpose(2, 1, 0)  # NIfTI (x, y, z) -> [slices, rows, cols]
    spacing = tuple(float(z) for z in img.header.get_zooms()[::-1])
    for organ in (1, 6, 11):  # spleen, liver, pancreas: crop around each organ to keep scipy fast
        idx = np.argwhere(lab == organ)
        lo, hi = np.maximum(idx.min(0) - 5, 0), idx.max(0) + 6
        crop = lab[tuple(slice(a, b) for a, b in zip(lo, hi))] == organ
        assert_close_to_scipy(crop, spacing)
        assert_close_to_scipy(~crop, spacing)
        k = crop.shape[0] // 2
        assert_close_to_scipy(crop[k], spacing[1:])


def test_is_exported():
    assert radseg.geometry.distance_transform is distance_transform
    assert "distance_transform" in radseg.geometry.__all__


def test_results_do_not_depend_on_the_thread_count():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    rng = np.random.default_rng(8)
    vol = ndimage.gaussian_filter(rng.random((40, 128, 128)), 3) > 0.5  # above the parallel threshold
    with threadpoolctl.threadpool_limits(1, user_api="openmp"):
        one = distance_transform(vol, spacing=(2.0, 0.7, 0.7))
    with threadpoolctl.threadpool_limits(2, user_api="openmp"):
        two = distance_transform(vol, spacing=(2.0, 0.7, 0.7))
    np.testing.assert_array_equal(one, two)
