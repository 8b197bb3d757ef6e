"""Filled convex hull of a 2D mask over the native core.

Convention: pixel centres. The hull is the convex polygon spanned by the centres of the foreground pixels, the
polygon ``cv2.convexHull`` returns for the foreground's (col, row) coordinates; the result holds every pixel whose
centre lies inside or on that polygon, computed exactly on integers. ``cv2.fillPoly`` of the same polygon agrees
except for a few pixels just outside slanted edges, which its line rasteriser adds.
skimage.morphology.convex_hull_image uses pixel corners instead and is therefore up to one pixel wider.
"""
from __future__ import annotations

import numpy as np

from .. import _native
from .._validate import as_mask

__all__ = ["convex_hull"]


def convex_hull(mask) -> np.ndarray:
    """Filled convex hull of the foreground of a 2D mask (through pixel centres).

    Args:
        mask: bool or integer [rows, cols]; nonzero = foreground.
    Returns:
        bool [rows, cols], containing `mask`; all False for an empty mask. Collinear foreground gives the pixels
        on the segment between its end points.
    """
    m = as_mask(mask, "mask", ndims=(2,))
    return _native.convex_hull(m).view(np.bool_)
