"""Segmentation metrics: overlap measures and surface distances (Hausdorff, HD95, mean surface distance).

All functions take bool or integer masks (nonzero = foreground) of any memory layout; surface metrics take 2D
[rows, cols] or 3D [slices, rows, cols] masks and spacing in mm in the same axis order. Work runs in C++ with the
GIL released. Definitions and empty-mask conventions: sdk/metrics/README.md and the module docstrings.
"""
from .overlap import (
    OverlapMetrics,
    dice,
    jaccard,
    overlap_metrics,
    precision,
    recall,
    relative_volume_difference,
)
from .surface import SurfaceMetrics, surface_metrics

__all__: list[str] = [
    "dice", "jaccard", "precision", "recall", "relative_volume_difference", "overlap_metrics", "OverlapMetrics",
    "surface_metrics", "SurfaceMetrics",
]
