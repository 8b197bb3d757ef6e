"""Euclidean distance transforms over the native core.

Shapes: 2D [rows, cols] or 3D [slices, rows, cols]; spacing in mm, same axis order; output float32, same shape.
"""
from __future__ import annotations

import numpy as np

from .. import _native
from .._validate import as_mask, as_spacing


def distance_transform(mask, spacing=None, squared: bool = False) -> np.ndarray:
    """Exact Euclidean distance from every nonzero element to the nearest zero element.

    Same semantics as ``scipy.ndimage.distance_transform_edt(mask, sampling=spacing)``: zeros get 0; distances are
    in the units of `spacing` (voxels when None). A mask with no zero element has no finite distance: every element
    gets ``inf`` (scipy returns an undefined large value there).

    Args:
        mask: bool or integer array, 2D [rows, cols] or 3D [slices, rows, cols]; nonzero = foreground.
        spacing: None, a number, or one positive number per axis (mm).
        squared: return squared distances (cheaper; no square root).
    Returns:
        float32 array of mask's shape.
    """
    m = as_mask(mask, "mask", ndims=(1, 2, 3))
    sp = as_spacing(spacing, m.ndim)
    out = _native.squared_edt(m, sp)
    if not squared:
        np.sqrt(out, out=out)
    return out
