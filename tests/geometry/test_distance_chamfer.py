"""Chamfer distance transforms: exact on their own metric, and within the documented error of the exact EDT."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from radseg.geometry import chamfer_distance_transform, distance_transform
from radseg.geometry.distance import CHAMFER_RELATIVE_ERROR

CASES = [("3-4", 2), ("5-7-11", 2), ("quasi", 2), ("3-4", 3), ("quasi", 3)]


def chamfer_norm(kind: str, offset: np.ndarray) -> np.ndarray:
    """Closed-form chamfer length of integer offsets (rows of |d|), from the mask weights (independent of the code):
    the cheapest combination of the mask's steps that adds up to the offset."""
    a = np.sort(np.abs(offset), axis=1)[:, ::-1].astype(float)  # descending components
    if offset.shape[1] == 2:
        hi, lo = a[:, 0], a[:, 1]
        if kind == "3-4":
            return ((hi - lo) * 3 + lo * 4) / 3
        if kind == "quasi":
            return (hi - lo) + lo * np.sqrt(2)
        # 5-7-11: knight moves (2,1)=11 cover two diagonal-ish steps; the optimum uses at most two step kinds
        return np.where(hi >= 2 * lo, (lo * 11 + (hi - 2 * lo) * 5) / 5, ((hi - lo) * 11 + (2 * lo - hi) * 7) / 5)
    x, y, z = a[:, 0], a[:, 1], a[:, 2]
    if kind == "3-4":
        return ((x - y) * 3 + (y - z) * 4 + z * 5) / 3
    return (x - y) + (y - z) * np.sqrt(2) + z * np.sqrt(3)


@pytest.mark.parametrize("kind,nd", CASES)
def test_single_zero_gives_the_chamfer_norm(kind, nd):
    n = 41 if nd == 2 else 15
    m = np.ones((n,) * nd, bool)
    centre = (n // 2,) * nd
    m[centre] = False
    got = chamfer_distance_transform(m, kind=kind)
    offsets = np.argwhere(np.ones(m.shape, bool)) - np.array(centre)
    np.testing.assert_allclose(got.reshape(-1), chamfer_norm(kind, offsets), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind,nd", CASES)
def test_error_against_exact_stays_within_the_documented_band(kind, nd):
    rng = np.random.default_rng(2)
    shape = (300, 300) if nd == 2 else (60, 60, 60)
    smooth = ndimage.gaussian_filter(rng.random(shape), 5 if nd == 2 else 3)
    m = smooth > np.quantile(smooth, 0.3)
    exact = distance_transform(m).astype(np.float64)
    ch = chamfer_distance_transform(m, kind=kind).astype(np.float64)
    lo, hi = CHAMFER_RELATIVE_ERROR[(kind, nd)]
    np.testing.assert_array_equal(ch == 0, exact == 0)
    sel = exact > 0
    rel = ch[sel] / exact[sel] - 1
    assert rel.min() >= lo - 1e-4 and rel.max() <= hi + 1e-4, (rel.min(), rel.max())


@pytest.mark.parametrize("kind,nd", CASES)
def test_documented_band_is_tight(kind, nd):
    """The documented extremes are reached (so the doc is not just a loose bound): one zero in a large grid."""
    n = 401 if nd == 2 else 81
    m = np.ones((n,) * nd, bool)
    m[(0,) * nd] = False
    exact = distance_transform(m).astype(np.float64)
    rel = chamfer_distance_transform(m, kind=kind)[exact > 0] / exact[exact > 0] - 1
    lo, hi = CHAMFER_RELATIVE_ERROR[(kind, nd)]
    assert rel.min() <= lo + 0.005 and rel.max() >= hi - 0.005, (rel.min(), rel.max())


def test_quasi_supports_anisotropic_spacing():
    m = np.ones((9, 9, 9), bool)
    m[4, 4, 4] = False
    sp = (3.0, 0.5, 0.8)
    d = chamfer_distance_transform(m, spacing=sp, kind="quasi")
    assert d[4, 4, 8] == pytest.approx(4 * 0.8)
    assert d[0, 4, 4] == pytest.approx(4 * 3.0)
    assert d[5, 5, 5] == pytest.approx(np.sqrt(3.0**2 + 0.5**2 + 0.8**2), rel=1e-6)
    exact = distance_transform(m, spacing=sp)
    assert (d >= exact - 1e-5).all()  # quasi-Euclidean never underestimates


def test_edge_cases_and_scaling():
    assert np.isinf(chamfer_distance_transform(np.ones((4, 5), bool))).all()
    assert (chamfer_distance_transform(np.zeros((3, 4, 5), bool), kind="quasi") == 0).all()
    m = np.ones((1, 7), bool)
    m[0, 3] = False
    np.testing.assert_allclose(chamfer_distance_transform(m, spacing=2.0), [[6, 4, 2, 0, 2, 4, 6]])
    assert chamfer_distance_transform(np.zeros((0, 3), bool)).shape == (0, 3)


def test_bad_input_names_the_argument():
    m = np.ones((5, 5, 5), bool)
    with pytest.raises(ValueError, match="kind"):
        chamfer_distance_transform(m, kind="euclid")
    with pytest.raises(ValueError, match="5-7-11"):
        chamfer_distance_transform(m, kind="5-7-11")
    with pytest.raises(ValueError, match="spacing"):
        chamfer_distance_transform(m, spacing=(2.0, 1.0, 1.0), kind="3-4")
    with pytest.raises(ValueError, match="mask"):
        chamfer_distance_transform(np.ones(5, bool))
    with pytest.raises(ValueError, match="mask"):
        chamfer_distance_transform(np.ones((3, 3), np.float64))
