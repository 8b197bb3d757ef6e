"""Disk/ball morphology against scipy.ndimage and OpenCV with explicitly built structuring elements."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.ndimage as ndi
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from radseg import _native
from radseg.geometry import binary_closing, binary_dilation, binary_erosion, binary_opening
from tests.conftest import shared_data

cv2 = pytest.importorskip("cv2")

TOL = 1e-6  # documented relative tolerance on the squared radius


def element(radius: float, spacing) -> np.ndarray:
    """The exact offset set {d : sum (d * spacing)^2 <= r^2 (1 + TOL)} as a centred bool array."""
    spacing = np.asarray(spacing, float)
    reach = [int(math.floor(radius / s + 1e-9)) + 1 for s in spacing]
    grids = np.meshgrid(*[np.arange(-k, k + 1) * s for k, s in zip(reach, spacing)], indexing="ij")
    return sum(g * g for g in grids) <= radius * radius * (1 + TOL)


def ref_dilation(m, radius, spacing):
    return ndi.binary_dilation(m, structure=element(radius, spacing), border_value=0)


def ref_erosion(m, radius, spacing):
    return ndi.binary_erosion(m, structure=element(radius, spacing), border_value=1)


def ref(op, m, radius, spacing):
    if op == "dilation":
        return ref_dilation(m, radius, spacing)
    if op == "erosion":
        return ref_erosion(m, radius, spacing)
    if op == "closing":
        return ref_erosion(ref_dilation(m, radius, spacing), radius, spacing)
    return ref_dilation(ref_erosion(m, radius, spacing), radius, spacing)


OPS = {"dilation": binary_dilation, "erosion": binary_erosion, "closing": binary_closing, "opening": binary_opening}


def blobs(shape, seed, density=0.02, grow=3):
    """Random organ-like blobs: sparse seeds dilated by a small box, a few holes punched."""
    rng = np.random.default_rng(seed)
    m = ndi.binary_dilation(rng.random(shape) < density, iterations=grow)
    m &= rng.random(shape) > 0.05
    return m


def test_element_helper_is_a_disk():
    # r = 5: (3, 4) lies exactly on the circle and is included; 21 lattice rows.
    e = element(5, (1, 1))
    assert e.shape == (13, 13) and e[6 + 3, 6 + 4] and not e[6 + 4, 6 + 4]
    assert e.sum() == 81  # Gauss circle problem, N(5) = 81


@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize("radius,spacing", [(1, (1, 1)), (2.5, (1, 1)), (5, (1, 1)), (4, (0.7, 1.3)), (21, (1, 1))])
def test_2d_matches_scipy(op, radius, spacing):
    m = blobs((96, 80), seed=int(radius * 10))
    sp = None if spacing == (1, 1) else spacing
    np.testing.assert_array_equal(OPS[op](m, radius, spacing=sp), ref(op, m, radius, spacing))


@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize("radius,spacing",
                         [(1, (1, 1, 1)), (3, (1, 1, 1)), (5, (3.0, 0.8, 0.8)), (4.2, (2.5, 1.1, 0.9))])
def test_3d_matches_scipy(op, radius, spacing):
    m = blobs((14, 40, 36), seed=int(radius * 7), density=0.01)
    np.testing.assert_array_equal(OPS[op](m, radius, spacing=spacing), ref(op, m, radius, spacing))


OP_CODES = {"dilation": 0, "erosion": 1, "opening": 2, "closing": 3}


@pytest.mark.parametrize("engine", [1, 2])  # 1: runs, 2: EDT; the public functions pick one by estimated cost
@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize("shape,radius,spacing", [((60, 70), 6.5, (1.0, 1.0)), ((50, 40), 5.0, (0.7, 1.3)),
                                                  ((16, 30, 28), 9.0, (1.0, 1.0, 1.0)),
                                                  ((14, 30, 26), 5.5, (2.5, 0.8, 1.1))])
def test_both_engines_match_scipy(engine, op, shape, radius, spacing):
    m = blobs(shape, seed=len(shape) + engine, density=0.01 if len(shape) == 2 else 0.004)
    out = _native.binary_morphology(m.view(np.uint8), list(spacing), radius, OP_CODES[op], engine).view(bool)
    np.testing.assert_array_equal(out, ref(op, m, radius, spacing))


def test_edt_engine_large_disk_2d():
    # Radius 85 px spans 171 rows: the EDT engine runs in 2D too. Reference: scipy's EDT thresholded (scipy's
    # binary_dilation with a 171 x 171 element takes tens of seconds).
    m = np.zeros((420, 400), bool)
    m[100:130, 90:140] = True
    m[150:160, 200:300] = True
    m[152:158, 210:290] = False
    r2 = 85.0**2 * (1 + TOL)
    dil = ndi.distance_transform_edt(~m) ** 2 <= r2
    assert dil.any() and not dil.all()
    np.testing.assert_array_equal(binary_dilation(m, 85), dil)
    closed = ndi.distance_transform_edt(dil) ** 2 > r2  # erosion; zeros of dil exist, outside counts as foreground
    assert (closed & ~m).any()
    np.testing.assert_array_equal(binary_closing(m, 85), closed)


@pytest.mark.parametrize("radius", [1, 3, 10, 21])
def test_2d_matches_opencv(radius):
    m = blobs((120, 130), seed=radius).astype(np.uint8)
    k = element(radius, (1, 1)).astype(np.uint8)
    # cv2: dilate with a zero border; erode and close with its default border (outside = foreground for erosion).
    dil = cv2.dilate(m, k, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    np.testing.assert_array_equal(binary_dilation(m, radius), dil.astype(bool))
    np.testing.assert_array_equal(binary_erosion(m, radius), cv2.erode(m, k).astype(bool))
    ero_then = cv2.erode(cv2.dilate(m, k, borderType=cv2.BORDER_CONSTANT, borderValue=0), k)
    np.testing.assert_array_equal(binary_closing(m, radius), ero_then.astype(bool))
    np.testing.assert_array_equal(binary_opening(m, radius),
                                  cv2.dilate(cv2.erode(m, k), k, borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0)


def test_opencv_morphologyex_close_away_from_border():
    # Away from the border cv2.morphologyEx(CLOSE) is the same operation.
    m = np.zeros((200, 200), np.uint8)
    m[60:140, 50:150] = blobs((80, 100), seed=9)
    k = element(21, (1, 1)).astype(np.uint8)
    np.testing.assert_array_equal(binary_closing(m, 21), cv2.morphologyEx(m, cv2.MORPH_CLOSE, k) > 0)


@settings(max_examples=60, deadline=None)
@given(
    m=arrays(np.bool_, st.tuples(st.integers(1, 24), st.integers(1, 24))),
    radius=st.floats(0, 9, allow_nan=False),
    sy=st.floats(0.4, 2.5),
    sx=st.floats(0.4, 2.5),
    op=st.sampled_from(list(OPS)),
)
def test_random_2d(m, radius, sy, sx, op):
    np.testing.assert_array_equal(OPS[op](m, radius, spacing=(sy, sx)), ref(op, m, radius, (sy, sx)))


@settings(max_examples=40, deadline=None)
@given(
    m=arrays(np.bool_, st.tuples(st.integers(1, 8), st.integers(1, 10), st.integers(1, 10))),
    radius=st.floats(0, 4, allow_nan=False),
    sz=st.floats(0.5, 3.0),
    op=st.sampled_from(list(OPS)),
)
def test_random_3d(m, radius, sz, op):
    sp = (sz, 1.0, 0.8)
    np.testing.assert_array_equal(OPS[op](m, radius, spacing=sp), ref(op, m, radius, sp))


@settings(max_examples=40, deadline=None)
@given(m=arrays(np.bool_, st.tuples(st.integers(1, 20), st.integers(1, 20))), radius=st.floats(0, 6))
def test_duality_and_ordering(m, radius):
    # With this border convention erosion is exactly the dual of dilation, closing extensive, opening anti-extensive.
    np.testing.assert_array_equal(binary_erosion(m, radius), ~binary_dilation(~m, radius))
    assert not (m & ~binary_closing(m, radius)).any()
    assert not (binary_opening(m, radius) & ~m).any()


@pytest.mark.parametrize("shape", [(17, 19), (5, 17, 19)])
def test_edge_cases(shape):
    empty, full = np.zeros(shape, bool), np.ones(shape, bool)
    for op in OPS.values():
        assert not op(empty, 3).any()
        assert op(full, 3).all()  # outside is foreground for erosion: a full mask stays full
    one = np.zeros(shape, bool)
    one[(0,) * len(shape)] = True  # a corner pixel: touches the border
    np.testing.assert_array_equal(binary_dilation(one, 2.2), ref_dilation(one, 2.2, (1,) * len(shape)))
    assert not binary_erosion(one, 1).any() and not binary_opening(one, 1).any()
    np.testing.assert_array_equal(binary_closing(one, 4), one)
    line = np.zeros(shape, bool)
    line[..., shape[-2] // 2, :] = True  # one-pixel line across the array
    for name, op in OPS.items():
        np.testing.assert_array_equal(op(line, 1.5), ref(name, line, 1.5, (1,) * len(shape)))


def test_radius_zero_is_identity_and_input_layouts():
    m = blobs((30, 40), seed=1)
    for op in OPS.values():
        np.testing.assert_array_equal(op(m, 0), m)
    # Fortran order, non-contiguous views and integer labels are accepted; nonzero = foreground.
    lab = m.astype(np.int32) * 7
    np.testing.assert_array_equal(binary_closing(lab.T, 3), ref("closing", m.T, 3, (1, 1)))
    np.testing.assert_array_equal(binary_dilation(m[::2, ::3], 2), ref("dilation", m[::2, ::3], 2, (1, 1)))
    out = binary_dilation(m, 2)
    assert out.dtype == np.bool_ and out.shape == m.shape


@pytest.mark.parametrize("bad", [-1, -0.5, float("nan"), float("inf"), "3", None, True, [2]])
def test_bad_radius_names_radius(bad):
    with pytest.raises(ValueError, match="radius"):
        binary_closing(np.ones((5, 5), bool), bad)


def test_bad_mask_and_spacing():
    with pytest.raises(ValueError, match="mask"):
        binary_dilation(np.ones((5, 5)) * 0.5, 1)
    with pytest.raises(ValueError, match="mask"):
        binary_dilation(np.ones(5, bool), 1)
    with pytest.raises(ValueError, match="spacing"):
        binary_dilation(np.ones((5, 5), bool), 1, spacing=(1, 0))
    with pytest.raises(ValueError, match="spacing"):
        binary_dilation(np.ones((5, 5), bool), 1, spacing=(1, 1, 1))


def _btcv_case():
    nib = pytest.importorskip("nibabel")
    img = nib.load(shared_data("btcv_sabs_ct", "labels", "sabs_00.nii.gz"))
    lab = np.asarray(img.dataobj).transpose(2, 1, 0)  # [x, y, z] -> [slices, rows, cols]
    sx, sy, sz = (float(v) for v in img.header.get_zooms())
    return lab, (sz, sy, sx)


def test_real_organs_2d_mm():
    lab, sp = _btcv_case()
    k = int(np.argmax((lab > 0).sum(axis=(1, 2))))
    m = lab[k] > 0
    for op in OPS:
        np.testing.assert_array_equal(OPS[op](m, 10.0, spacing=sp[1:]), ref(op, m, 10.0, sp[1:]))


def test_real_organ_3d_anisotropic():
    lab, sp = _btcv_case()
    spleen = lab == 1
    zs = np.flatnonzero(spleen.any(axis=(1, 2)))
    m = spleen[zs[0]:zs[-1] + 1]
    for op in ("closing", "opening"):
        np.testing.assert_array_equal(OPS[op](m, 6.0, spacing=sp), ref(op, m, 6.0, sp))


def test_concurrent_calls_release_the_gil_safely():
    # Every native call releases the GIL: calls from several threads at once must give the serial results.
    from concurrent.futures import ThreadPoolExecutor

    from radseg.geometry import convex_hull, fill_holes, label_components, outer_contours

    masks = [blobs((160, 170), seed=s) for s in range(8)]
    jobs = [
        lambda m: binary_closing(m, 7),
        lambda m: binary_erosion(m, 2.5, spacing=(0.8, 1.2)),
        fill_holes,
        lambda m: label_components(m)[0],
        lambda m: outer_contours(m).labels,
        convex_hull,
    ]
    serial = [[job(m) for m in masks] for job in jobs]
    with ThreadPoolExecutor(4) as pool:
        futures = [[pool.submit(job, m) for m in masks] for job in jobs]
        for row_f, row_s in zip(futures, serial):
            for f, s in zip(row_f, row_s):
                np.testing.assert_array_equal(f.result(), s)
