"""Simulated users: the paper's random robot and the deterministic evaluation user."""
import numpy as np
import pytest
from scipy import ndimage

from radseg.click.robot import _label4_numpy, deterministic_click, first_click, next_click


def _disc(shape, centre, radius):
    r, c = np.ogrid[:shape[0], :shape[1]]
    return (r - centre[0]) ** 2 + (c - centre[1]) ** 2 <= radius ** 2


def test_first_click_follows_exp_d_minus_1():
    # A 1-pixel-wide bar has d == 1 everywhere: uniform. A 3-wide bar: centre row d=2, edges d=1,
    # so P(centre) / P(edge) = (e^2 - 1) / (e - 1) = e + 1.
    gt = np.zeros((9, 40), bool)
    gt[3:6, 5:35] = True
    rng = np.random.default_rng(1)
    rows = np.array([first_click(gt, rng)[0] for _ in range(4000)])
    assert set(rows) <= {3, 4, 5}
    ratio = (rows == 4).mean() / ((rows != 4).mean() / 2)
    assert abs(ratio - (np.e + 1)) < 0.45, ratio


def test_first_click_no_overflow_on_a_huge_structure():
    gt = np.ones((800, 800), bool)  # d up to 400 px: exp(400) overflows float64 without the shift
    r, c, pos = first_click(gt, np.random.default_rng(0))
    assert pos and abs(r - 399.5) < 6 and abs(c - 399.5) < 6


def test_temperature_spreads_clicks():
    gt = _disc((101, 101), (50, 50), 40)
    rng = np.random.default_rng(0)
    sharp = np.array([first_click(gt, rng)[:2] for _ in range(300)])
    soft = np.array([first_click(gt, rng, temperature=10.0)[:2] for _ in range(300)])
    assert np.linalg.norm(sharp - 50, axis=1).mean() < np.linalg.norm(soft - 50, axis=1).mean()
    with pytest.raises(ValueError, match="temperature"):
        first_click(gt, rng, temperature=0)


def test_next_click_picks_the_larger_error_and_lands_in_it():
    gt = np.zeros((64, 64), bool)
    gt[10:40, 10:40] = True
    pred = np.zeros_like(gt)
    pred[10:40, 10:25] = True  # false negatives only
    r, c, pos = next_click(gt, pred, np.random.default_rng(0))
    assert pos and gt[r, c] and not pred[r, c]
    pred2 = gt.copy()
    pred2[45:60, 45:60] = True  # false positives only
    r, c, pos = next_click(gt, pred2, np.random.default_rng(0))
    assert not pos and pred2[r, c] and not gt[r, c]
    assert next_click(gt, gt, np.random.default_rng(0)) is None
    with pytest.raises(ValueError, match="same shape"):
        next_click(gt, pred[:10], np.random.default_rng(0))


def test_deterministic_click_centre_of_largest_error_region():
    gt = np.zeros((80, 80), bool)
    gt[5:15, 5:15] = True  # small missed square
    big = _disc((80, 80), (50, 50), 12)
    pred = big.copy()  # false positive disc (largest region)
    r, c, pos = deterministic_click(gt, pred)
    assert not pos and (r, c) == (50, 50)
    pred = pred | gt
    gt2 = gt | big
    gt2[60:75, 5:30] = True  # now the largest error is this missed bar
    r, c, pos = deterministic_click(gt2, pred)
    assert pos and 60 <= r < 75 and 5 <= c < 30
    assert deterministic_click(gt, gt) is None


def test_deterministic_click_is_inside_a_concave_region():
    # A C shape: the centroid lies outside; the farthest-from-border point must lie inside.
    gt = _disc((100, 100), (50, 50), 40) & ~_disc((100, 100), (50, 65), 30)
    r, c, pos = deterministic_click(gt, np.zeros_like(gt))
    assert pos and gt[r, c]
    d = ndimage.distance_transform_edt(np.pad(gt, 1))[1:-1, 1:-1]
    assert d[r, c] == d.max()


def test_numpy_labelling_matches_scipy():
    rng = np.random.default_rng(3)
    m = rng.random((40, 50)) > 0.55
    ours, n = _label4_numpy(m)
    ref, n_ref = ndimage.label(m)
    assert n == n_ref
    # same partition: a bijection between label ids
    pairs = set(zip(ours[m].tolist(), ref[m].tolist()))
    assert len(pairs) == n
