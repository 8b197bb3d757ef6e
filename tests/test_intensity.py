"""radseg.intensity, shared by the click and propagation models: slices and volumes normalised alike, percentile
subsampling of large arrays, flat images, the input never changed, image checks and the raw-CT diagnosis."""
import numpy as np
import pytest

from radseg import intensity as I
from radseg.manifest import default_propagation_manifest

M = default_propagation_manifest(32)


def test_ct_window_is_the_same_for_a_slice_and_a_volume():
    vol = np.linspace(-400, 500, 3 * 8 * 8, dtype=np.float32).reshape(3, 8, 8)
    v = I.normalize_intensity(vol, "CT", M, ndim=3)
    assert v.dtype == np.float32 and v.shape == vol.shape and v.min() == 0.0 and v.max() == 1.0
    for k in range(3):  # a window does not depend on what else is in the array
        np.testing.assert_array_equal(I.normalize_intensity(vol[k], "ct", M), v[k])
    np.testing.assert_allclose(v, np.clip((vol + 125) / 400, 0, 1), atol=1e-6)


def test_mr_percentiles_are_the_whole_volumes_not_each_slices():
    rng = np.random.default_rng(0)
    vol = rng.gamma(2.0, 100.0, (4, 16, 16))
    vol[0] *= 3  # one bright slice: per-slice percentiles would hide it
    lo, hi = np.percentile(vol, [0.5, 99.5])
    v = I.normalize_intensity(vol, "MR", M, ndim=3)
    np.testing.assert_allclose(v, np.clip((vol - lo) / (hi - lo), 0, 1), atol=1e-5)
    assert v[0].mean() > v[1].mean() + 0.1
    s = I.normalize_intensity(vol[1], "MR", M)  # a slice alone takes its own percentiles
    assert s.max() == pytest.approx(1.0) and not np.allclose(s, v[1])


def test_ndim_must_match_the_array():
    with pytest.raises(ValueError, match="3D"):
        I.normalize_intensity(np.zeros((8, 8)), "CT", M, ndim=3)
    with pytest.raises(ValueError, match="2D"):
        I.normalize_intensity(np.zeros((2, 8, 8)), "CT", M, ndim=2)
    with pytest.raises(ValueError, match="ndim must be 2"):
        I.normalize_intensity(np.zeros((2, 8, 8)), "CT", M, ndim=4)


def test_percentiles_of_large_arrays_use_every_other_voxel(monkeypatch):
    monkeypatch.setattr(I, "PERCENTILE_FULL_MAX", 1000)
    rng = np.random.default_rng(1)
    vol = rng.random((10, 12, 14))  # 1680 voxels > 1000
    vol[::2, ::2, ::2] *= 10  # the subsample alone is 10 times brighter
    sub = vol[::2, ::2, ::2]
    assert I.intensity_bounds(vol, "MR", M) == pytest.approx(tuple(np.percentile(sub, [0.5, 99.5])))
    small = vol[:5, :10, :10]  # 500 voxels: all of them
    assert I.intensity_bounds(small, "MR", M) == pytest.approx(tuple(np.percentile(small, [0.5, 99.5])))
    monkeypatch.setattr(I, "PERCENTILE_FULL_MAX", 100)
    img = rng.random((20, 20))
    assert I.intensity_bounds(img, "MR", M) == pytest.approx(tuple(np.percentile(img[::2, ::2], [0.5, 99.5])))
    # a window never looks at the values
    assert I.intensity_bounds(vol, "CT", M) == (-125.0, 275.0)


def test_flat_images_map_to_zeros():
    for a, nd in ((np.full((8, 8), 42.0), 2), (np.full((2, 8, 8), 7, np.int16), 3)):
        out = I.normalize_intensity(a, "MR", M, ndim=nd)
        assert out.dtype == np.float32 and out.shape == a.shape and not out.any()
    assert I.intensity_bounds(np.full((8, 8), 5.0), "MR", M) == (5.0, 5.0)
    assert not I.scale_to_bounds(np.ones((3, 3)), (2.0, 1.0)).any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16])
def test_the_input_is_never_changed(dtype):
    a = (np.arange(2 * 8 * 8).reshape(2, 8, 8) * 10 - 300).astype(dtype)
    before = a.copy()
    for mod in ("CT", "MR"):
        out = I.normalize_intensity(a, mod, M, ndim=3)
        assert out is not a and not np.shares_memory(out, a)
        out[:] = -1
    np.testing.assert_array_equal(a, before)


@pytest.mark.parametrize("bad, err, match", [
    (np.full((2, 4, 4), np.nan), ValueError, "NaN or inf.*slice 0, row 0, col 0"),
    (np.zeros((4, 4)), ValueError, r"3D \[slices"),
    (np.zeros((2, 4, 4), bool), TypeError, "real-valued"),
    (np.zeros((2, 4, 4), complex), TypeError, "real-valued"),
    (np.zeros((0, 4, 4)), ValueError, "empty"),
])
def test_check_volume_says_what_is_wrong(bad, err, match):
    with pytest.raises(err, match=match):
        I.check_volume(bad)


def test_check_volume_points_at_the_first_bad_voxel():
    v = np.zeros((3, 4, 5), np.float32)
    v[2, 1, 3] = np.inf
    with pytest.raises(ValueError, match="slice 2, row 1, col 3"):
        I.check_volume(v)
    assert I.check_volume([[[1, 2]], [[3, 4]]]).shape == (2, 1, 2)  # nested lists are arrays too


def test_modality_is_case_insensitive_and_checked():
    assert I.intensity_spec("mr", M) == M.intensity["MR"]
    with pytest.raises(ValueError, match="unknown modality 'PET'"):
        I.intensity_bounds(np.zeros((4, 4)), "PET", M)
    with pytest.raises(TypeError, match="modality must be a string"):
        I.intensity_spec(3, M)


def test_hounsfield_problem():
    assert I.hounsfield_problem(np.array([[-1000.0, 40.0]])) is None
    assert "no value below 0" in I.hounsfield_problem(np.array([[0.0, 1040.0]]))
    assert "unsigned dtype uint16" in I.hounsfield_problem(np.array([[0, 1040]], np.uint16))
    assert I.hounsfield_problem(np.zeros((4, 4))) is None  # zero-filled: nothing to say
