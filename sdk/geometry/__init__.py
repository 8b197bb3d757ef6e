"""Native geometry: exact and chamfer distance transforms, binary morphology, components, hulls.

All functions take bool or integer masks (nonzero = foreground) of any memory layout, 2D [rows, cols] or 3D
[slices, rows, cols], and spacing in mm in the same axis order. Work runs in C++ with the GIL released.
"""
from .distance import chamfer_distance_transform, distance_transform
from .components import (
    OuterContours,
    keep_largest,
    label_components,
    outer_contours,
    remove_small_components,
)
from .hull import convex_hull
from .morphology import (
    binary_closing,
    binary_dilation,
    binary_erosion,
    binary_opening,
    fill_holes,
    flood_fill,
)

__all__ = ["distance_transform", "chamfer_distance_transform"]
__all__ += [  # morphology, components, hull
    "binary_dilation", "binary_erosion", "binary_opening", "binary_closing", "fill_holes", "flood_fill",
    "label_components", "keep_largest", "remove_small_components", "OuterContours", "outer_contours",
    "convex_hull",
]
