"""Per-file header parsing: one `SliceRecord` per image plane (a single-frame file gives one, a multi-frame file one
per frame). Pure header work; pixel decoding happens in series.py. Every failure names the file.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Optional

import numpy as np

from .errors import DicomFileError, require

# SOP classes and modalities that are never image slices of a volume (skipped when scanning a folder).
NON_IMAGE_MODALITIES = {"SEG", "SR", "KO", "PR", "RTSTRUCT", "RTPLAN", "RTDOSE", "REG", "RWV", "DOC", "PLAN"}
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"


@dataclasses.dataclass
class SliceRecord:
    """One image plane: where it lies and how to get its pixels."""

    path: str
    dataset: object  # pydicom Dataset (pixel data possibly deferred)
    frame: Optional[int]  # 0-based frame index inside a multi-frame file, None for single-frame
    position: np.ndarray  # (3,) LPS mm, ImagePositionPatient
    orientation: np.ndarray  # (6,) ImageOrientationPatient
    pixel_spacing: tuple  # (row mm, col mm)
    rows: int
    cols: int
    slope: float
    intercept: float
    thickness: Optional[float]
    spacing_between: Optional[float]


def has_dicom_magic(path: str) -> bool:
    """True when the file carries the 'DICM' marker after the 128-byte preamble (DICOM Part 10)."""
    try:
        with open(path, "rb") as f:
            head = f.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def read_header(path: str):
    """Read one file's dataset with pixel data deferred (read on first access). Raises DicomFileError."""
    pydicom = require("pydicom")
    try:
        return pydicom.dcmread(path, defer_size="64 KB")
    except pydicom.errors.InvalidDicomError:
        # pydicom's own text ends in "Use force=True to force reading", advice for its API, not ours
        raise DicomFileError(path, "not a DICOM file (no 'DICM' marker after the 128-byte preamble, no file meta "
                                   "header)") from None
    except (EOFError, OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DicomFileError(path, f"unreadable DICOM header, the file may be truncated ({type(exc).__name__}: {exc})") from None


def is_image(ds) -> bool:
    """True for datasets that can be slices of an image volume (not SEG/SR/RTSTRUCT/DICOMDIR...).

    Decided by the SOP class ("... Image Storage"), so a truncated image file still counts as an image (and then
    fails loudly) instead of being skipped; by Modality and content when the SOP class is missing or unknown.
    """
    meta = getattr(ds, "file_meta", None)
    sop = (meta.get("MediaStorageSOPClassUID") if meta is not None else None) or ds.get("SOPClassUID")
    if sop is not None:
        if str(sop) == MEDIA_STORAGE_DIRECTORY:
            return False
        name = getattr(sop, "name", "") or ""
        if name and name != str(sop):
            return "Image Storage" in name
    if str(ds.get("Modality", "")).upper() in NON_IMAGE_MODALITIES:
        return False
    return "PixelData" in ds or ("Rows" in ds and "Columns" in ds)


def _functional(ds, frame: int, seq: str, attr: str):
    """Attribute `attr` of functional group `seq` for `frame` (per-frame first, then shared), or None."""
    for groups_kw, index in (("PerFrameFunctionalGroupsSequence", frame), ("SharedFunctionalGroupsSequence", 0)):
        groups = ds.get(groups_kw)
        if groups is None or len(groups) <= index:
            continue
        sub = groups[index].get(seq)
        if sub is not None and len(sub) and attr in sub[0]:
            return sub[0][attr].value
    return None


def _floats(value, n: int, path: str, what: str) -> np.ndarray:
    try:
        out = np.array([float(v) for v in value], dtype=np.float64)
    except (TypeError, ValueError):
        raise DicomFileError(path, f"{what} is not numeric: {value!r}") from None
    if out.shape != (n,) or not np.all(np.isfinite(out)):
        raise DicomFileError(path, f"{what} must have {n} finite values, got {value!r}")
    return out


def _optional_float(value) -> Optional[float]:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) and v > 0 else None


