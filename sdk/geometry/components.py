"""Connected components and outer contours over the native core.

Shapes: 2D [rows, cols] or 3D [slices, rows, cols]. Masks are bool or integer (nonzero = foreground).

Connectivity convention (one, shared by every function here and in :mod:`.morphology`): the number of
orthogonal hops, as in ``scipy.ndimage.generate_binary_structure(ndim, connectivity)`` and skimage's
``connectivity``: 1 = face neighbours (4 in 2D, 6 in 3D), 2 = also edge neighbours (8 in 2D, 18 in 3D),
3 = also corner neighbours (26, 3D only). The neighbour counts 4, 8 (2D) and 6, 18, 26 (3D) are accepted as
aliases. ``None`` means full connectivity (``ndim``), skimage's default.

Labels are int32, 1..n in raster order of each component's first element (the numbering of
``scipy.ndimage.label``), 0 = background. ``sizes`` is indexed by label: ``sizes[0]`` counts the background and
``sizes[i]`` the elements of component i, i.e. ``np.bincount(labels.ravel())``.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from .. import _native
from .._validate import as_mask

__all__ = [
    "check_connectivity",
    "label_components",
    "keep_largest",
    "remove_small_components",
    "OuterContours",
    "outer_contours",
]

_ALIASES = {2: {4: 1, 8: 2}, 3: {6: 1, 18: 2, 26: 3}}


def check_connectivity(connectivity, ndim: int) -> int:
    """Connectivity as orthogonal hops 1..ndim (None -> ndim); aliases 4/8 (2D), 6/18/26 (3D); else ValueError."""
    if connectivity is None:
        return ndim
    if isinstance(connectivity, (bool, np.bool_)) or not isinstance(connectivity, numbers.Integral):
        raise ValueError(f"connectivity must be an integer, got {connectivity!r}")
    c = int(connectivity)
    c = _ALIASES.get(ndim, {}).get(c, c)
    if not 1 <= c <= ndim:
        names = "4 or 8" if ndim == 2 else "6, 18 or 26"
        raise ValueError(
            f"connectivity must be 1..{ndim} (orthogonal hops) or {names} (neighbour count) for a {ndim}D mask, "
            f"got {connectivity!r}"
        )
    return c


def label_components(mask, connectivity=None) -> tuple[np.ndarray, np.ndarray]:
    """Label the connected components of the foreground.

    Args:
        mask: bool or integer array, 2D or 3D; nonzero = foreground.
        connectivity: see the module docstring; None = full (8 in 2D, 26 in 3D).
    Returns:
        (labels, sizes): labels int32 of mask's shape (0 background, 1..n in raster order of first element);
        sizes int64 of length n + 1 with ``sizes[0]`` = background count, ``sizes[i]`` = size of label i.
    """
    m = as_mask(mask, "mask")
    c = check_connectivity(connectivity, m.ndim)
    labels, sizes = _native.label_components(m, c)
    return labels, sizes


def _select(labels: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """bool mask of the labels with keep[label] True (keep[0] must be False)."""
    return keep[labels]


def keep_largest(mask, k: int = 1, connectivity=None) -> np.ndarray:
    """The `k` largest connected components of the foreground (ties: the earlier one in raster order wins).

    Args:
        mask: bool or integer array, 2D or 3D.
        k: number of components to keep, >= 0 (all of them if there are fewer).
        connectivity: see the module docstring; None = full.
    Returns:
        bool array of mask's shape.
    """
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, numbers.Integral) or k < 0:
        raise ValueError(f"k must be an integer >= 0 (number of components to keep), got {k!r}")
    m = as_mask(mask, "mask")
    c = check_connectivity(connectivity, m.ndim)
    return _native.filter_components(m, c, min(int(k), 2**62), 0).view(np.bool_)


def remove_small_components(mask, min_size: int, connectivity=None) -> np.ndarray:
    """Drop the connected components with fewer than `min_size` elements (voxels, not mm^3).

    Args:
        mask: bool or integer array, 2D or 3D.
        min_size: components of at least this many elements are kept; integer >= 0.
        connectivity: see the module docstring; None = full.
    Returns:
        bool array of mask's shape.
    """
    if isinstance(min_size, (bool, np.bool_)) or not isinstance(min_size, numbers.Integral) or min_size < 0:
        raise ValueError(f"min_size must be an integer >= 0 (elements), got {min_size!r}")
    m = as_mask(mask, "mask")
    c = check_connectivity(connectivity, m.ndim)
    return _native.filter_components(m, c, -1, min(int(min_size), 2**62)).view(np.bool_)


@dataclass(frozen=True)
class OuterContours:
    """External contours of a 2D mask, one per component of the hole-filled mask.

    Attributes:
        labels: int32 [rows, cols]; component i + 1 is the filled region inside contour i (0 = outside all).
        areas: int64 [n], pixels inside each contour (the filled component, contour pixels included).
        lengths: int64 [n], points of each contour: ``len(c)`` for cv2.findContours(RETR_EXTERNAL,
            CHAIN_APPROX_NONE); a lone pixel has 1, a straight run of m pixels 2 (m - 1).
        perimeters: float64 [n], closed arc length in pixels (1 per axial step, sqrt(2) per diagonal step):
            ``cv2.arcLength(c, closed=True)``.
    Contours are ordered by the raster position of their topmost-leftmost pixel.
    """

    labels: np.ndarray
    areas: np.ndarray
    lengths: np.ndarray
    perimeters: np.ndarray

    def __len__(self) -> int:
        return len(self.areas)

    def select(self, min_length: int = 0, largest: int | None = None) -> np.ndarray:
        """Indices of the contours with ``lengths >= min_length``, the `largest` by area first (ties: earlier).

        Seed 000's "drop contours shorter than 20 px, keep the 3 largest" is ``select(20, 3)``.
        """
        idx = np.flatnonzero(self.lengths >= min_length)
        idx = idx[np.argsort(-self.areas[idx], kind="stable")]
        return idx if largest is None else idx[:largest]

    def mask(self, indices=None) -> np.ndarray:
        """bool [rows, cols]: the filled regions of the contours at `indices` (all when None)."""
        keep = np.zeros(len(self.areas) + 1, dtype=bool)
        if indices is None:
            keep[1:] = True
        else:
            keep[np.asarray(indices, dtype=np.int64) + 1] = True
        return _select(self.labels, keep)


def outer_contours(mask) -> OuterContours:
    """External contours of a 2D mask, as ``cv2.findContours(mask, RETR_EXTERNAL, CHAIN_APPROX_NONE)`` finds them.

    The foreground is 8-connected and the background 4-connected (OpenCV's convention); a component lying in a
    hole of another belongs to that other's contour, as in RETR_EXTERNAL. Pixels outside the image count as
    background. Contour lengths are measured by tracing each outer border (Suzuki & Abe 1985, OpenCV's method).

    Args:
        mask: bool or integer [rows, cols]; nonzero = foreground.
    Returns:
        :class:`OuterContours`.
    """
    m = as_mask(mask, "mask", ndims=(2,))
    labels, areas, lengths, perimeters = _native.outer_contours(m)
    return OuterContours(labels, areas, lengths, perimeters)
