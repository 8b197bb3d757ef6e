"""Overlap measures against plain numpy counting, with the documented empty-mask conventions."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import radseg
from radseg.metrics import (
    OverlapMetrics,
    dice,
    jaccard,
    overlap_metrics,
    precision,
    recall,
    relative_volume_difference,
)
from tests.conftest import shared_data

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402


def numpy_reference(pred, ref):
    p, r = np.asarray(pred) != 0, np.asarray(ref) != 0
    tp, fp, fn = int((p & r).sum()), int((p & ~r).sum()), int((~p & r).sum())
    return tp, fp, fn, p.size - tp - fp - fn


def check(pred, ref):
    m = overlap_metrics(pred, ref)
    tp, fp, fn, tn = numpy_reference(pred, ref)
    assert (m.tp, m.fp, m.fn, m.tn) == (tp, fp, fn, tn)
    if tp + fp > 0 and tp + fn > 0:
        assert m.dice == pytest.approx(2 * tp / (2 * tp + fp + fn))
        assert m.jaccard == pytest.approx(tp / (tp + fp + fn))
        assert m.precision == pytest.approx(tp / (tp + fp))
        assert m.recall == pytest.approx(tp / (tp + fn))
        assert m.relative_volume_difference == pytest.approx((tp + fp - (tp + fn)) / (tp + fn))
    for v in dataclasses.astuple(m):
        assert not np.isnan(v)
    return m


@pytest.mark.parametrize("shape", [(17,), (64, 80), (9, 33, 65), (3, 5, 7, 11), (600, 700)])
def test_counts_and_measures_match_numpy(shape):
    rng = np.random.default_rng(len(shape))
    for density in (0.1, 0.5, 0.9):
        check(rng.random(shape) < density, rng.random(shape) < density)


def test_blocks_larger_than_a_chunk_and_values_above_one():
    """Odd sizes across the native block/chunk boundaries, and integer labels (nonzero = foreground)."""
    rng = np.random.default_rng(4)
    n = (1 << 18) * 3 + 12345
    pred = rng.integers(0, 4, n).astype(np.int16) * 100
    ref = rng.integers(0, 3, n).astype(np.uint8) * 255
    check(pred, ref)


@settings(max_examples=80, deadline=None)
@given(data=st.data(), shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=9))
def test_hypothesis(data, shape):
    pred = data.draw(hnp.arrays(bool, shape))
    ref = data.draw(hnp.arrays(bool, shape))
    m = check(pred, ref)
    assert 0.0 <= m.dice <= 1.0 and 0.0 <= m.jaccard <= m.dice + 1e-12
    assert m.dice == pytest.approx(2 * m.jaccard / (1 + m.jaccard))


def test_empty_conventions():
    z, o = np.zeros((4, 5), bool), np.ones((4, 5), bool)
    both = overlap_metrics(z, z)
    assert (both.dice, both.jaccard, both.precision, both.recall, both.relative_volume_difference) == (1, 1, 1, 1, 0)
    only_pred = overlap_metrics(o, z)
    assert (only_pred.dice, only_pred.jaccard, only_pred.precision, only_pred.recall) == (0, 0, 0, 0)
    assert only_pred.relative_volume_difference == float("inf")
    only_ref = overlap_metrics(z, o)
    assert (only_ref.dice, only_ref.jaccard, only_ref.precision, only_ref.recall) == (0, 0, 0, 0)
    assert only_ref.relative_volume_difference == -1.0
    assert dice(np.zeros((0, 3), bool), np.zeros((0, 3), bool)) == 1.0


def test_single_functions_agree_with_the_dataclass():
    rng = np.random.default_rng(9)
    p, r = rng.random((20, 30)) < 0.4, rng.random((20, 30)) < 0.6
    m = overlap_metrics(p, r)
    assert isinstance(m, OverlapMetrics)
    assert (dice(p, r), jaccard(p, r), precision(p, r), recall(p, r), relative_volume_difference(p, r)) == (
        m.dice, m.jaccard, m.precision, m.recall, m.relative_volume_difference)
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.dice = 0.0


def test_known_values():
    p = np.array([1, 1, 1, 0, 0, 0], bool)
    r = np.array([0, 1, 1, 1, 1, 0], bool)
    m = overlap_metrics(p, r)
    assert (m.tp, m.fp, m.fn, m.tn) == (2, 1, 2, 1)
    assert m.dice == pytest.approx(4 / 7) and m.jaccard == pytest.approx(2 / 5)
    assert m.precision == pytest.approx(2 / 3) and m.recall == pytest.approx(1 / 2)
    assert m.relative_volume_difference == pytest.approx(-1 / 4)


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="pred and ref"):
        dice(np.zeros((3, 4), bool), np.zeros((4, 3), bool))
    with pytest.raises(ValueError, match="pred"):
        dice(np.zeros((3, 4), np.float32), np.zeros((3, 4), bool))
    with pytest.raises(ValueError, match="ref"):
        dice(np.zeros((3, 4), bool), np.zeros((3, 4), np.float64))
    with pytest.raises(ValueError, match="pred"):
        dice(np.bool_(True), np.bool_(True))


def test_real_organ_labels():
    nib = pytest.importorskip("nibabel")
    lab = np.asarray(nib.load(str(shared_data("btcv_sabs_ct", "labels", "sabs_01.nii.gz"))).dataobj)
    liver = lab == 6
    shifted = np.roll(liver, 3, axis=0)
    check(shifted, liver)
    check(lab == 2, lab == 3)  # disjoint kidneys: dice 0, no nan
    assert dice(lab == 2, lab == 3) == 0.0
    assert radseg.metrics.dice(liver, liver) == 1.0
