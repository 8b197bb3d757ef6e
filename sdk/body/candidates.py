"""The 18 classical body-outline candidates of seed 000 (Method 1, 2 and 3 with their variants).

Every method works on the slice scaled min -> 0, max -> 255 (`scale_to_uint8`) and ends in a filled bool mask
[rows, cols] (True = body). The building blocks are OpenCV's, rewritten on radseg's native morphology so that no
OpenCV is needed at run time:

- 5x5 Gaussian blur: OpenCV's fixed 5-tap kernel [1, 4, 6, 4, 1] / 16 (what ``cv2.GaussianBlur(img, (5, 5), 0)``
  uses for 8-bit images), border reflected without repeating the edge pixel (BORDER_REFLECT_101), rounded.
- Otsu: the threshold t that maximises the between-class variance of the 256-bin histogram; foreground is > t.
- "Flood fill from the top-left corner": the background 4-connected to pixel (0, 0) stays background, everything
  else becomes foreground (the usual floodFill hole-filling idiom; when pixel (0, 0) is foreground nothing is
  filled, where that idiom -- flood a copy from (0, 0), invert, OR -- would make the whole image foreground).
- Contours: external contours (``RETR_EXTERNAL``); a contour's length is its number of points
  (``len(contour)``, CHAIN_APPROX_NONE) and its size is the number of pixels it encloses; a contour is drawn
  filled (holes inside it are body).
- Disks: Euclidean, all offsets with dx^2 + dy^2 <= r^2 (radius 10, 18, 21 px).

Method 3, IOP = 2, reads "closing with a disk of radius 21, retaining only the components having more than half
the number of pixels before the closing": a component of the closed image is kept when more than half of its
pixels were foreground before the closing (the closing did not mostly invent it). This is our reading of the
seed, stated because the paper gives no formula.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..geometry import binary_closing, convex_hull, flood_fill, keep_largest, label_components, outer_contours
from ..geometry import remove_small_components
from ..intensity import check_image, check_volume

__all__ = ["VARIANTS", "scale_to_uint8", "all_candidates", "candidates", "candidates_volume"]

#: Seed 000's variant names, in the order `all_candidates` returns them: M1(C), M2(C) and M3(IOP,C,hull) with
#: hull 1 = convexified, 0 = not (the seed's Table 1 writes M3 (1 3 0) for IOP 1, C 3, no hull).
VARIANTS: Tuple[str, ...] = (
    tuple(f"M1({c})" for c in (1, 2, 3)) + tuple(f"M2({c})" for c in (1, 2, 3))
    + tuple(f"M3({iop},{c},{hull})" for iop in (1, 2) for c in (1, 2, 3) for hull in (1, 0))
)

MIN_CONTOUR_POINTS = 20      # "discard contours with a length shorter than 20 pixels"
KEEP_CONTOURS = 3            # "retain the largest 3 contours"
M2_MIN_COMPONENT = 500       # "remove the components with an area smaller than 500 px^2"
M2_CLOSING_RADIUS = 10
M3_CLOSING_RADIUS = {1: 18, 2: 21}


# ---- building blocks ---------------------------------------------------------------------------------------------
def scale_to_uint8(image) -> np.ndarray:
    """uint8 [rows, cols]: min -> 0, max -> 255, linear, rounded; a flat image gives zeros.

    Args:
        image: real 2D array [rows, cols] (any units: HU, raw MR values).
    """
    a = check_image(image).astype(np.float64)
    low, high = float(a.min()), float(a.max())
    if not high > low:
        return np.zeros(a.shape, np.uint8)
    return np.rint((a - low) * (255.0 / (high - low))).astype(np.uint8)


def gaussian_blur5(u8: np.ndarray) -> np.ndarray:
    """OpenCV's 5x5 Gaussian (sigma from the size) of a uint8 image, bit-exact: uint8 out."""
    k = np.array([1, 4, 6, 4, 1], np.int32)
    padded = np.pad(u8.astype(np.int32), 2, mode="reflect")  # numpy "reflect" = OpenCV BORDER_REFLECT_101
    rows = sum(k[i] * padded[:, i:i + u8.shape[1]] for i in range(5))
    full = sum(k[i] * rows[i:i + u8.shape[0], :] for i in range(5))
    return ((full + 128) >> 8).astype(np.uint8)


def otsu_threshold(u8: np.ndarray) -> int:
    """Otsu's threshold of a uint8 image: foreground is ``u8 > t``. A flat image gives its value (all background)."""
    hist = np.bincount(u8.ravel(), minlength=256).astype(np.float64)
    p = hist / hist.sum()
    w0 = np.cumsum(p)                       # share of pixels <= t
    mu0 = np.cumsum(p * np.arange(256))     # their first moment
    mu = mu0[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mu * w0 - mu0) ** 2 / (w0 * (1.0 - w0))
    eps = np.finfo(np.float32).eps           # OpenCV skips thresholds that leave one class (almost) empty
    between[(w0 < eps) | (w0 > 1.0 - eps) | ~np.isfinite(between)] = -1.0
    t = int(np.argmax(between))
    return t if between[t] >= 0 else int(u8.flat[0])


def fill_from_top_left(mask: np.ndarray) -> np.ndarray:
    """Holes filled the floodFill way: only the background 4-connected to pixel (0, 0) stays background."""
    if mask[0, 0]:
        return mask.copy()
    return ~flood_fill(mask, (0, 0), connectivity=1)


def _hulls(contours, indices) -> List[np.ndarray]:
    return [convex_hull(contours.mask([i])) for i in indices]


