"""Native geometry: exact and chamfer distance transforms, binary morphology, components, hulls.

All functions take bool or integer masks (nonzero = foreground) of any memory layout, 2D [rows, cols] or 3D
[slices, rows, cols], and spacing in mm in the same axis order. Work runs in C++ with the GIL released.
"""
from .distance import distance_transform

__all__ = ["distance_transform"]
