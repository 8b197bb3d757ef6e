"""Mask <-> polygon on one slice, exactly: boundaries traced along pixel edges, polygons filled at pixel centres
with the even-odd rule (see `radseg.dicom.rtstruct` for why the round trip is pixel-exact).

Coordinates are (row, col) voxel indices; polygon vertices are pixel corners (index +/- 0.5).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

# ================================================================================================ 2D geometry
# Directions of a crack edge, in (row, col) steps, numbered counter-clockwise as seen on screen (row axis down):
# east, north, west, south. A left turn is (d + 1) % 4.
_STEPS = np.array([(0, 1), (-1, 0), (0, -1), (1, 0)])


def trace_contours(mask: np.ndarray) -> list[np.ndarray]:
    """The crack boundaries of a 2D mask: one closed polygon per boundary, outer and hole boundaries alike.

    Args:
        mask: bool [rows, cols].
    Returns:
        A list of float64 [k, 2] arrays of (row, col) vertices in pixel indices (pixel corners, so every value is
        an integer + 0.5), implicitly closed (the last vertex joins the first), without collinear vertices. The
        foreground lies to the left of the walking direction as seen on screen (row axis down): outer boundaries
        run counter-clockwise on screen, holes clockwise. Even-odd filling at pixel centres (`fill_contours`)
        gives `mask` back exactly.
    """
    mask = np.asarray(mask, dtype=bool)
    rows, cols = mask.shape
    p = np.zeros((rows + 2, cols + 2), dtype=bool)
    p[1:-1, 1:-1] = mask
    width = cols + 1  # corner (i, j), i in 0..rows, j in 0..cols, sits at pixel coordinates (i - 0.5, j - 0.5)
    above, below = p[:-1, 1:-1], p[1:, 1:-1]      # the pixels on either side of horizontal cracks, [rows+1, cols]
    left, right = p[1:-1, :-1], p[1:-1, 1:]       # ... of vertical cracks, [rows, cols+1]
    starts, dirs = [], []
    for sel, d, di, dj in ((above & ~below, 0, 0, 0),   # east from corner (i, j): foreground above
                           (below & ~above, 2, 0, 1),   # west from corner (i, j+1): foreground below
                           (right & ~left, 3, 0, 0),    # south from corner (i, j): foreground right
                           (left & ~right, 1, 1, 0)):   # north from corner (i+1, j): foreground left
        i, j = np.nonzero(sel)
        starts.append((i + di) * width + (j + dj))
        dirs.append(np.full(i.shape, d, dtype=np.int64))
    start = np.concatenate(starts)
    if start.size == 0:
        return []
    direction = np.concatenate(dirs)
    order = np.argsort(start, kind="stable")
    start, direction = start[order], direction[order]
    step = _STEPS[direction]
    end = start + step[:, 0] * width + step[:, 1]
    # The edge that follows each edge leaves from its end corner. A corner has one outgoing edge, except where two
    # foreground pixels touch only diagonally (two in, two out): there the left turn keeps the walk around the
    # pixel it came along, so diagonal neighbours get separate polygons that share the corner.
    first = np.searchsorted(start, end, side="left")
    count = np.searchsorted(start, end, side="right") - first
    nxt = first.copy()
    saddle = np.nonzero(count == 2)[0]
    if saddle.size:
        turn_left = (direction[saddle] + 1) % 4
        nxt[saddle] = np.where(direction[first[saddle]] == turn_left, first[saddle], first[saddle] + 1)
    polygons = []
    nxt_list = nxt.tolist()
    seen = bytearray(len(nxt_list))
    for e0 in range(len(nxt_list)):
        if seen[e0]:
            continue
        cycle, e = [], e0
        while not seen[e]:  # each edge belongs to exactly one cycle
            seen[e] = 1
            cycle.append(e)
            e = nxt_list[e]
        cyc = np.asarray(cycle)
        d = direction[cyc]
        corners = start[cyc[d != np.roll(d, 1)]]  # a vertex only where the direction changes
        polygons.append(np.stack([corners // width - 0.5, corners % width - 0.5], axis=1).astype(np.float64))
    return polygons


def fill_contours(polygons: Sequence[np.ndarray], shape: tuple) -> np.ndarray:
    """Rasterise closed polygons on one slice at pixel centres, all of them together with the even-odd rule.

    Args:
        polygons: float [k, 2] arrays of (row, col) vertices in pixel indices (fractional; implicitly closed; a
            repeated closing vertex is harmless). Polygons with fewer than 3 vertices bound no area and add nothing.
        shape: (rows, cols) of the slice.
    Returns:
        bool [rows, cols]: pixels whose centre (r, c) is crossed an odd number of times by a ray from it towards
        -col, counting every edge of every polygon (an edge covers the rows r with min(r0, r1) <= r < max(r0, r1),
        the usual half-open rule, so a vertex on a row is counted once). Holes stay holes; polygons that overlap
        cancel where they overlap. A pixel centre exactly on an edge is inside when the edge is on its left.
    """
    rows, cols = int(shape[0]), int(shape[1])
    segments = []
    for poly in polygons:
        poly = np.asarray(poly, dtype=np.float64).reshape(-1, 2)
        if len(poly) >= 3:
            segments.append(np.concatenate([poly, np.roll(poly, -1, axis=0)], axis=1))
    toggles = np.zeros((rows, cols + 1), dtype=np.int64)
    if segments:
        seg = np.concatenate(segments)
        seg = seg[seg[:, 0] != seg[:, 2]]  # horizontal edges cross no row
        lo = np.minimum(seg[:, 0], seg[:, 2])
        hi = np.maximum(seg[:, 0], seg[:, 2])
        first = np.clip(np.ceil(lo), 0, rows).astype(np.int64)
        stop = np.clip(np.ceil(hi), 0, rows).astype(np.int64)  # rows first..stop-1 are crossed
        n = np.maximum(stop - first, 0)
        if n.sum():
            which = np.repeat(np.arange(len(seg)), n)
            offsets = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
            r = first[which] + offsets
            r0, c0, r1, c1 = seg[which, 0], seg[which, 1], seg[which, 2], seg[which, 3]
            x = c0 + (r - r0) * (c1 - c0) / (r1 - r0)
            k = np.clip(np.ceil(x), 0, cols).astype(np.int64)  # pixels c >= x see this crossing on their left
            np.add.at(toggles, (r, k), 1)
    return (np.cumsum(toggles[:, :cols], axis=1) & 1).astype(bool)
