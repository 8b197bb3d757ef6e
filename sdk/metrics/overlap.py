"""Overlap measures of a predicted mask against a reference mask, from one native pass over both.

Counts (elements of the arrays): TP = pred & ref, FP = pred & ~ref, FN = ~pred & ref, TN = ~pred & ~ref.

=========================== ======================== ============== ===============================
measure                     formula                  both empty     only one empty
=========================== ======================== ============== ===============================
dice                        2 TP / (2 TP + FP + FN)  1.0            0.0
jaccard (IoU)               TP / (TP + FP + FN)      1.0            0.0
precision (PPV)             TP / (TP + FP)           1.0            0.0 (pred empty: 0.0, see below)
recall (sensitivity, TPR)   TP / (TP + FN)           1.0            0.0 (ref empty: 0.0, see below)
relative_volume_difference  (|pred| - |ref|) / |ref| 0.0            +inf if ref empty, -1.0 if pred empty
=========================== ======================== ============== ===============================

precision with an empty prediction and recall with an empty reference are 0/0; we return 1.0 when both masks are
empty (nothing to find, nothing found) and 0.0 when only one is (MONAI returns nan there). The signed relative volume
difference is > 0 for over-segmentation; its absolute value is the "RAVD" of the SLIVER07 challenge.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .. import _native
from .._validate import as_mask, same_shape


@dataclasses.dataclass(frozen=True)
class OverlapMetrics:
    """All overlap measures of one (pred, ref) pair; counts are numbers of array elements."""

    tp: int
    fp: int
    fn: int
    tn: int
    dice: float
    jaccard: float
    precision: float
    recall: float
    relative_volume_difference: float


_NDIMS = (1, 2, 3, 4)


def _as_bytes(array, name: str) -> np.ndarray:
    """C-contiguous uint8 view of a mask. bool and uint8 masks pass without the 0/1 normalisation of `as_mask`
    (the native count treats every nonzero byte as foreground), saving a pass over large volumes."""
    a = np.asarray(array)
    if a.dtype in (np.bool_, np.uint8) and a.ndim in _NDIMS:
        return np.ascontiguousarray(a).view(np.uint8)
    return as_mask(a, name, ndims=_NDIMS)


def _counts(pred, ref) -> tuple[int, int, int, int]:
    p = _as_bytes(pred, "pred")
    r = _as_bytes(ref, "ref")
    same_shape(p, r, "pred", "ref")
    return _native.overlap_counts(p.reshape(-1), r.reshape(-1))


def _ratio(num: int, den: int, both_empty: bool) -> float:
    if den == 0:
        return 1.0 if both_empty else 0.0
    return num / den


def _from_counts(tp: int, fp: int, fn: int, tn: int) -> OverlapMetrics:
    n_pred, n_ref = tp + fp, tp + fn
    both_empty = n_pred == 0 and n_ref == 0
    if n_ref == 0:
        rvd = 0.0 if n_pred == 0 else float("inf")
    else:
        rvd = (n_pred - n_ref) / n_ref
    return OverlapMetrics(
        tp=tp, fp=fp, fn=fn, tn=tn,
        dice=_ratio(2 * tp, 2 * tp + fp + fn, both_empty),
        jaccard=_ratio(tp, tp + fp + fn, both_empty),
        precision=_ratio(tp, n_pred, both_empty),
        recall=_ratio(tp, n_ref, both_empty),
        relative_volume_difference=rvd,
    )


def overlap_metrics(pred, ref) -> OverlapMetrics:
    """Dice, Jaccard, precision, recall and relative volume difference of `pred` against `ref`, one native pass.

    Args:
        pred, ref: bool or integer masks of the same shape (1D to 4D, any layout); nonzero = foreground.
    Returns:
        OverlapMetrics (frozen dataclass) with the TP/FP/FN/TN counts and every measure; empty-mask conventions in
        the module docstring (both empty: dice 1.0; exactly one empty: dice 0.0). Never nan.
    """
    return _from_counts(*_counts(pred, ref))


def dice(pred, ref) -> float:
    """Dice coefficient 2|P & R| / (|P| + |R|); 1.0 when both are empty, 0.0 when exactly one is."""
    return overlap_metrics(pred, ref).dice


def jaccard(pred, ref) -> float:
    """Jaccard index (IoU) |P & R| / |P | R|; 1.0 when both are empty, 0.0 when exactly one is."""
    return overlap_metrics(pred, ref).jaccard


def precision(pred, ref) -> float:
    """Precision |P & R| / |P|; 1.0 when both are empty, 0.0 when only pred is (0/0 convention)."""
    return overlap_metrics(pred, ref).precision


def recall(pred, ref) -> float:
    """Recall (sensitivity) |P & R| / |R|; 1.0 when both are empty, 0.0 when only ref is (0/0 convention)."""
    return overlap_metrics(pred, ref).recall


def relative_volume_difference(pred, ref) -> float:
    """Signed (|P| - |R|) / |R|: > 0 over-, < 0 under-segmentation; 0.0 if both are empty, +inf if only ref is."""
    return overlap_metrics(pred, ref).relative_volume_difference
