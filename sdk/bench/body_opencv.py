"""Seed 000's 18 body-outline candidates written with OpenCV only: the reference the candidate tests compare
radseg.body against, and the contender `benchmarks/bench_body.py` times (what a user would otherwise write).

cv2.normalize, cv2.GaussianBlur, cv2.threshold(OTSU), the cv2.floodFill hole-filling idiom (with radseg's rule for
a foreground corner pixel), cv2.connectedComponentsWithStats, cv2.morphologyEx(MORPH_CLOSE) with an explicit
Euclidean disk, cv2.findContours(RETR_EXTERNAL, CHAIN_APPROX_NONE), cv2.drawContours(filled), cv2.convexHull.
Hulls: `hull_centres` fills through pixel centres (radseg's rule, for exact comparison), `hull_fillpoly` the way
cv2.fillPoly does (also the pixels its edges pass through). Needs opencv-python(-headless).
"""
from __future__ import annotations

import cv2
import numpy as np

def disk(r: int) -> np.ndarray:
    y, x = np.ogrid[-r:r + 1, -r:r + 1]
    return (x * x + y * y <= r * r).astype(np.uint8)


def cv_scale(image) -> np.ndarray:
    return cv2.normalize(np.asarray(image, np.float64), None, 0, 255, cv2.NORM_MINMAX, cv2.CV_8U)


def cv_otsu(u8: np.ndarray):
    t, out = cv2.threshold(u8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return int(t), out > 0


def floodfill_idiom(mask: np.ndarray) -> np.ndarray:
    """The usual hole filling: flood a copy from (0, 0) with 255, invert, OR with the mask."""
    m = mask.astype(np.uint8) * 255
    flooded = m.copy()
    cv2.floodFill(flooded, np.zeros((m.shape[0] + 2, m.shape[1] + 2), np.uint8), (0, 0), 255)
    return (m | cv2.bitwise_not(flooded)) > 0


def ref_fill(mask: np.ndarray) -> np.ndarray:
    """The idiom, except that a mask whose pixel (0, 0) is foreground stays as it is (radseg's stated rule)."""
    return mask.copy() if mask[0, 0] else floodfill_idiom(mask)


def contour_filled(shape, contour) -> np.ndarray:
    img = np.zeros(shape, np.uint8)
    cv2.drawContours(img, [contour], -1, 1, thickness=-1)
    return img > 0


def hull_fillpoly(shape, contour) -> np.ndarray:
    img = np.zeros(shape, np.uint8)
    cv2.fillPoly(img, [cv2.convexHull(contour)], 1)
    return img > 0


def hull_centres(shape, contour) -> np.ndarray:
    """The convex hull of `contour` filled through pixel centres: every pixel whose centre lies inside or on it."""
    h = cv2.convexHull(contour)[:, 0, :].astype(np.int64)  # (x = col, y = row)
    if len(h) < 3:
        img = np.zeros(shape, np.uint8)
        cv2.polylines(img, [h.reshape(-1, 1, 2).astype(np.int32)], True, 1)  # a point or a segment
        return img > 0
    (x0, y0), (x1, y1) = h.min(0), h.max(0)
    ys, xs = np.mgrid[y0:y1 + 1, x0:x1 + 1]
    closed = np.vstack([h, h[:1]])
    sign = 1 if sum(int(a[0] * b[1] - b[0] * a[1]) for a, b in zip(closed[:-1], closed[1:])) > 0 else -1
    inside = np.ones(xs.shape, bool)
    for (ax, ay), (bx, by) in zip(closed[:-1], closed[1:]):
        inside &= sign * ((bx - ax) * (ys - ay) - (by - ay) * (xs - ax)) >= 0
    out = np.zeros(shape, bool)
    out[y0:y1 + 1, x0:x1 + 1] = inside
    return out


def ref_largest(mask: np.ndarray, hull: bool, hull_fill=hull_centres) -> dict:
    """Contours >= 20 points, the 3 largest by enclosed pixels, hull each or not, then for C = 1, 2, 3 the C
    largest (by their pixels) united."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    contours = [c for c in contours if len(c) >= 20]
    regions = [contour_filled(mask.shape, c) for c in contours]
    top = sorted(range(len(contours)), key=lambda i: -int(regions[i].sum()))[:3]
    shapes = [hull_fill(mask.shape, contours[i]) if hull else regions[i] for i in top]
    order = sorted(range(len(shapes)), key=lambda i: -int(shapes[i].sum()))
    out = {}
    for c in (1, 2, 3):
        union = np.zeros(mask.shape, bool)
        for i in order[:c]:
            union |= shapes[i]
        out[c] = union
    return out


def cv_close(mask: np.ndarray, r: int) -> np.ndarray:
    return cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, disk(r)) > 0


def ref_mostly_original(closed: np.ndarray, before: np.ndarray) -> np.ndarray:
    """IOP 2 as the docstring states it: keep a component of `closed` (8-connected) when more than half of its
    pixels were foreground before the closing."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(closed.astype(np.uint8), connectivity=8)
    keep = np.zeros(n, bool)
    for i in range(1, n):
        keep[i] = 2 * int(before[labels == i].sum()) > int(stats[i, cv2.CC_STAT_AREA])
    return keep[labels]


def ref_variants(u8: np.ndarray, hull_fill=hull_centres) -> dict:
    init = ref_fill(cv_otsu(cv2.GaussianBlur(u8, (5, 5), 0))[1])
    out = {f"M1({c})": m for c, m in ref_largest(init, True, hull_fill).items()}
    # M2: Otsu without blur, fill, components >= 500 px, the 3 largest, close r=10, fill, contours, no hull
    init2 = ref_fill(cv_otsu(u8)[1])
    n, labels, stats, _ = cv2.connectedComponentsWithStats(init2.astype(np.uint8), connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    big = sorted([i for i in range(n - 1) if areas[i] >= 500], key=lambda i: -areas[i])[:3]
    kept = np.isin(labels, np.array(big, int) + 1)
    out.update({f"M2({c})": m for c, m in ref_largest(ref_fill(cv_close(kept, 10)), False).items()})
    for iop, r in ((1, 18), (2, 21)):
        a = cv_close(init, r)
        if iop == 2:
            a = ref_mostly_original(a, init)
        b = cv_close(init & ~a, r)
        union = ref_fill(a | b)
        for hull in (1, 0):
            for c, m in ref_largest(union, bool(hull), hull_fill).items():
                out[f"M3({iop},{c},{hull})"] = m
    return out


def all_candidates_opencv(image) -> dict:
    """{variant name: bool mask} of a real 2D slice, all 18, as an OpenCV user would write them (fillPoly hulls)."""
    return ref_variants(cv_scale(image), hull_fill=hull_fillpoly)
