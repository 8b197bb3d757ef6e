"""Click-model post-processing on the image grid: keep the parts of the mask the user clicked on.

The network answers every click from the crop alone (it does not see the previous mask), so a wide crop, such as
the first click's 160 mm box, can light up a second organ of the same look (the other kidney, a loop of bowel)
away from every positive click. An interactive tool keeps what the user pointed at: connected components that
touch a positive click (within `reach_mm`), the behaviour of the region-growing and graph-cut tools radiologists
know. A structure in several pieces on one slice keeps each piece the user clicked; a missed piece gets the next
positive click, and that click keeps it.

Switched by the manifest: ``postprocess.keep_clicked_components`` (bool, default false) and
``postprocess.reach_mm`` (how far from a click a component may start, default 3 mm).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .._validate import as_spacing

DEFAULT_REACH_MM = 3.0


def keep_clicked_components(mask, clicks: Sequence[tuple], spacing=(1.0, 1.0),
                            reach_mm: float = DEFAULT_REACH_MM) -> np.ndarray:
    """The union of the 8-connected components of `mask` that lie within `reach_mm` of a positive click.

    Args:
        mask: bool [rows, cols], a prediction on the image grid.
        clicks: (row, col, positive) in image pixels (floats allowed); negative clicks are ignored.
        spacing: (row_mm, col_mm) of the image.
        reach_mm: a component is kept when one of its pixels lies within this distance (mm) of a positive click.
    Returns:
        bool [rows, cols]. When no component is within reach of any positive click (or there is no positive click)
        the mask is returned unchanged: the network's answer is then all there is, and an empty mask would lose it.
    """
    from ..geometry import label_components

    m = np.asarray(mask, bool)
    if m.ndim != 2:
        raise ValueError(f"mask must be 2D [rows, cols], got shape {m.shape}")
    sp = as_spacing(spacing, 2)
    if not (np.isfinite(reach_mm) and reach_mm >= 0):
        raise ValueError(f"reach_mm must be a non-negative number, got {reach_mm!r}")
    positives = [(float(r), float(c)) for r, c, pos in clicks if pos]
    if not positives or not m.any():
        return m.copy()
    labels, sizes = label_components(m, connectivity=2)
    if len(sizes) <= 2:  # background and one component: nothing to choose
        return m.copy()
    keep = np.zeros(len(sizes), bool)
    for point in positives:
        keep |= _near_labels(labels, len(sizes), point, sp, reach_mm)
    if not keep.any():
        return m.copy()
    return keep[labels]


def _near_labels(labels: np.ndarray, n_labels: int, point, spacing, reach_mm: float) -> np.ndarray:
    """bool [n_labels]: which labels (> 0) have a pixel within reach_mm of the image point (row, col)."""
    keep = np.zeros(n_labels, bool)
    r, c = float(point[0]), float(point[1])
    hr, hc = int(np.ceil(reach_mm / spacing[0])), int(np.ceil(reach_mm / spacing[1]))
    ri, ci = int(round(r)), int(round(c))
    r0, r1 = max(0, ri - hr), min(labels.shape[0], ri + hr + 1)
    c0, c1 = max(0, ci - hc), min(labels.shape[1], ci + hc + 1)
    win = labels[r0:r1, c0:c1]
    dr = (np.arange(r0, r1) - r)[:, None] * spacing[0]
    dc = (np.arange(c0, c1) - c)[None, :] * spacing[1]
    near = (dr * dr + dc * dc) <= reach_mm * reach_mm
    keep[np.unique(win[near & (win > 0)])] = True
    return keep


def apply_manifest(mask, clicks, spacing, postprocess: dict) -> np.ndarray:
    """`keep_clicked_components` when ``postprocess["keep_clicked_components"]`` is true, else `mask` as is."""
    if not postprocess.get("keep_clicked_components", False):
        return mask
    return keep_clicked_components(mask, clicks, spacing, float(postprocess.get("reach_mm", DEFAULT_REACH_MM)))
