"""NIfTI in and out (nibabel), with the same orientation conventions as `Volume`.

NIfTI stores data indexed (i, j, k) and an affine to RAS+ mm (+x Right, +y Anterior, +z Superior). radseg writes
what dcm2niix and dicom2nifti write for an unresampled DICOM series: i = column, j = row, k = slice, so
``nifti_data = volume.array.transpose(2, 1, 0)`` and ``affine_RAS = diag(-1, -1, 1, 1) @ affine_LPS`` with the
affine's columns reordered to (col, row, slice). Reading applies the inverse, so a round trip returns the same
array and geometry.

`read_nifti_onto` puts a NIfTI (e.g. a label map made by another tool) onto a Volume's voxel grid exactly, when
the two grids coincide up to axis order and flips (any combination dcm2niix, dicom2nifti or TotalSegmentator
produce); grids that would need interpolation are refused.
"""
from __future__ import annotations

import os
from typing import Optional

import numpy as np

from .._atomic import write_atomic
from ..errors import UsageError
from .errors import DicomError, require
from .volume import Volume

_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def _nifti_affine(volume: Volume) -> np.ndarray:
    """4x4 RAS affine of (i, j, k) = (col, row, slice) indices."""
    lps = volume.affine[:, [2, 1, 0, 3]]
    return _LPS_TO_RAS @ lps


def to_nifti(volume: Volume, array: Optional[np.ndarray] = None):
    """A nibabel Nifti1Image of `array` (default ``volume.array``; [slices, rows, cols]) on the volume's grid."""
    nib = require("nibabel")
    if not isinstance(volume, Volume):
        raise TypeError(f"volume must be a radseg.dicom.Volume, got {type(volume).__name__}")
    if not volume.is_regular:
        raise DicomError("volume has uneven slice steps; NIfTI cannot store that grid (resample it first)")
    data = volume.array if array is None else np.asarray(array)
    if data.shape != volume.shape:
        raise ValueError(f"array must have the volume's shape {volume.shape}, got {data.shape}")
    if data.dtype == np.bool_:
        data = data.astype(np.uint8)
    affine = _nifti_affine(volume)
    img = nib.Nifti1Image(np.ascontiguousarray(data.transpose(2, 1, 0)), affine)
    img.set_sform(affine, code=1)  # scanner-based (the DICOM patient frame)
    if volume.tilt_deg > 0.01:
        img.set_qform(None, code=0)  # a quaternion cannot hold the shear of a tilted gantry
    else:
        img.set_qform(affine, code=1)
    return img


_NIFTI_SUFFIXES = (".nii", ".nii.gz")


def check_nifti_path(path) -> str:
    """`path` as a string when it names a NIfTI file (.nii or .nii.gz, any case), else `UsageError` (a
    ValueError; the command line exits 2 with it) saying so.

    nibabel picks the format from the name: another ending would write something else, or fail half-way.
    """
    path = os.fspath(path)
    if not path.lower().endswith(_NIFTI_SUFFIXES):
        raise UsageError(f"NIfTI output path must end in .nii or .nii.gz, got {path!r}",
                         "use .nii or .nii.gz (.nii.gz is compressed)")
    return path


def write_nifti(volume: Volume, path, array: Optional[np.ndarray] = None) -> str:
    """Write `array` (default ``volume.array``) on the volume's grid to `path` (.nii or .nii.gz), atomically.

    Raises `UsageError` (a ValueError), before writing anything, when `path` ends otherwise.
    """
    path = check_nifti_path(path)
    nib = require("nibabel")
    img = to_nifti(volume, array)
    gz = path.lower().endswith(".gz")
    return write_atomic(path, lambda tmp: nib.save(img, tmp), suffix=".nii.gz" if gz else ".nii")