def _largest_filled(mask: np.ndarray, count: Tuple[int, ...], hull: bool) -> Dict[int, np.ndarray]:
    """Contours >= 20 points, the 3 largest, convexified or not, then for each C in `count` the C largest."""
    contours = outer_contours(mask)
    kept = contours.select(MIN_CONTOUR_POINTS, KEEP_CONTOURS)
    if not hull:
        return {c: contours.mask(kept[:c]) for c in count}
    shapes = _hulls(contours, kept)
    order = np.argsort([-int(s.sum()) for s in shapes], kind="stable")
    out = {}
    for c in count:
        m = np.zeros(mask.shape, bool)
        for i in order[:c]:
            m |= shapes[i]
        out[c] = m
    return out


def _mostly_original(closed: np.ndarray, before: np.ndarray) -> np.ndarray:
    """Components of `closed` (8-connected) more than half of whose pixels were set in `before`."""
    labels, sizes = label_components(closed, connectivity=2)
    original = np.bincount(labels[before], minlength=len(sizes))
    keep = original * 2 > sizes
    keep[0] = False
    return keep[labels]


# ---- the three methods -------------------------------------------------------------------------------------------
def method1(u8: np.ndarray, blurred_init: Optional[np.ndarray] = None) -> Dict[str, np.ndarray]:
    """M1(C): blur, Otsu, flood fill, contours >= 20, 3 largest, convex hull each, the C largest."""
    init = blurred_init if blurred_init is not None else _blurred_init(u8)
    return {f"M1({c})": m for c, m in _largest_filled(init, (1, 2, 3), hull=True).items()}


def method2(u8: np.ndarray) -> Dict[str, np.ndarray]:
    """M2(C): Otsu (no blur), flood fill, components >= 500 px, 3 largest, closing r=10, flood fill, contours >= 20,
    the C largest, no hull."""
    init = fill_from_top_left(u8 > otsu_threshold(u8))
    big = keep_largest(remove_small_components(init, M2_MIN_COMPONENT, connectivity=2), KEEP_CONTOURS,
                       connectivity=2)
    closed = fill_from_top_left(binary_closing(big, M2_CLOSING_RADIUS))
    return {f"M2({c})": m for c, m in _largest_filled(closed, (1, 2, 3), hull=False).items()}


def method3(u8: np.ndarray, blurred_init: Optional[np.ndarray] = None) -> Dict[str, np.ndarray]:
    """M3(IOP,C,hull): blur, Otsu, flood fill -> init; IOP 1 closing r=18, IOP 2 closing r=21 keeping the mostly
    original components -> a; closing of init minus a -> b; flood fill of a | b; contours >= 20; 3 largest; hull
    or not; the C largest."""
    init = blurred_init if blurred_init is not None else _blurred_init(u8)
    out = {}
    for iop, radius in M3_CLOSING_RADIUS.items():
        a = binary_closing(init, radius)
        if iop == 2:
            a = _mostly_original(a, init)
        b = binary_closing(init & ~a, radius)
        union = fill_from_top_left(a | b)
        for hull in (1, 0):
            for c, m in _largest_filled(union, (1, 2, 3), hull=bool(hull)).items():
                out[f"M3({iop},{c},{hull})"] = m
    return out


def _blurred_init(u8: np.ndarray) -> np.ndarray:
    blurred = gaussian_blur5(u8)
    return fill_from_top_left(blurred > otsu_threshold(blurred))


# ---- public API --------------------------------------------------------------------------------------------------
def all_candidates(slice_2d) -> Dict[str, np.ndarray]:
    """Every variant's mask, {name: bool [rows, cols]}, in the order of `VARIANTS` (identical masks repeated).

    Args:
        slice_2d: real 2D array [rows, cols]; CT in HU or MR in raw units (only the order of values matters).
    """
    u8 = scale_to_uint8(slice_2d)
    init = _blurred_init(u8)
    found = {**method1(u8, init), **method2(u8), **method3(u8, init)}
    return {name: found[name] for name in VARIANTS}


def candidates(slice_2d) -> List[Tuple[str, np.ndarray]]:
    """The distinct candidate masks of one slice: [(names, bool [rows, cols])], identical candidates once.

    ``names`` lists every variant that gave that mask, comma-separated in `VARIANTS` order ("M1(2),M1(3)" when
    the slice held one contour), so the rater sees each different outline once.
    """
    groups: Dict[bytes, Tuple[List[str], np.ndarray]] = {}
    for name, mask in all_candidates(slice_2d).items():
        key = np.packbits(mask).tobytes()
        if key in groups:
            groups[key][0].append(name)
        else:
            groups[key] = ([name], mask)
    return [(",".join(names), mask) for names, mask in groups.values()]


def candidates_volume(volume, workers: Optional[int] = None, unique: bool = True) -> list:
    """`candidates` (or `all_candidates` when ``unique=False``) of every slice of a volume, slices in parallel.

    The native morphology releases the GIL, so threads share the work.

    Args:
        volume: real 3D array [slices, rows, cols].
        workers: threads (default: the CPU count, at most 8).
    Returns:
        list over slices of what the per-slice function returns.
    """
    vol = check_volume(volume)
    import os
    n = workers if workers is not None else min(8, os.cpu_count() or 1)
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"workers must be a whole number >= 1, got {workers!r}")
    fn = candidates if unique else all_candidates
    if n == 1:
        return [fn(s) for s in vol]
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(fn, vol))
