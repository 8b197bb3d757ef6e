"""Seed 000's 18 classical body-outline candidates against an independent OpenCV implementation of the recipe.

The reference (`radseg.bench.body_opencv`, OpenCV only) is written from the recipe (radseg.body.candidates' docstring, SPEC.md "Body model") with
OpenCV only: cv2.normalize, cv2.GaussianBlur, cv2.threshold(OTSU), the cv2.floodFill hole-filling idiom,
cv2.connectedComponentsWithStats, cv2.morphologyEx(MORPH_CLOSE) with an explicit Euclidean disk,
cv2.findContours(RETR_EXTERNAL, CHAIN_APPROX_NONE), cv2.drawContours(filled) and cv2.convexHull.

What is exact and what is not (measured on every slice used here):

- gaussian_blur5, otsu_threshold, fill_from_top_left: bit-exact.
- scale_to_uint8 vs cv2.normalize(NORM_MINMAX, CV_8U): equal except on exact ties (value k + 0.5), where the two
  float orders of operations round to different neighbours (35 pixels of the TotalSegmentator slice, 3 of
  MR_small); the variants do not change because of them (checked).
- All 18 variants: pixel-exact, with two documented choices in the reference:
  * the convex hull is filled through pixel centres (cv2.convexHull's vertices, then an exact integer half-plane
    test per pixel centre), radseg's documented rule. cv2.fillPoly of the same hull also paints the pixels its
    boundary lines pass through: radseg's hull masks are a subset of it, every extra pixel touching radseg's
    mask, Dice >= 0.99 on masks over 5000 px (about 0.996 on the 512 x 512 CT slices) and >= 0.98 on small ones
    (lowest: 0.9856 on MR_small's 64 x 64), checked too.
  * when pixel (0, 0) is foreground nothing is filled (radseg's documented rule). The plain floodFill idiom
    (fill a copy from (0, 0) with 255, invert, OR) turns such a mask all foreground instead; MR_small.dcm is such
    a slice (the head fills the frame), and that difference is pinned down by its own test.
"""
from __future__ import annotations

import functools
import importlib
import re
from fractions import Fraction

import cv2
import numpy as np
import pytest

from tests.conftest import shared_data

cand = importlib.import_module("radseg.body.candidates")  # `radseg.body.candidates` the attribute is the function

HULL_VARIANTS = [v for v in cand.VARIANTS if v.startswith("M1") or (v.startswith("M3") and v.endswith(",1)"))]


# ---- the independent reference (OpenCV only), shared with benchmarks/bench_body.py ----------------------------
from radseg.bench.body_opencv import (  # noqa: E402
    cv_close, cv_otsu, cv_scale, floodfill_idiom, hull_fillpoly, ref_fill, ref_mostly_original, ref_variants,
)


def split_names(joined: str) -> list:
    """The variant names in a `candidates` name string. They are comma-joined, but M3's names hold commas
    themselves, so a plain ``split(",")`` does not give them back (see test_names_split_on_commas_are_not_names)."""
    names = re.findall(r"M[123]\([0-9,]+\)", joined)
    assert ",".join(names) == joined, joined
    return names


def dice(a, b) -> float:
    s = int(a.sum()) + int(b.sum())
    return 1.0 if s == 0 else 2.0 * int((a & b).sum()) / s


# ---- the slices --------------------------------------------------------------------------------------------------
def _dicom_hu(path) -> np.ndarray:
    import pydicom

    ds = pydicom.dcmread(str(path))
    return (ds.pixel_array.astype(np.float64) * float(getattr(ds, "RescaleSlope", 1))
            + float(getattr(ds, "RescaleIntercept", 0)))


def _pydicom_file(name) -> np.ndarray:
    from pydicom.data import get_testdata_file

    return _dicom_hu(get_testdata_file(name))


