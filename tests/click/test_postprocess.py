"""keep_clicked_components: against scipy.ndimage.label, with mm reach, anisotropic spacing and edge cases."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import ndimage

from radseg.click.postprocess import apply_manifest, keep_clicked_components


def two_blobs():
    m = np.zeros((40, 60), bool)
    m[5:15, 5:15] = True  # blob A
    m[20:35, 30:55] = True  # blob B
    return m


def test_keeps_the_clicked_blob_only():
    m = two_blobs()
    out = keep_clicked_components(m, [(10, 10, True)])
    assert out[5:15, 5:15].all() and not out[20:35, 30:55].any()
    both = keep_clicked_components(m, [(10, 10, True), (25, 40, True)])
    assert (both == m).all()


def test_negative_clicks_and_no_positive_click_change_nothing():
    m = two_blobs()
    assert (keep_clicked_components(m, [(10, 10, False)]) == m).all()
    assert (keep_clicked_components(m, []) == m).all()


def test_reach_is_in_mm_and_respects_anisotropic_spacing():
    m = two_blobs()
    # 3 px left of blob A's first column (col 5): in reach at 1 mm/px with 3 mm, out of reach at 2 mm/px columns.
    click = [(10, 2, True)]
    assert keep_clicked_components(m, click, spacing=(1.0, 1.0), reach_mm=3.0)[10, 10]
    unchanged = keep_clicked_components(m, click, spacing=(1.0, 2.0), reach_mm=3.0)
    assert (unchanged == m).all()  # nothing in reach: the network's answer is kept whole
    assert keep_clicked_components(m, click, spacing=(1.0, 2.0), reach_mm=6.0)[25, 40] == False  # noqa: E712


def test_click_off_every_blob_returns_the_mask_unchanged():
    m = two_blobs()
    assert (keep_clicked_components(m, [(38, 2, True)]) == m).all()
    empty = np.zeros((10, 10), bool)
    assert not keep_clicked_components(empty, [(5, 5, True)]).any()


def test_diagonal_neighbours_are_one_component():
    m = np.zeros((10, 10), bool)
    m[2, 2] = m[3, 3] = m[8, 8] = True
    out = keep_clicked_components(m, [(2, 2, True)], reach_mm=0.0)
    assert out[3, 3] and not out[8, 8]


def test_bad_arguments():
    with pytest.raises(ValueError, match="2D"):
        keep_clicked_components(np.zeros((2, 3, 4), bool), [(0, 0, True)])
    with pytest.raises(ValueError, match="reach_mm"):
        keep_clicked_components(np.ones((4, 4), bool), [(0, 0, True)], reach_mm=-1)


def test_apply_manifest_switch():
    m = two_blobs()
    assert apply_manifest(m, [(10, 10, True)], (1, 1), {}) is m
    out = apply_manifest(m, [(10, 10, True)], (1, 1), {"keep_clicked_components": True})
    assert not out[25, 40]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), st.floats(0.0, 4.0))
def test_matches_scipy_label_reference(seed, reach):
    rng = np.random.default_rng(seed)
    m = ndimage.binary_opening(rng.random((30, 34)) > 0.55)
    clicks = [(float(rng.uniform(0, 29)), float(rng.uniform(0, 33)), bool(rng.random() < 0.7)) for _ in range(3)]
    labels, n = ndimage.label(m, structure=np.ones((3, 3)))
    rr, cc = np.mgrid[:30, :34]
    keep = set()
    for r, c, pos in clicks:
        if pos:
            near = (rr - r) ** 2 + (cc - c) ** 2 <= reach ** 2
            keep |= set(np.unique(labels[near & m]).tolist())
    want = np.isin(labels, sorted(keep)) & m if keep else m
    assert (keep_clicked_components(m, clicks, reach_mm=reach) == want).all()
