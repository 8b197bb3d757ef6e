"""Argument checks shared by the geometry and metrics wrappers.

Every public function that hands an array to the native core goes through these, so that bad input fails here
with a ValueError naming the argument, never deep inside C++.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def as_mask(array, name: str, ndims: Sequence[int] = (2, 3)) -> np.ndarray:
    """Return `array` as a C-contiguous uint8 0/1 array (a copy only when needed).

    Accepts bool or any integer dtype (nonzero = foreground) in any memory layout. Floats are refused, because a
    probability map passed by mistake would silently become "everything nonzero".
    """
    a = np.asarray(array)
    if a.dtype == object or not (a.dtype == np.bool_ or np.issubdtype(a.dtype, np.integer)):
        raise ValueError(
            f"{name} must be a bool or integer mask, got dtype {a.dtype}; threshold probabilities first "
            f"(e.g. {name} > 0.5)"
        )
    if a.ndim not in ndims:
        want = " or ".join(f"{d}D" for d in ndims)
        raise ValueError(f"{name} must be {want}, got an array of shape {a.shape}")
    if a.dtype == np.bool_ or a.dtype == np.uint8:
        a = a.view(np.uint8) if a.dtype == np.bool_ else a
        if a.dtype == np.uint8 and a.max(initial=0) > 1:
            a = a != 0
    else:
        a = a != 0
    return np.ascontiguousarray(a, dtype=np.uint8)


def as_spacing(spacing, ndim: int, name: str = "spacing") -> list[float]:
    """Return spacing as a list of `ndim` positive finite floats (None means 1.0 on every axis)."""
    if spacing is None:
        return [1.0] * ndim
    if np.isscalar(spacing):
        spacing = [spacing] * ndim
    try:
        values = [float(s) for s in spacing]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number or a sequence of {ndim} numbers (mm per voxel), got {spacing!r}")
    if len(values) != ndim:
        raise ValueError(f"{name} must have {ndim} entries (one per array axis), got {len(values)}: {spacing!r}")
    if not all(math.isfinite(v) and v > 0 for v in values):
        raise ValueError(f"{name} entries must be positive and finite, got {spacing!r}")
    return values


def same_shape(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{name_a} and {name_b} must have the same shape, got {a.shape} and {b.shape}")