def slice_records(path: str, ds) -> list[SliceRecord]:
    """The image planes of one file. Raises DicomFileError for missing pixel data or geometry."""
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise DicomFileError(path, "no pixel data (tag PixelData (7FE0,0010) is missing; is the file truncated?)")
    for tag in ("Rows", "Columns"):
        if tag not in ds:
            raise DicomFileError(path, f"missing {tag}")
    if int(ds.get("SamplesPerPixel", 1)) != 1:
        raise DicomFileError(path, f"colour images are not supported (SamplesPerPixel={ds.SamplesPerPixel})")
    rows, cols = int(ds.Rows), int(ds.Columns)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    enhanced = "PerFrameFunctionalGroupsSequence" in ds or "SharedFunctionalGroupsSequence" in ds
    out = []
    for i in range(frames):
        if enhanced:
            ipp = _functional(ds, i, "PlanePositionSequence", "ImagePositionPatient")
            iop = _functional(ds, i, "PlaneOrientationSequence", "ImageOrientationPatient")
            ps = _functional(ds, i, "PixelMeasuresSequence", "PixelSpacing")
            thick = _functional(ds, i, "PixelMeasuresSequence", "SliceThickness")
            between = _functional(ds, i, "PixelMeasuresSequence", "SpacingBetweenSlices")
            slope = _functional(ds, i, "PixelValueTransformationSequence", "RescaleSlope")
            inter = _functional(ds, i, "PixelValueTransformationSequence", "RescaleIntercept")
        else:
            if frames > 1:
                raise DicomFileError(
                    path, f"multi-frame file with {frames} frames but no per-frame geometry (functional groups)"
                )
            ipp, iop, ps = ds.get("ImagePositionPatient"), ds.get("ImageOrientationPatient"), ds.get("PixelSpacing")
            thick, between = ds.get("SliceThickness"), ds.get("SpacingBetweenSlices")
            slope, inter = ds.get("RescaleSlope"), ds.get("RescaleIntercept")
        ipp = ipp if ipp is not None else (ds.get("ImagePositionPatient") if enhanced else None)
        iop = iop if iop is not None else (ds.get("ImageOrientationPatient") if enhanced else None)
        ps = ps if ps is not None else (ds.get("PixelSpacing") if enhanced else None)
        for value, name in ((ipp, "ImagePositionPatient"), (iop, "ImageOrientationPatient"), (ps, "PixelSpacing")):
            if value is None or (hasattr(value, "__len__") and len(value) == 0):
                frame_note = f" for frame {i + 1}" if frames > 1 else ""
                raise DicomFileError(path, f"missing geometry tag {name}{frame_note}; cannot place the slice in space")
        pos = _floats(ipp, 3, path, "ImagePositionPatient")
        ori = _floats(iop, 6, path, "ImageOrientationPatient")
        if abs(np.linalg.norm(ori[:3]) - 1) > 1e-2 or abs(np.linalg.norm(ori[3:]) - 1) > 1e-2 or abs(ori[:3] @ ori[3:]) > 1e-2:
            raise DicomFileError(path, f"ImageOrientationPatient is not two orthogonal unit vectors: {list(ori)}")
        ori = np.concatenate([ori[:3] / np.linalg.norm(ori[:3]), ori[3:] / np.linalg.norm(ori[3:])])
        spacing = _floats(ps, 2, path, "PixelSpacing")
        if np.any(spacing <= 0):
            raise DicomFileError(path, f"PixelSpacing must be positive, got {list(spacing)}")
        out.append(
            SliceRecord(
                path=path, dataset=ds, frame=i if frames > 1 or enhanced else None, position=pos, orientation=ori,
                pixel_spacing=(float(spacing[0]), float(spacing[1])), rows=rows, cols=cols,
                slope=float(slope) if slope not in (None, "") else 1.0,
                intercept=float(inter) if inter not in (None, "") else 0.0,
                thickness=_optional_float(thick), spacing_between=_optional_float(between),
            )
        )
    return out


def _is_dataset(obj) -> bool:
    return type(obj).__module__.startswith("pydicom") and hasattr(obj, "dir") and hasattr(obj, "file_meta")


# Folders a recursive scan never enters: they hold tools, not patient data (a checkout's .git and .venv, where
# pydicom's own test files would otherwise form extra series or fail to read).
SKIPPED_FOLDER_NAMES = {"__pycache__", "node_modules", "site-packages"}


def skip_folder(path: str) -> bool:
    """True for folders a folder scan skips: hidden ('.name'), Python virtual environments (holding pyvenv.cfg),
    __pycache__, node_modules and site-packages."""
    name = os.path.basename(os.path.normpath(path))
    return (name.startswith(".") or name in SKIPPED_FOLDER_NAMES
            or os.path.isfile(os.path.join(path, "pyvenv.cfg")))


def collect_files(path_or_files) -> tuple[list, list[str], list[str]]:
    """Expand a folder (recursively, sorted), a single file, or a list of files.

    Returns (candidates, ignored, skipped_folders): in a folder, files without the DICM marker are ignored
    (READMEs, thumbnails), and the sub-folders `skip_folder` names are not entered (skipped_folders lists them,
    not what they hold); files named explicitly are always candidates, so a wrong one fails loudly. The folder
    given itself is always read, even a hidden one. pydicom Datasets in a list are passed through as they are.
    """
    if isinstance(path_or_files, (str, os.PathLike)):
        root = os.fspath(path_or_files)
        if os.path.isdir(root):
            found, ignored, skipped = [], [], []
            for dirpath, dirnames, filenames in os.walk(root):
                kept = []
                for name in sorted(dirnames):
                    full = os.path.join(dirpath, name)
                    if skip_folder(full):
                        skipped.append(full)
                    else:
                        kept.append(name)
                dirnames[:] = kept  # os.walk descends only into what is left here
                for name in sorted(filenames):
                    full = os.path.join(dirpath, name)
                    (found if has_dicom_magic(full) else ignored).append(full)
            if not found:
                note = f", {len(skipped)} hidden or tool folders skipped: {', '.join(skipped)}" if skipped else ""
                raise DicomFileError(root, f"no DICOM files in this folder ({len(ignored)} other files{note})")
            return found, ignored, skipped
        if not os.path.exists(root):
            raise FileNotFoundError(f"path_or_files: {root} does not exist")
        return [root], [], []
    try:
        files = [p if _is_dataset(p) else os.fspath(p) for p in path_or_files]
    except TypeError:
        raise TypeError(
            f"path_or_files must be a folder, a file, or a list of files, got {type(path_or_files).__name__}"
        ) from None
    if not files:
        raise ValueError("path_or_files is an empty list; pass at least one DICOM file")
    for f in files:
        if isinstance(f, str) and not os.path.isfile(f):
            raise FileNotFoundError(f"path_or_files: {f} is not a file")
    return files, [], []
