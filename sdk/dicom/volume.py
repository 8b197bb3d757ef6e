"""`Volume`: a 3D image with its patient geometry, and the voxel <-> patient (DICOM LPS, mm) mappings.

Frames and conventions (the same everywhere in radseg):

* ``array`` is indexed ``[slice, row, col]``. A voxel index ``(s, r, c)`` names the *centre* of that voxel.
* Patient coordinates are DICOM LPS in mm: +x towards the patient's Left, +y Posterior, +z Superior (head).
* ``direction`` is a 3x3 matrix whose *columns* are unit vectors, in LPS, of the array axes in array order:
  column 0 points from slice s to slice s+1, column 1 is the row axis (DICOM ImageOrientationPatient[3:6], the
  direction in which the row index grows, i.e. down the image), column 2 the column axis (IOP[0:3], across the image).
* ``spacing`` is ``(slice, row, col)`` in mm: ``spacing[1]`` is PixelSpacing[0] (distance between rows),
  ``spacing[2]`` is PixelSpacing[1] (distance between columns), ``spacing[0]`` the distance between consecutive
  slice origins.
* ``origin`` is the LPS position of voxel (0, 0, 0), i.e. ImagePositionPatient of the first slice.
* ``slice_positions[s]`` is ImagePositionPatient of slice ``s`` (shape [slices, 3]).

Regular volumes (every slice step equal) map through the 4x4 ``affine``: ``patient = origin + direction @
(index * spacing)``. With gantry tilt the slice axis is not perpendicular to the image plane; ``direction[:, 0]``
is then the true step direction and the affine is sheared, which is still exact (``tilt_deg`` reports the angle).
Volumes read with uneven slice steps (``read_series(..., uneven="allow")``) map through the stored per-slice
positions instead, interpolating linearly between slices (and extrapolating from the end steps).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Optional, Sequence

import numpy as np

_REGULAR_TOL_MM = 0.01  # a slice may sit this far (mm) from the regular grid and still count as regular


def _as_points(points, name: str = "points") -> np.ndarray:
    p = np.asarray(points, dtype=np.float64)
    if p.ndim == 0 or p.shape[-1] != 3:
        raise ValueError(f"{name} must have shape (3,) or (..., 3), got {p.shape}")
    if not np.all(np.isfinite(p)):
        raise ValueError(f"{name} must be finite")
    return p


@dataclasses.dataclass(eq=False, repr=False)
class Volume:
    """A 3D image on a known patient grid, plus what a DICOM SEG needs to reference its source instances.

    Attributes:
        array: ``[slices, rows, cols]``. CT from DICOM is in Hounsfield units (RescaleSlope/Intercept applied):
            int16 when the rescale is integral and fits, float32 otherwise.
        spacing: ``(slice, row, col)`` in mm.
        origin: (3,) float64, LPS mm of voxel (0, 0, 0).
        direction: (3, 3) float64, columns = LPS unit vectors of the slice, row and col axes.
        slice_positions: (slices, 3) float64, LPS mm of each slice's first voxel.
        series_instance_uid, study_instance_uid, frame_of_reference_uid: of the source series ('' when unknown).
        sop_instance_uids: per slice, the SOPInstanceUID of the source instance ('' when unknown, e.g. NIfTI); taken
            from the file meta (MediaStorageSOPInstanceUID) when only that holds it.
        frame_numbers: per slice, the 1-based frame number inside a multi-frame source instance, or None.
        source_headers: the source datasets without pixel data (pydicom Dataset), one per source instance, in the
            order of first use; what `write_seg` hands to highdicom.
        files: per slice, the file the slice came from ('' when unknown).
        warnings: what the reader noticed and accepted (uneven steps, gantry tilt, skipped folders, ...).
        generated_uids: UIDs radseg made up for this volume's source instances, when
            ``write_seg(..., fill_missing_uids=True)`` found them missing: the `radseg.dicom.fill_missing_uids`
            result ({"StudyInstanceUID": uid, "SeriesInstanceUID": uid, "FrameOfReferenceUID": uid,
            "SOPInstanceUID": (one per source header, '' where it had one)}, only what was generated). The UID
            attributes above and ``source_headers`` then hold the filled values, so `read_seg` maps the SEG back.
        metadata: series_description, patient_id, skipped_folders (folders the folder scan did not enter), ...
    """

    array: np.ndarray
    spacing: tuple
    origin: np.ndarray
    direction: np.ndarray
    slice_positions: Optional[np.ndarray] = None
    modality: str = ""
    series_instance_uid: str = ""
    study_instance_uid: str = ""
    frame_of_reference_uid: str = ""
    sop_instance_uids: tuple = ()
    frame_numbers: tuple = ()
    source_headers: tuple = ()
    files: tuple = ()
    warnings: tuple = ()
    metadata: dict = dataclasses.field(default_factory=dict)
    generated_uids: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        a = np.asarray(self.array)
        if a.ndim != 3:
            raise ValueError(f"array must be 3D [slices, rows, cols], got shape {a.shape}")
        self.array = a
        sp = tuple(float(s) for s in np.asarray(self.spacing, dtype=np.float64).ravel())
        if len(sp) != 3 or not all(math.isfinite(s) and s > 0 for s in sp):
            raise ValueError(f"spacing must be 3 positive finite mm values (slice, row, col), got {self.spacing!r}")
        self.spacing = sp
        self.origin = np.asarray(self.origin, dtype=np.float64).reshape(3)
        d = np.asarray(self.direction, dtype=np.float64)
        if d.shape != (3, 3) or not np.allclose(np.linalg.norm(d, axis=0), 1.0, atol=1e-4):
            raise ValueError(f"direction must be 3x3 with unit columns (slice, row, col axes in LPS), got {d!r}")
        if abs(np.linalg.det(d)) < 1e-6:
            raise ValueError("direction is singular: the slice axis lies in the image plane")
        self.direction = d
        n = a.shape[0]
        if self.slice_positions is None:
            steps = np.arange(n, dtype=np.float64)[:, None] * sp[0]
            self.slice_positions = self.origin[None, :] + steps * d[:, 0][None, :]
        else:
            pos = np.asarray(self.slice_positions, dtype=np.float64)
            if pos.shape != (n, 3):
                raise ValueError(f"slice_positions must have shape ({n}, 3), got {pos.shape}")
            self.slice_positions = pos
        for name in ("sop_instance_uids", "frame_numbers", "files"):
            value = tuple(getattr(self, name))
            if value and len(value) != n:
                raise ValueError(f"{name} must have one entry per slice ({n}), got {len(value)}")
            setattr(self, name, value)
        self.source_headers = tuple(self.source_headers)
        self.warnings = tuple(self.warnings)

    # ------------------------------------------------------------------ geometry
    @property
    def shape(self) -> tuple:
        return tuple(self.array.shape)

    @property
    def affine(self) -> np.ndarray:
        """4x4 float64 mapping homogeneous voxel indices (s, r, c, 1) to LPS mm (exact for regular volumes)."""
        m = np.eye(4)
        m[:3, :3] = self.direction * np.asarray(self.spacing)[None, :]
        m[:3, 3] = self.origin
        return m

    @property
    def slice_normal(self) -> np.ndarray:
        """Unit normal of the image plane, IOP[0:3] x IOP[3:6] (LPS); for untilted series equal to direction[:, 0]."""
        n = np.cross(self.direction[:, 2], self.direction[:, 1])
        return n / np.linalg.norm(n)

    @property
    def tilt_deg(self) -> float:
        """Angle in degrees between the slice step and the image-plane normal (0 unless the gantry was tilted)."""
        c = abs(float(np.dot(self.slice_normal, self.direction[:, 0])))
        return math.degrees(math.acos(min(1.0, c)))

    @property
    def is_regular(self) -> bool:
        """True when every slice sits on the grid of the affine (to 0.01 mm)."""
        ideal = self.origin[None, :] + np.arange(self.shape[0])[:, None] * self.spacing[0] * self.direction[:, 0]
        return bool(np.all(np.abs(ideal - self.slice_positions) <= _REGULAR_TOL_MM))

    def voxel_to_patient(self, points) -> np.ndarray:
        """Map voxel indices ``(..., 3)`` as (slice, row, col), fractional allowed, to LPS mm ``(..., 3)``."""
        p = _as_points(points)
        sp = np.asarray(self.spacing)
        if self.is_regular:
            return self.origin + (p * sp) @ self.direction.T
        s_origin = self._interp_slice_origin(p[..., 0])
        inplane = (p[..., 1:2] * sp[1]) * self.direction[:, 1] + (p[..., 2:3] * sp[2]) * self.direction[:, 2]
        return s_origin + inplane

    def patient_to_voxel(self, points) -> np.ndarray:
        """Map LPS mm ``(..., 3)`` to fractional voxel indices ``(..., 3)`` as (slice, row, col).

        Round to get the containing voxel; values outside ``[-0.5, n - 0.5)`` lie outside the volume.
        """
        p = _as_points(points)
        sp = np.asarray(self.spacing)
        if self.is_regular:
            m = self.direction * sp[None, :]
            return np.linalg.solve(m, (p - self.origin).reshape(-1, 3).T).T.reshape(p.shape)
        normal = self.slice_normal
        heights = (self.slice_positions - self.slice_positions[0]) @ normal
        h = (p - self.slice_positions[0]) @ normal
        s = _interp_extrap(h, heights, np.arange(len(heights), dtype=np.float64))
        rel = p - self._interp_slice_origin(s)
        r = rel @ self.direction[:, 1] / sp[1]
        c = rel @ self.direction[:, 2] / sp[2]
        return np.stack([s, r, c], axis=-1)

    def _interp_slice_origin(self, s: np.ndarray) -> np.ndarray:
        idx = np.arange(self.shape[0], dtype=np.float64)
        return np.stack([_interp_extrap(s, idx, self.slice_positions[:, k]) for k in range(3)], axis=-1)

    # ------------------------------------------------------------------ conveniences
    def with_array(self, array) -> "Volume":
        """A volume on the same grid holding `array` (same [slices, rows, cols] shape), e.g. a mask."""
        a = np.asarray(array)
        if a.shape != self.shape:
            raise ValueError(f"array must have the volume's shape {self.shape}, got {a.shape}")
        return dataclasses.replace(self, array=a, metadata=dict(self.metadata),
                                   generated_uids=dict(self.generated_uids))

    def __repr__(self) -> str:
        sp = ", ".join(f"{s:.4g}" for s in self.spacing)
        extra = f", tilt={self.tilt_deg:.2f} deg" if self.tilt_deg > 0.01 else ""
        extra += "" if self.is_regular else ", uneven slices"
        return (
            f"Volume(shape={self.shape}, dtype={self.array.dtype}, spacing=({sp}) mm, modality={self.modality!r}, "
            f"origin={np.round(self.origin, 3).tolist()}{extra})"
        )


def _interp_extrap(x, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """np.interp with linear extrapolation from the end segments (xp increasing, len >= 1)."""
    x = np.asarray(x, dtype=np.float64)
    if len(xp) == 1:
        return np.full(x.shape, fp[0], dtype=np.float64)
    y = np.interp(x, xp, fp)
    lo = x < xp[0]
    hi = x > xp[-1]
    if np.any(lo):
        y = np.where(lo, fp[0] + (x - xp[0]) * (fp[1] - fp[0]) / (xp[1] - xp[0]), y)
    if np.any(hi):
        y = np.where(hi, fp[-1] + (x - xp[-1]) * (fp[-1] - fp[-2]) / (xp[-1] - xp[-2]), y)
    return y


def geometry_from_positions(
    positions: np.ndarray, row_dir: Sequence[float], col_dir: Sequence[float], default_step: float
) -> tuple[float, np.ndarray, Any]:
    """Slice spacing and slice-axis unit vector from sorted slice origins (pure helper for the readers).

    Args:
        positions: (slices, 3) LPS mm, sorted along the normal.
        row_dir, col_dir: unit vectors of the row axis (IOP[3:6]) and column axis (IOP[0:3]).
        default_step: slice spacing to use for a single slice (mm).
    Returns:
        (step_mm, slice_axis_unit_vector, steps) where steps is the (slices-1,) array of step lengths along the
        slice axis (empty for one slice).
    """
    normal = np.cross(np.asarray(col_dir, float), np.asarray(row_dir, float))
    normal /= np.linalg.norm(normal)
    if len(positions) < 2:
        return float(default_step), normal, np.zeros(0)
    total = positions[-1] - positions[0]
    axis = total / np.linalg.norm(total)
    steps = np.diff(positions, axis=0) @ axis
    return float(np.median(steps)), axis, steps
