"""Surface metrics against a brute-force point-set reference (scipy cdist over surface voxel centres in mm)."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial.distance import cdist

from radseg.metrics import SurfaceMetrics, surface_metrics

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402


def surface(mask: np.ndarray) -> np.ndarray:
    """Foreground voxels with a background or outside face neighbour: mask ^ erosion (cross, border 0)."""
    return mask & ~ndimage.binary_erosion(mask, ndimage.generate_binary_structure(mask.ndim, 1), border_value=0)


def brute_force(pred, ref, spacing, percentile=95):
    """Every metric from all pairwise surface-point distances."""
    sp = np.asarray(spacing, float)
    a = np.argwhere(surface(pred)) * sp
    b = np.argwhere(surface(ref)) * sp
    dist = cdist(a, b)
    ab, ba = dist.min(1), dist.min(0)
    pooled = np.concatenate([ab, ba])
    return {
        "hausdorff": max(ab.max(), ba.max()),
        "hausdorff_percentile": max(np.percentile(ab, percentile), np.percentile(ba, percentile)),
        "pooled_percentile": np.percentile(pooled, percentile),
        "mean_surface_distance": pooled.mean(),
        "pred_to_ref_max": ab.max(), "pred_to_ref_percentile": np.percentile(ab, percentile),
        "pred_to_ref_mean": ab.mean(),
        "ref_to_pred_max": ba.max(), "ref_to_pred_percentile": np.percentile(ba, percentile),
        "ref_to_pred_mean": ba.mean(),
        "n_pred_surface": len(a), "n_ref_surface": len(b),
    }


def check(pred, ref, spacing, percentile=95):
    ours = surface_metrics(pred, ref, spacing=spacing, percentile=percentile)
    pooled = surface_metrics(pred, ref, spacing=spacing, percentile=percentile, definition="pooled")
    want = brute_force(pred, ref, spacing, percentile)
    for key, value in want.items():
        if key == "pooled_percentile":
            assert pooled.hausdorff_percentile == pytest.approx(value, rel=1e-5, abs=1e-5)
        else:
            assert getattr(ours, key) == pytest.approx(value, rel=1e-5, abs=1e-5), key
    return ours


def blobs(shape, sigma, seed, q=0.5):
    rng = np.random.default_rng(seed)
    x = ndimage.gaussian_filter(rng.random(shape), sigma)
    return x > np.quantile(x, q)


@pytest.mark.parametrize("shape,spacing", [
    ((60, 70), (1.0, 1.0)), ((50, 40), (0.6, 2.3)), ((12, 30, 25), (2.5, 0.8, 0.8)), ((20, 20, 20), (1.0, 1.0, 1.0)),
])
@pytest.mark.parametrize("percentile", [95, 50, 100, 0, 99.3])
def test_matches_brute_force_on_blobs(shape, spacing, percentile):
    check(blobs(shape, 2, 1), blobs(shape, 2, 2), spacing, percentile)


def test_matches_brute_force_on_shifted_shapes_with_far_outliers():
    yy, xx = np.mgrid[:90, :120]
    ref = (yy - 40) ** 2 + (xx - 50) ** 2 < 25**2
    pred = np.roll(ref, (3, -2), (0, 1))
    pred[85:88, 110:118] = True  # a far false positive: the Hausdorff distance comes from it
    m = check(pred, ref, (0.7, 1.1))
    assert m.hausdorff == m.pred_to_ref_max > m.ref_to_pred_max


@settings(max_examples=60, deadline=None)
@given(data=st.data(), shape=hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=10))
def test_hypothesis(data, shape):
    pred = data.draw(hnp.arrays(bool, shape))
    ref = data.draw(hnp.arrays(bool, shape))
    spacing = data.draw(st.lists(st.floats(0.2, 4.0), min_size=len(shape), max_size=len(shape)))
    pct = data.draw(st.sampled_from([95, 50, 0, 100, 12.5]))
    if pred.any() and ref.any():
        check(pred, ref, spacing, pct)
    else:
        m = surface_metrics(pred, ref, spacing=spacing, percentile=pct)
        expected = 0.0 if not (pred.any() or ref.any()) else math.inf
        assert m.hausdorff == m.hausdorff_percentile == m.mean_surface_distance == expected


def test_empty_conventions():
    z = np.zeros((6, 7), bool)
    one = z.copy()
    one[2, 3] = True
    both = surface_metrics(z, z)
    assert both.hausdorff == both.hausdorff_percentile == both.mean_surface_distance == 0.0
    assert both.n_pred_surface == both.n_ref_surface == 0
    for pred, ref in ((one, z), (z, one)):
        m = surface_metrics(pred, ref, spacing=(2.0, 3.0))
        values = [v for v in dataclasses.astuple(m) if isinstance(v, float)]
        assert all(math.isinf(v) or v == m.percentile for v in values)
        assert math.isinf(m.hausdorff) and math.isinf(m.mean_surface_distance)
    empty_axis = surface_metrics(np.zeros((0, 4), bool), np.zeros((0, 4), bool))
    assert empty_axis.hausdorff == 0.0


def test_edge_cases_against_brute_force():
    # Single pixels, one-pixel lines, full arrays (the array border is the surface), touching the border.
    a = np.zeros((9, 11), bool)
    a[4, 5] = True
    b = np.zeros((9, 11), bool)
    b[0, :] = True
    check(a, b, (1.5, 0.5))
    full = np.ones((9, 11), bool)
    check(full, b, (1.0, 1.0))
    assert surface_metrics(full, full).hausdorff == 0.0
    line3d = np.zeros((4, 5, 6), bool)
    line3d[:, 2, 3] = True
    cube = np.zeros((4, 5, 6), bool)
    cube[1:3, 1:4, 1:5] = True
    check(line3d, cube, (3.0, 1.0, 0.7))
    check(np.ones((4, 5, 6), bool), cube, (3.0, 1.0, 0.7))
    # Identical masks: all zero.
    m = surface_metrics(cube, cube, spacing=(3.0, 1.0, 0.7))
    assert m.hausdorff == m.mean_surface_distance == 0.0
    # A thin 2D shape inside a 1-slice 3D array: in 3D every voxel of a single slice is surface.
    flat = blobs((1, 30, 30), 2, 3)
    assert surface_metrics(flat, flat).n_pred_surface == int(flat.sum())


def test_two_dimensional_and_single_slice_volume_differ_only_by_the_z_faces():
    """2D uses 4-connectivity; a [1, H, W] volume sees the two z faces as background, so its surface is the whole
    mask. The 2D result must match the brute force on 2D surfaces."""
    a, b = blobs((40, 40), 2, 5), blobs((40, 40), 2, 6)
    m2 = check(a, b, (1.0, 1.0))
    m3 = surface_metrics(a[None], b[None], spacing=(1.0, 1.0, 1.0))
    assert m3.n_pred_surface == int(a.sum()) > m2.n_pred_surface


def test_large_volume_parallel_path_matches_small_crop():
    """The metrics only depend on the bounding box of pred | ref: padding the arrays must not change anything."""
    a, b = blobs((20, 40, 40), 2, 7), blobs((20, 40, 40), 2, 8)
    small = surface_metrics(a, b, spacing=(2.0, 0.9, 0.9))
    big_a = np.zeros((60, 200, 220), bool)
    big_b = big_a.copy()
    big_a[30:50, 100:140, 150:190] = a
    big_b[30:50, 100:140, 150:190] = b
    big = surface_metrics(big_a, big_b, spacing=(2.0, 0.9, 0.9))
    assert small == big


def test_result_is_a_frozen_dataclass_and_layouts_agree():
    a, b = blobs((10, 20, 30), 2, 9), blobs((10, 20, 30), 2, 10)
    m = surface_metrics(a, b, spacing=(1.0, 2.0, 0.5))
    assert isinstance(m, SurfaceMetrics) and m.definition == "monai" and m.percentile == 95.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.hausdorff = 0.0
    fa = np.asfortranarray(a.astype(np.int32) * 3)
    fb = b.astype(np.uint8)[:, ::-1][:, ::-1]
    assert surface_metrics(fa, fb, spacing=(1.0, 2.0, 0.5)) == m


def test_bad_input_names_the_argument():
    a = np.zeros((4, 5), bool)
    with pytest.raises(ValueError, match="pred and ref"):
        surface_metrics(a, np.zeros((5, 4), bool))
    with pytest.raises(ValueError, match="pred"):
        surface_metrics(np.zeros(5, bool), np.zeros(5, bool))
    with pytest.raises(ValueError, match="ref"):
        surface_metrics(a, a.astype(np.float32))
    with pytest.raises(ValueError, match="spacing"):
        surface_metrics(a, a, spacing=(1.0, -1.0))
    with pytest.raises(ValueError, match="percentile"):
        surface_metrics(a, a, percentile=101)
    with pytest.raises(ValueError, match="percentile"):
        surface_metrics(a, a, percentile="high")
    with pytest.raises(ValueError, match="definition"):
        surface_metrics(a, a, definition="deepmind")


@pytest.mark.parametrize("shape,spacing", [((30, 80, 90), (2.5, 0.7, 0.9)), ((200, 220), (0.8, 1.3))])
def test_far_apart_masks_take_the_full_transform_path(shape, spacing):
    """Near surfaces are found by a pruned local search; far ones exceed its budget and use the full EDT of the
    slice. Masks in opposite corners (every query far) and a near pair in the same arrays (mixed slices)."""
    rng = np.random.default_rng(12)
    a, b = np.zeros(shape, bool), np.zeros(shape, bool)
    near = tuple(slice(1, s // 4) for s in shape)
    far = tuple(slice(3 * s // 4, s - 1) for s in shape)
    a[near] = rng.random(a[near].shape) < 0.7
    b[far] = True
    check(a, b, spacing)
    b[near] = ndimage.binary_dilation(a[near])  # now half of b is close to a, half far
    check(a, b, spacing, percentile=80)