def read_nifti(path) -> Volume:
    """Read a 3D NIfTI into a Volume (array [slices, rows, cols] = data (i, j, k) transposed, geometry in LPS).

    The array keeps the stored dtype when the file has no scaling, else float (nibabel applies scl_slope/inter).
    """
    nib = require("nibabel")
    img, data = _load_3d(nib, path)
    lps = _LPS_TO_RAS @ img.affine  # the flip is its own inverse
    cols = lps[:3, [2, 1, 0]]  # slice, row, col axes
    spacing = np.linalg.norm(cols, axis=0)
    return Volume(
        array=np.ascontiguousarray(data.transpose(2, 1, 0)),
        spacing=tuple(spacing),
        origin=lps[:3, 3],
        direction=cols / spacing[None, :],
        files=(),
        metadata={"source": os.fspath(path)},
    )


def grid_mapping(src_affine_lps: np.ndarray, src_shape, volume: Volume, tol: float = 1e-3):
    """How to index a source array (any axis order) to land exactly on `volume`'s voxels.

    Args:
        src_affine_lps: 4x4 map from source indices to LPS mm.
        src_shape: the source array's shape (3 axes).
    Returns:
        (axes, indices): ``src.transpose(axes)[np.ix_(*indices)]`` is the source on the volume grid.
    Raises:
        DicomError when the grids do not coincide up to axis order, flips and an integer shift, or the source does
        not cover the volume.
    """
    m = np.linalg.solve(src_affine_lps, volume.affine)  # volume index -> source index
    rot, shift = m[:3, :3], m[:3, 3]
    perm = np.abs(rot).argmax(axis=0)
    signs = np.sign(rot[perm, [0, 1, 2]])
    ideal = np.zeros((3, 3))
    ideal[perm, [0, 1, 2]] = signs
    if sorted(perm) != [0, 1, 2] or np.abs(rot - ideal).max() > tol:
        raise DicomError(
            "the grids differ by more than axis order and flips (different spacing or orientation); resample "
            f"instead. Volume index -> source index matrix:\n{np.round(rot, 4)}"
        )
    if np.abs(shift - np.round(shift)).max() > 0.05:
        raise DicomError(f"the grids are offset by a fraction of a voxel ({np.round(shift, 3).tolist()}); resample instead")
    shift = np.round(shift).astype(int)
    indices = []
    for axis in range(3):
        src_axis = perm[axis]
        idx = signs[axis].astype(int) * np.arange(volume.shape[axis]) + shift[src_axis]
        if idx.min() < 0 or idx.max() >= src_shape[src_axis]:
            raise DicomError(
                f"the source does not cover the volume along volume axis {axis} (needs source indices "
                f"{idx.min()}..{idx.max()} of axis {src_axis}, which has {src_shape[src_axis]})"
            )
        indices.append(idx)
    return tuple(int(p) for p in perm), indices


def read_nifti_onto(path, volume: Volume) -> np.ndarray:
    """Read a NIfTI (e.g. a label map) onto `volume`'s grid: returns an array of shape ``volume.shape``.

    Exact (no interpolation); the NIfTI may store the same grid in any axis order and direction.
    """
    nib = require("nibabel")
    if not isinstance(volume, Volume):
        raise TypeError(f"volume must be a radseg.dicom.Volume, got {type(volume).__name__}")
    if not volume.is_regular:
        raise DicomError("volume has uneven slice steps; its grid cannot be matched to a NIfTI affine")
    img, data = _load_3d(nib, path)
    try:
        axes, indices = grid_mapping(_LPS_TO_RAS @ img.affine, data.shape, volume)
    except DicomError as exc:
        raise DicomError(f"{path}: {exc}") from None
    return np.ascontiguousarray(data.transpose(axes)[np.ix_(*indices)])


def _load_3d(nib, path):
    """(nibabel image, its data as a 3D array); a trailing axis of length 1 is dropped."""
    img = nib.load(os.fspath(path))
    data = np.asanyarray(img.dataobj)
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise DicomError(f"{path}: expected a 3D image, got shape {data.shape}")
    return img, data
