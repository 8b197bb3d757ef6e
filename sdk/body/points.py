"""Body surface points (seed 000's point cloud): the outline pixels of a mask, in patient coordinates, as PLY.

    pts = radseg.body.outline_points(volume, mask)   # float64 [n, 3], DICOM LPS mm
    radseg.body.write_ply("body.ply", pts)            # binary little-endian PLY, float32 x y z

A slice's outline pixels are its foreground pixels with a 4-neighbour (up, down, left, right, in the same slice)
in the background or outside the image. Their centres are mapped through ``volume.voxel_to_patient``, so the
pixel spacing, the slice positions and the orientation of the series (oblique, gantry-tilted) are all taken into
account: the cloud lies where the body's skin is in the scanner's patient space, in mm.
"""
from __future__ import annotations

import os
import pathlib
from typing import Optional

import numpy as np

from .._atomic import write_atomic


def outline_pixels(mask: np.ndarray) -> np.ndarray:
    """bool, the same shape as `mask` ([slices, rows, cols] or [rows, cols]): the outline pixels of each slice.

    A foreground pixel is on the outline when one of its four in-plane neighbours is background or lies outside
    the image (so a mask touching the border is outlined along the border).
    """
    m = np.asarray(mask, dtype=bool)
    if m.ndim not in (2, 3):
        raise ValueError(f"mask must be 2D [rows, cols] or 3D [slices, rows, cols], got shape {m.shape}")
    m3 = m[None] if m.ndim == 2 else m
    padded = np.zeros((m3.shape[0], m3.shape[1] + 2, m3.shape[2] + 2), dtype=bool)  # outside = background
    padded[:, 1:-1, 1:-1] = m3
    interior = (padded[:, :-2, 1:-1] & padded[:, 2:, 1:-1] & padded[:, 1:-1, :-2] & padded[:, 1:-1, 2:])
    out = m3 & ~interior
    return out[0] if m.ndim == 2 else out


def outline_points(volume, mask) -> np.ndarray:
    """Patient coordinates of the outline pixels of every slice of `mask`.

    Args:
        volume: a `radseg.dicom.Volume` (its geometry places the points; read_series keeps oblique and tilted
            series exact).
        mask: bool [slices, rows, cols] on the volume's grid (0/1 integers are accepted).
    Returns:
        float64 [n, 3]: (x, y, z) DICOM LPS mm of each outline pixel's centre, slice by slice, each slice in row-major
        order. n = 0 for an empty mask.
    """
    shape = getattr(volume, "shape", None)
    if shape is None or not hasattr(volume, "voxel_to_patient"):
        raise TypeError(f"volume must be a radseg.dicom.Volume, got {type(volume).__name__}")
    m = np.asarray(mask)
    if m.shape != tuple(shape):
        raise ValueError(f"mask has shape {m.shape}, the volume is {tuple(shape)} [slices, rows, cols]")
    if m.dtype != np.bool_:
        if not np.issubdtype(m.dtype, np.integer) or (m.size and (m.min() < 0 or m.max() > 1)):
            raise ValueError(f"mask must be bool (or integers 0/1), got {m.dtype}; threshold it first")
        m = m != 0
    voxels = np.argwhere(outline_pixels(m)).astype(np.float64)  # (slice, row, col), slice-major
    if len(voxels) == 0:
        return np.zeros((0, 3), dtype=np.float64)
    return np.asarray(volume.voxel_to_patient(voxels), dtype=np.float64).reshape(-1, 3)


def write_ply(path, points, *, comment: Optional[str] = None) -> pathlib.Path:
    """Write `points` (float [n, 3], patient coordinates in mm) as a binary little-endian PLY point cloud.

    The file has one element ``vertex`` with three ``float`` (float32) properties x, y, z, and a comment line
    saying the frame (DICOM LPS, mm); `comment` adds more comment lines (one per line of text). It appears
    atomically (written beside `path`, then renamed). float32 keeps 0.1 um at 1 m from the scanner's origin.

    Returns:
        `path` as a pathlib.Path.
    """
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"points must have shape [n, 3] (x, y, z), got {p.shape}")
    if not np.all(np.isfinite(p)):
        raise ValueError("points must be finite (no NaN or inf)")
    comments = ["radseg body outline points: DICOM patient coordinates (LPS), mm"]
    if comment:
        comments += [line.strip() for line in str(comment).splitlines() if line.strip()]
    for line in comments:
        if not line.isascii():
            raise ValueError(f"PLY comments must be ASCII, got {line!r}")
    header = ["ply", "format binary_little_endian 1.0", *(f"comment {c}" for c in comments),
              f"element vertex {len(p)}", "property float x", "property float y", "property float z",
              "end_header"]
    data = ("\n".join(header) + "\n").encode("ascii") + p.astype("<f4").tobytes()

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data)

    target = pathlib.Path(os.fspath(path))
    write_atomic(target, write, suffix=".ply.part")
    return target


__all__ = ["outline_pixels", "outline_points", "write_ply"]