def _totalseg_ct() -> np.ndarray:
    root = shared_data("totalseg", "example_ct.nii.gz").parents[1]
    from radseg.training.body import sources

    vol = next(sources.volumes(root, "train", only=("totalseg_ct",)))
    return vol.image[vol.image.shape[0] // 2]


def _head_mr() -> np.ndarray:
    from radseg.training.data.volumes import load_display

    img, _ = load_display(shared_data("body_refs", "head_mr", "mne_sample_3mm", "T1.nii.gz"), np.float32)
    return img[img.shape[0] // 2]


def phantom() -> np.ndarray:
    """A synthetic slice that exercises every rule: a trunk with a hole, an arm 11 px away, blob A (about 250 px:
    a contour >= 20 points but under M2's 500 px), blobs B < C (over 500 px; the 4th and 3rd largest objects, so
    "keep the 3 largest" drops B), 4x4 specks (contours of 8 points) and a grid of dots that a closing of radius
    21 merges into a component mostly invented by the closing (IOP 2 drops it)."""
    rows, cols = 240, 400
    y, x = np.mgrid[:rows, :cols]

    def ell(cy, cx, ry, rx):
        return ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1

    img = np.zeros((rows, cols), np.float32)
    img[ell(120, 230, 70, 80)] = 100
    img[ell(110, 230, 20, 25)] = 0
    img[ell(120, 335, 45, 14)] = 100
    img[ell(40, 60, 9, 9)] = 100         # blob A, 249 px
    img[ell(35, 170, 14, 14)] = 100      # blob B, about 615 px
    img[ell(205, 110, 15, 15)] = 100     # blob C, about 707 px
    img[20:24, 120:124] = 100
    img[5:9, 300:304] = 100
    for r0 in range(150, 210, 9):
        for c0 in range(15, 70, 9):
            img[r0:r0 + 4, c0:c0 + 4] = 100
    return img + np.random.default_rng(0).normal(0, 3, img.shape).astype(np.float32)


_RT = ("body_refs", "rtstruct_ct")
LOADERS = {
    "breast_dicompyler": lambda: _dicom_hu(shared_data(*_RT, "breast_dicompyler", "ct.0.dcm")),
    **{f"visible_human_CT_{k}": (lambda k=k: _dicom_hu(shared_data(*_RT, "visible_human", "dicom", f"CT_{k}.dcm")))
       for k in (1, 2, 3, 4)},
    "totalseg_ct": _totalseg_ct,
    "head_mr_mne": _head_mr,
    "CT_small": lambda: _pydicom_file("CT_small.dcm"),
    "MR_small": lambda: _pydicom_file("MR_small.dcm"),
    "phantom": phantom,
}
SLICES = list(LOADERS)
_cache: dict = {}


def load_slice(name) -> np.ndarray:
    if name not in _cache:
        _cache[name] = np.asarray(LOADERS[name]())  # shared_data skips (with the reason) when data is absent
    return _cache[name]


@functools.lru_cache(maxsize=None)
def computed(name):
    """(u8 by cv2.normalize, radseg's variants of it, the reference's variants of it)."""
    u8 = cv_scale(load_slice(name))
    return u8, cand.all_candidates(u8), ref_variants(u8)


# ---- building blocks ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", SLICES)
def test_scale_to_uint8_matches_cv2_normalize_except_exact_ties(name):
    img = load_slice(name)
    got, want = cand.scale_to_uint8(img), cv_scale(img)
    assert got.dtype == np.uint8 and got.shape == img.shape
    assert got.min() == 0 and got.max() == 255
    assert got[img == img.min()].max() == 0 and got[img == img.max()].min() == 255
    diff = got.astype(int) - want
    assert np.abs(diff).max() <= 1
    lo, hi = Fraction(float(img.min())), Fraction(float(img.max()))
    for v in np.unique(img[diff != 0]):  # only where the exact value is k + 1/2 may the rounding go either way
        exact = (Fraction(float(v)) - lo) * 255 / (hi - lo)
        assert exact - int(exact) == Fraction(1, 2), (name, float(v), float(exact))
    # and the pipeline does not care: the variants of the raw slice are those of cv2's scaling
    raw = cand.all_candidates(img)
    _, scaled, _ = computed(name)
    for v in cand.VARIANTS:
        assert np.array_equal(raw[v], scaled[v]), v


@pytest.mark.parametrize("name", SLICES)
def test_gaussian_blur5_otsu_and_fill_match_opencv(name):
    u8, _, _ = computed(name)
    assert np.array_equal(cand.scale_to_uint8(u8), u8)  # the reference's u8 goes through radseg unchanged
    blurred = cand.gaussian_blur5(u8)
    assert blurred.dtype == np.uint8
    assert np.array_equal(blurred, cv2.GaussianBlur(u8, (5, 5), 0))
    for image in (u8, blurred):
        t, fg = cv_otsu(image)
        assert cand.otsu_threshold(image) == t
        assert np.array_equal(image > cand.otsu_threshold(image), fg)
        if not fg[0, 0]:
            assert np.array_equal(cand.fill_from_top_left(fg), floodfill_idiom(fg))
        else:
            assert np.array_equal(cand.fill_from_top_left(fg), fg)


def test_blocks_on_random_and_tiny_images():
    rng = np.random.default_rng(7)
    shapes = [(1, 1), (1, 2), (2, 1), (2, 2), (1, 7), (3, 3), (4, 5), (7, 3), (17, 23)]
    shapes += [(int(rng.integers(5, 70)), int(rng.integers(5, 70))) for _ in range(60)]
    for i, shape in enumerate(shapes):
        u8 = rng.integers(0, 256, shape).astype(np.uint8)
        if i % 2:
            u8 = (u8 // int(rng.integers(2, 128))).astype(np.uint8)  # few grey levels
        assert np.array_equal(cand.gaussian_blur5(u8), cv2.GaussianBlur(u8, (5, 5), 0)), shape
        if len(np.unique(u8)) > 1:
            assert cand.otsu_threshold(u8) == cv_otsu(u8)[0], shape
        mask = cv2.GaussianBlur(u8, (5, 5), 0) > 100
        mask[0, 0] = False
        assert np.array_equal(cand.fill_from_top_left(mask), floodfill_idiom(mask)), shape


def test_otsu_of_a_flat_image_is_all_background():
    """Documented: a flat image gives its own value (nothing above it). OpenCV returns 0 there (everything above
    it when the value is > 0); `scale_to_uint8` maps flat slices to zeros, where both agree."""
    for v in (0, 3, 121, 255):
        u8 = np.full((6, 9), v, np.uint8)
        assert cand.otsu_threshold(u8) == v
        assert not (u8 > cand.otsu_threshold(u8)).any()
    zeros = np.zeros((6, 9), np.uint8)
    assert not cv_otsu(zeros)[1].any()


def test_fill_with_foreground_corner_differs_from_the_plain_idiom_as_documented():
    mask = np.zeros((20, 20), bool)
    mask[:8, :8] = True
    mask[10:18, 10:18] = True
    mask[13, 13] = False  # a hole
    assert np.array_equal(cand.fill_from_top_left(mask), mask)  # nothing filled, not even the hole
    assert floodfill_idiom(mask).all()                          # the idiom would give the whole image
    mask[:8, :8] = False  # corner background: both fill the hole, and only the hole
    want = mask.copy()
    want[13, 13] = True
    assert np.array_equal(cand.fill_from_top_left(mask), want)
    assert np.array_equal(floodfill_idiom(mask), want)


# ---- the variants ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", SLICES)
@pytest.mark.parametrize("variant", cand.VARIANTS)
def test_variant_matches_the_opencv_reference(variant, name):
    u8, got, want = computed(name)
    g, w = got[variant], want[variant]
    assert g.dtype == np.bool_ and g.shape == u8.shape
    assert np.array_equal(g, w), (f"{variant} on {name}: {int((g != w).sum())} pixels differ "
                                  f"(radseg {int(g.sum())}, reference {int(w.sum())}, Dice {dice(g, w):.5f})")


@pytest.mark.parametrize("name", SLICES)
@pytest.mark.parametrize("variant", HULL_VARIANTS)
def test_hull_variant_within_tolerance_of_cv2_fillpoly(variant, name):
    """cv2.fillPoly paints the hull's boundary lines as well as the pixels whose centres lie inside: radseg's
    pixel-centre hull is a subset of it, differing on the edge only."""
    u8, got, _ = computed(name)
    want = _fillpoly_variants(name)[variant]
    g = got[variant]
    assert not (g & ~want).any()
    near = cv2.dilate(g.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    assert not (want & ~near).any()  # every extra pixel of cv2's fill touches radseg's mask: the edge only
    assert dice(g, want) >= (0.99 if g.sum() > 5000 else 0.98), dice(g, want)  # min measured: 0.9856 (MR_small)


@functools.lru_cache(maxsize=None)
def _fillpoly_variants(name):
    return ref_variants(computed(name)[0], hull_fill=hull_fillpoly)


def test_phantom_exercises_every_rule():
    """The phantom really tests the filters: specks dropped as short contours, the 249 px blob dropped by M2, a
    closing component dropped by IOP 2, and the variants not all alike."""
    u8, got, _ = computed("phantom")
    init = ref_fill(cv_otsu(cv2.GaussianBlur(u8, (5, 5), 0))[1])
    contours, _ = cv2.findContours(init.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    lengths = sorted(len(c) for c in contours)
    assert lengths[0] < 20 and sum(n >= 20 for n in lengths) == 5  # trunk, arm, A, B, C; the rest short
    y, x = np.mgrid[:u8.shape[0], :u8.shape[1]]
    a, b, c = ((y - 40) ** 2 + (x - 60) ** 2 <= 144, (y - 35) ** 2 + (x - 170) ** 2 <= 289,
               (y - 205) ** 2 + (x - 110) ** 2 <= 324)
    assert 200 < (init & a).sum() < 500 and 500 < (init & b).sum() < (init & c).sum()
    for v in ("M1(3)", "M2(3)"):
        assert not (got[v] & a).any() and not (got[v] & b).any() and (got[v] & c).sum() > 500, v
    assert not (got["M1(2)"] & c).any()  # M1: trunk, arm, C
    assert not (got["M2(1)"] & c).any() and (got["M2(2)"] & c).any()  # M2: closing r=10 joins the arm to the trunk
    closed = cv_close(init, 21)
    kept = ref_mostly_original(closed, init)
    n_closed = cv2.connectedComponents(closed.astype(np.uint8), connectivity=8)[0]
    n_kept = cv2.connectedComponents(kept.astype(np.uint8), connectivity=8)[0]
    assert n_kept < n_closed
    assert np.array_equal(cand._mostly_original(closed, init), kept)
    assert not np.array_equal(got["M3(1,1,0)"], got["M3(2,1,0)"])
    assert len(cand.candidates(load_slice("phantom"))) >= 10


# ---- candidates(), candidates_volume() ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["phantom", "CT_small", "MR_small", "breast_dicompyler", "head_mr_mne"])
def test_candidates_merges_identical_masks(name):
    img = load_slice(name)
    every = cand.all_candidates(img)
    assert list(every) == list(cand.VARIANTS)
    groups = cand.candidates(img)
    names = [split_names(n) for n, _ in groups]
    flat = [v for ns in names for v in ns]
    assert sorted(flat) == sorted(cand.VARIANTS) and len(flat) == len(set(flat))
    for ns in names:
        assert ns == sorted(ns, key=cand.VARIANTS.index)  # comma-joined in VARIANTS order
    order = [cand.VARIANTS.index(ns[0]) for ns in names]
    assert order == sorted(order)
    for ns, (_, mask) in zip(names, groups):
        assert mask.dtype == np.bool_ and mask.shape == img.shape
        for v in ns:
            assert np.array_equal(every[v], mask)
    for i in range(len(groups)):
        for j in range(i + 1, len(groups)):
            assert not np.array_equal(groups[i][1], groups[j][1]), (names[i], names[j])


def test_radseg_body_exports_the_functions():
    import radseg.body

    assert radseg.body.candidates is cand.candidates and radseg.body.all_candidates is cand.all_candidates
    assert radseg.body.VARIANTS == cand.VARIANTS and len(cand.VARIANTS) == 18 and len(set(cand.VARIANTS)) == 18


def _volume() -> np.ndarray:
    try:
        return np.stack([load_slice(f"visible_human_CT_{k}") for k in (1, 2, 3, 4)]).astype(np.float32)
    except pytest.skip.Exception:  # no data: a synthetic volume of three different slices
        p = phantom()
        return np.stack([p, p[::-1].copy(), np.roll(p, 17, axis=1)])


def test_candidates_volume_threads_equal_per_slice():
    vol = _volume()
    per_slice = [cand.candidates(s) for s in vol]
    for workers in (2, 1):
        got = cand.candidates_volume(vol, workers=workers)
        assert len(got) == len(vol)
        for g, w in zip(got, per_slice):
            assert [n for n, _ in g] == [n for n, _ in w]
            assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(g, w))
    every = cand.candidates_volume(vol[:2], workers=2, unique=False)
    for g, s in zip(every, vol[:2]):
        w = cand.all_candidates(s)
        assert list(g) == list(w) and all(np.array_equal(g[k], w[k]) for k in w)


@pytest.mark.parametrize("workers", [0, -1, 2.5, "2"])
def test_candidates_volume_bad_workers(workers):
    with pytest.raises(ValueError, match="workers"):
        cand.candidates_volume(np.zeros((2, 8, 8), np.float32), workers=workers)


@pytest.mark.parametrize("fn", [cand.candidates, cand.all_candidates, cand.scale_to_uint8])
def test_bad_slices_are_refused_clearly(fn):
    with pytest.raises(ValueError, match="2D"):
        fn(np.zeros((2, 16, 16), np.float32))
    bad = np.zeros((16, 16), np.float32)
    bad[3, 4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fn(bad)
    bad[3, 4] = np.inf
    with pytest.raises(ValueError, match="inf"):
        fn(bad)
    with pytest.raises(TypeError, match="bool"):
        fn(np.zeros((16, 16), bool))
    with pytest.raises(ValueError, match="empty"):
        fn(np.zeros((0, 16), np.float32))


def test_bad_volumes_are_refused_clearly():
    with pytest.raises(ValueError, match="3D"):
        cand.candidates_volume(np.zeros((16, 16), np.float32))
    bad = np.zeros((2, 16, 16), np.float32)
    bad[1, 2, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        cand.candidates_volume(bad, workers=1)
    with pytest.raises(TypeError, match="bool"):
        cand.candidates_volume(np.zeros((2, 16, 16), bool), workers=1)


@pytest.mark.parametrize("value", [0.0, -1000.0, 42.0])
@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (64, 48)])
def test_flat_slice_gives_one_empty_candidate(value, shape):
    img = np.full(shape, value, np.float32)
    assert not cand.scale_to_uint8(img).any()
    groups = cand.candidates(img)
    assert len(groups) == 1
    names, mask = groups[0]
    assert split_names(names) == list(cand.VARIANTS)
    assert mask.shape == shape and not mask.any()


def test_integer_and_tiny_slices_do_not_crash():
    rng = np.random.default_rng(3)
    for shape in [(1, 2), (2, 2), (5, 5), (9, 31)]:
        for img in (rng.integers(-1000, 1000, shape).astype(np.int16), rng.normal(size=shape)):
            for names, mask in cand.candidates(img):
                assert mask.shape == shape and mask.dtype == np.bool_


def test_names_split_on_commas_are_not_names():
    """Pins down a trap for callers: "M3(1,1,1),M3(2,1,1)".split(",") is not a list of variant names (the caller
    training/body/accept.py does exactly that for its decision lines; see tests/training/body)."""
    joined = [n for n, _ in cand.candidates(load_slice("phantom")) if "M3" in n]
    assert joined and not set(joined[0].split(",")) <= set(cand.VARIANTS)
    assert set(split_names(joined[0])) <= set(cand.VARIANTS)
