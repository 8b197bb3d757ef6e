"""Intensity normalisation and image checks, shared by every model (training and SDK alike).

The manifest's ``intensity`` section says, per modality, how raw values map to the network's range: a fixed HU
window for CT, the image's own percentiles for MR. 2D slices (the click model) and 3D volumes (propagation: one
normalisation for the whole volume, so neighbouring slices stay comparable) go through the same function.
"""
from __future__ import annotations

import numpy as np

from .manifest import ModelManifest


# ---- intensity ---------------------------------------------------------------------------------------------------
def normalize_intensity(image, modality: str, manifest: ModelManifest, ndim: int = 2) -> np.ndarray:
    """Map raw pixel values (CT in HU, MR in raw units) to the network's range, [0, 1].

    Args:
        image: real array, 2D [rows, cols] (ndim=2) or 3D [slices, rows, cols] (ndim=3); NaN or inf are refused.
        modality: a key of ``manifest.intensity`` ("CT" or "MR"; case-insensitive).
        ndim: 2 or 3. Percentile methods take the percentiles of the whole array (`intensity_bounds`).
    Returns:
        float32 of the image's shape, in [0, 1].
    """
    if ndim not in (2, 3):
        raise ValueError(f"ndim must be 2 (a slice) or 3 (a volume), got {ndim!r}")
    a = check_image(image) if ndim == 2 else check_volume(image)
    return scale_to_bounds(a, intensity_bounds(a, modality, manifest))


#: Percentiles of arrays larger than this are taken on every other voxel along each axis (a 512 x 512 x 300 CT
#: would otherwise take seconds); the training volumes are all smaller, so training and use agree exactly there.
PERCENTILE_FULL_MAX = 8_000_000


def intensity_bounds(image: np.ndarray, modality: str, manifest: ModelManifest) -> tuple:
    """(low, high) raw values that map to 0 and 1: the manifest's window, or the image's own percentiles.
    A flat image gives (v, v), which `scale_to_bounds` maps to zeros."""
    spec = intensity_spec(modality, manifest)
    if spec["method"] == "window":
        return float(spec["low"]), float(spec["high"])
    a = np.asarray(image)
    if a.size > PERCENTILE_FULL_MAX:
        a = a[(slice(None, None, 2),) * a.ndim]
    low, high = (float(v) for v in np.percentile(a, [float(spec["low"]), float(spec["high"])]))
    if "floor" in spec:  # values below the floor (CT padding outside the field of view) count as the floor
        low, high = max(low, float(spec["floor"])), max(high, float(spec["floor"]))
    return low, high


def scale_to_bounds(image: np.ndarray, bounds: tuple) -> np.ndarray:
    """float32 (image - low) / (high - low), clipped to [0, 1]; zeros when high <= low (a flat image)."""
    low, high = bounds
    a = np.asarray(image)
    if not high > low:
        return np.zeros(a.shape, np.float32)
    out = (a.astype(np.float32, copy=False) - np.float32(low)) * np.float32(1.0 / (high - low))  # a new array
    return np.clip(out, 0.0, 1.0, out=out)


def hounsfield_problem(image: np.ndarray):
    """Why a CT image given to radseg cannot be in Hounsfield units, or None when it may well be.

    Every axial CT slice of a patient holds air (-1000 HU) or fat (about -100 HU), so an image with no value below
    0, or of an unsigned dtype, holds raw stored values that were never rescaled (HU = stored * RescaleSlope +
    RescaleIntercept). Zero-filled images are left alone (nothing to say about them).
    """
    a = np.asarray(image)
    if np.issubdtype(a.dtype, np.unsignedinteger) and a.any():
        return f"the CT image has the unsigned dtype {a.dtype}, which cannot hold Hounsfield units (air is -1000 HU)"
    low = float(a.min()) if a.size else 0.0
    if low >= 0 and a.any():
        return (f"the CT image has no value below 0 (min {low:g}, max {float(a.max()):g}), but air is -1000 HU and "
                "fat -100 HU")
    return None


def intensity_spec(modality: str, manifest: ModelManifest) -> dict:
    if not isinstance(modality, str):
        raise TypeError(f"modality must be a string such as 'CT' or 'MR', got {type(modality).__name__}")
    key = {k.upper(): k for k in manifest.intensity}.get(modality.upper())
    if key is None:
        raise ValueError(f"unknown modality {modality!r}; this model supports {sorted(manifest.intensity)}")
    return manifest.intensity[key]


def _check_real(image, name: str, ndim: int, axes: str, hint: str) -> np.ndarray:
    """`image` as an `ndim`-D real ndarray, or ValueError/TypeError saying what is wrong (the shared checks)."""
    a = np.asarray(image)
    if a.dtype == np.bool_ or not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise TypeError(f"{name} must be a real-valued (integer or float) array, got dtype {a.dtype}")
    if a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}D [{axes}], got shape {a.shape}{hint}")
    if a.size == 0:
        raise ValueError(f"{name} is empty (shape {a.shape})")
    if np.issubdtype(a.dtype, np.floating) and not np.isfinite(a).all():
        where = "" if ndim == 2 else " (first at slice {}, row {}, col {})".format(*np.argwhere(~np.isfinite(a))[0])
        raise ValueError(f"{name} contains NaN or inf values{where}; replace them (e.g. np.nan_to_num) before "
                         "segmenting")
    return a


def check_image(image, name: str = "image") -> np.ndarray:
    """Return `image` as a 2D real ndarray, or raise ValueError/TypeError saying what is wrong."""
    return _check_real(image, name, 2, "rows, cols", "; pass one slice of a volume")


def check_volume(volume, name: str = "volume") -> np.ndarray:
    """Return `volume` as a 3D real ndarray [slices, rows, cols], or raise ValueError/TypeError saying what is wrong."""
    return _check_real(volume, name, 3, "slices, rows, cols", "")
