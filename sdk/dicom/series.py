"""Read a DICOM image series into a `Volume`.

`read_series` groups files by SeriesInstanceUID, sorts the slices by their position along the image-plane normal
(never by InstanceNumber or file name), checks that they form one grid, decodes the pixels (any transfer syntax
pydicom can decode with the ``dicom`` extra: uncompressed, RLE, JPEG lossless / baseline, JPEG-LS, JPEG 2000) and
applies RescaleSlope / RescaleIntercept (CT comes out in HU).

Documented behaviour for awkward geometry:

* Several image series in a folder: `MultipleSeriesError` listing them, unless ``series_uid`` picks one.
  Non-image objects (SEG, SR, RTSTRUCT, presentation states, DICOMDIR) are skipped when scanning a folder.
* Oblique and sagittal/coronal acquisitions: handled through ImageOrientationPatient; nothing is resampled.
* Gantry tilt (slice step not perpendicular to the image plane): kept exactly as a sheared grid,
  ``direction[:, 0]`` is the step direction and ``Volume.tilt_deg`` the angle; a warning is recorded.
* Missing slices or uneven steps (beyond 0.01 mm + 0.5 % of the median step): ``uneven="error"`` (default)
  raises `SeriesError` saying where the gap is and how many slices seem missing; ``uneven="allow"`` keeps the
  slices, records a warning, and the Volume maps voxels through the true per-slice positions.
* Two slices at one position (several echoes, phases or acquisitions mixed in one series): `SeriesError`.
* A single slice: its slice spacing is SpacingBetweenSlices, else SliceThickness, else ``slice_spacing``; without
  any of them, `SeriesError`.
* Bad files (not DICOM, truncated, no pixel data, missing geometry, undecodable): `DicomFileError` naming the
  file (``errors="raise"``), or skipped with a warning (``errors="skip"``).
* Hidden folders ('.git', '.venv', ...), Python virtual environments (a folder holding pyvenv.cfg), __pycache__,
  node_modules and site-packages inside a scanned folder are not entered (the folder given itself always is):
  noted in ``Volume.warnings`` and listed in ``Volume.metadata["skipped_folders"]``.
* Anonymised instances whose SOPInstanceUID / SOPClassUID only the file meta holds (MediaStorageSOPInstanceUID /
  MediaStorageSOPClassUID): ``Volume.sop_instance_uids`` and the source headers (copies) use those.

Every note in ``Volume.warnings`` is also emitted as a `DicomGeometryWarning` (a `radseg.RadsegWarning`).
"""
from __future__ import annotations

import os
import warnings
from collections import defaultdict
from typing import Optional

import numpy as np

from ..errors import RadsegWarning
from ._headers import adopt_meta_uids, meta_value, shallow_copy
from ._records import SliceRecord, collect_files, is_image, read_header, slice_records
from .errors import DicomFileError, MultipleSeriesError, SeriesError, require
from .volume import Volume, geometry_from_positions


class DicomGeometryWarning(RadsegWarning):
    """The series was read, but its geometry is unusual (uneven slices, gantry tilt) or files and folders were
    skipped. Every such note is also in ``Volume.warnings``."""


_ORIENTATION_TOL = 1e-3
_POS_ABS_TOL_MM = 0.01
_POS_REL_TOL = 0.005


def _describe(ds) -> dict:
    return {
        "series_uid": str(ds.get("SeriesInstanceUID", "")),
        "modality": str(ds.get("Modality", "")),
        "description": str(ds.get("SeriesDescription", "")),
        "series_number": ds.get("SeriesNumber"),
    }


def _scan(path_or_files, errors: str):
    """Headers of the image files, grouped by series.

    Returns (groups: uid -> [(path, ds)], problems, skipped_folders: hidden and tool folders not entered).
    """
    require("pydicom")
    files, _ignored, skipped = collect_files(path_or_files)
    explicit = not (isinstance(path_or_files, (str, os.PathLike)) and os.path.isdir(os.fspath(path_or_files)))
    groups: dict[str, list] = defaultdict(list)
    problems: list[str] = []
    for k, path in enumerate(files):
        try:
            if isinstance(path, str):
                ds = read_header(path)
            else:  # an in-memory pydicom Dataset (e.g. retrieved over DICOMweb)
                ds = path
                path = f"<dataset {k}: {meta_value(ds, 'SOPInstanceUID') or 'no SOPInstanceUID'}>"
        except DicomFileError as exc:
            if errors == "raise":
                raise
            problems.append(str(exc))
            continue
        if not is_image(ds):
            if explicit:
                exc = DicomFileError(path, f"not an image (Modality {ds.get('Modality', '?')}, SOP class "
                                     f"{ds.get('SOPClassUID', '?')})")
                if errors == "raise":
                    raise exc
                problems.append(str(exc))
            continue
        problem = None
        if not any(kw in ds for kw in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
            problem = "no pixel data (tag PixelData (7FE0,0010) is missing; is the file truncated?)"
        if problem:
            if errors == "raise":
                raise DicomFileError(path, problem)
            problems.append(str(DicomFileError(path, problem)))
            continue
        groups[str(ds.get("SeriesInstanceUID", ""))].append((path, ds))  # may be empty after anonymisation
    return groups, problems, skipped


def list_series(path_or_files) -> list[dict]:
    """The image series found in a folder or list of files: dicts with series_uid, modality, description,
    series_number and files (count). Unreadable files are left out."""
    groups, _, _ = _scan(path_or_files, errors="skip")
    out = []
    for items in groups.values():
        info = _describe(items[0][1])
        info["files"] = len(items)
        out.append(info)
    return out


def _check_same(records: list[SliceRecord], key, what: str):
    values = defaultdict(list)
    for r in records:
        values[key(r)].append(r.path)
    if len(values) > 1:
        ranked = sorted(values.items(), key=lambda kv: -len(kv[1]))
        parts = [f"{k} in {len(v)} slice(s) (e.g. {v[0]})" for k, v in ranked]
        raise SeriesError(f"inconsistent {what} across the series: " + "; ".join(parts)
                          + ". Pass only the files of one stack.")


def _decode(ds, path: str) -> np.ndarray:
    try:
        return ds.pixel_array
    except Exception as exc:  # pydicom raises many types for corrupt or unsupported data
        ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        ts_name = getattr(ts, "name", str(ts))
        hint = ""
        if "plugin" in str(exc).lower() or "handler" in str(exc).lower() or "decoder" in str(exc).lower():
            hint = " (install the pixel-data handlers: pip install 'radseg[dicom]')"
        if "less than expected" in str(exc):
            hint = " (the file looks truncated)"
        raise DicomFileError(path, f"cannot decode pixel data, transfer syntax {ts_name}: "
                                   f"{type(exc).__name__}: {exc}{hint}") from None


def _decode_all(records: list[SliceRecord], errors: str, problems: list[str]):
    """Decode every file once (multi-frame files too). Returns (records whose pixels decoded, frames)."""
    # Sequential on purpose: the pylibjpeg decoders hold the GIL, so threads only add contention.
    decoded: dict[int, Optional[np.ndarray]] = {}
    kept, frames = [], []
    for r in records:
        key = id(r.dataset)
        if key not in decoded:
            try:
                decoded[key] = _decode(r.dataset, r.path)
            except DicomFileError as exc:
                if errors == "raise":
                    raise
                problems.append(str(exc))
                decoded[key] = None
        arr = decoded[key]
        if arr is None:
            continue
        if r.frame is not None and arr.ndim == 3:
            arr = arr[r.frame]
        if arr.shape != (r.rows, r.cols):
            exc = DicomFileError(r.path, f"decoded pixel data has shape {arr.shape}, header says {(r.rows, r.cols)}")
            if errors == "raise":
                raise exc
            problems.append(str(exc))
            continue
        kept.append(r)
        frames.append(arr)
    return kept, frames


def _rescale(records: list[SliceRecord], frames: list[np.ndarray], dtype) -> np.ndarray:
    slopes = np.array([r.slope for r in records])
    inters = np.array([r.intercept for r in records])
    shape = (len(frames),) + frames[0].shape
    integral = np.all(slopes == 1) and np.all(inters == np.round(inters))
    if dtype is None:
        if integral and all(np.issubdtype(f.dtype, np.integer) for f in frames):
            lo = min(int(f.min()) for f in frames) + int(inters.min())
            hi = max(int(f.max()) for f in frames) + int(inters.max())
            dtype = np.int16 if -32768 <= lo and hi <= 32767 else np.int32
        else:
            dtype = np.float32
    out = np.empty(shape, dtype=dtype)
    for i, (f, r) in enumerate(zip(frames, records)):
        if r.slope == 1 and r.intercept == 0:
            out[i] = f
        elif np.issubdtype(np.dtype(dtype), np.integer) and r.slope == 1:
            out[i] = f.astype(np.int32) + int(r.intercept)
        else:
            out[i] = f.astype(np.float64) * r.slope + r.intercept
    return out


def _source_headers(records: list[SliceRecord]) -> tuple:
    """Copies of the datasets without pixel data, in first-use order (for DICOM SEG references).

    Where only the file meta holds SOPInstanceUID / SOPClassUID, the copies get them from it. Shallow copies whose
    changed elements are new ones: the caller's datasets (when it passed Dataset objects) are never modified.
    """
    seen, out = set(), []
    for r in records:
        if id(r.dataset) in seen:
            continue
        seen.add(id(r.dataset))
        header = shallow_copy(r.dataset, pixels=False)
        adopt_meta_uids(header)
        out.append(header)
    return tuple(out)


def _skipped_note(skipped: list[str]) -> str:
    shown = ", ".join(skipped[:5]) + (f" and {len(skipped) - 5} more" if len(skipped) > 5 else "")
    return (f"skipped {len(skipped)} hidden or virtual-environment folder(s) (name starting with '.', holding "
            f"pyvenv.cfg, __pycache__, node_modules, site-packages): {shown}; name a file or folder inside one "
            "to read it")


def _check_steps(records: list[SliceRecord], steps: np.ndarray, step: float, uneven: str) -> list[str]:
    notes = []
    if len(steps) == 0:
        return notes
    dup = np.where(np.abs(steps) <= _POS_ABS_TOL_MM)[0]
    if len(dup):
        i = int(dup[0])
        raise SeriesError(
            f"{len(dup)} pair(s) of slices share a position, e.g. {records[i].path} and {records[i + 1].path} at "
            f"{np.round(records[i].position, 3).tolist()}: the series mixes several echoes, phases or acquisitions; "
            "pass the files of one of them"
        )
    tol = _POS_ABS_TOL_MM + _POS_REL_TOL * abs(step)
    bad = np.where(np.abs(steps - step) > tol)[0]
    if len(bad) == 0:
        return notes
    parts = []
    for i in bad[:5]:
        ratio = steps[i] / step
        missing = int(round(ratio)) - 1
        gap = f"{steps[i]:.3f} mm between {os.path.basename(records[i].path)} and " \
              f"{os.path.basename(records[i + 1].path)} (slices {i} and {i + 1})"
        if missing >= 1 and abs(ratio - round(ratio)) < 0.05:
            gap += f", about {missing} slice(s) missing"
        parts.append(gap)
    msg = (f"uneven slice spacing: the median step is {step:.3f} mm but {len(bad)} step(s) differ: "
           + "; ".join(parts))
    if uneven == "error":
        raise SeriesError(msg + ". Pass uneven='allow' to read it anyway (the Volume then maps voxels through the "
                                "true slice positions), or supply the missing files.")
    notes.append(msg)
    return notes


def read_series(
    path_or_files,
    *,
    series_uid: Optional[str] = None,
    uneven: str = "error",
    errors: str = "raise",
    slice_spacing: Optional[float] = None,
    dtype=None,
) -> Volume:
    """Read one DICOM image series (a folder, searched recursively; a multi-frame file; or a list of files).

    Args:
        path_or_files: folder, file path, or a sequence of file paths and/or pydicom Datasets (e.g. from a
            DICOMweb retrieve; they are not modified).
        series_uid: SeriesInstanceUID to read when there are several image series.
        uneven: "error" (default) or "allow": what to do with missing slices or uneven steps.
        errors: "raise" (default) or "skip": what to do with unreadable files.
        slice_spacing: mm; used only for a single-slice series that has neither SpacingBetweenSlices nor
            SliceThickness.
        dtype: output dtype; default int16/int32 for integral rescales, else float32.
    Returns:
        `Volume` with array [slices, rows, cols], sorted along the slice normal (increasing LPS projection).
    """
    if uneven not in ("error", "allow"):
        raise ValueError(f"uneven must be 'error' or 'allow', got {uneven!r}")
    if errors not in ("raise", "skip"):
        raise ValueError(f"errors must be 'raise' or 'skip', got {errors!r}")
    require("pydicom")
    groups, problems, skipped = _scan(path_or_files, errors)
    if not groups:
        raise SeriesError("no readable image files" + (": " + "; ".join(problems) if problems else ""))
    if series_uid is None:
        if len(groups) > 1:
            infos = []
            for items in groups.values():
                info = _describe(items[0][1])
                info["files"] = len(items)
                infos.append(info)
            raise MultipleSeriesError(infos)
        series_uid = next(iter(groups))
    elif series_uid not in groups:
        raise SeriesError(f"series_uid {series_uid!r} not found; available: {sorted(groups)}")
    items = groups[series_uid]

    records: list[SliceRecord] = []
    for path, ds in items:
        try:
            records.extend(slice_records(path, ds))
        except DicomFileError as exc:
            if errors == "raise":
                raise
            problems.append(str(exc))
    if not records:
        raise SeriesError("no usable slices in series " + series_uid + (": " + "; ".join(problems) if problems else ""))
    # Consistency first (cheap, fails fast), then decode.
    _check_same(records, lambda r: (r.rows, r.cols), "image size (rows, cols)")
    ref = records[0].orientation
    _check_same(records, lambda r: tuple(np.round(ref if np.abs(r.orientation - ref).max() <= _ORIENTATION_TOL
                                                  else r.orientation, 4)), "ImageOrientationPatient")
    _check_same(records, lambda r: tuple(np.round(r.pixel_spacing, 4)), "PixelSpacing")
    records, frames = _decode_all(records, errors, problems)
    if not records:
        raise SeriesError("no decodable slices in series " + series_uid + ": " + "; ".join(problems))
    pixels = {id(r): f for r, f in zip(records, frames)}
    del frames

    col_dir, row_dir = ref[:3], ref[3:]
    normal = np.cross(col_dir, row_dir)
    normal /= np.linalg.norm(normal)
    records.sort(key=lambda r: float(r.position @ normal))
    positions = np.array([r.position for r in records])

    default_step = records[0].spacing_between or records[0].thickness or slice_spacing
    if len(records) == 1 and default_step is None:
        raise SeriesError(
            f"{records[0].path}: a single slice without SpacingBetweenSlices or SliceThickness; pass slice_spacing= "
            "(mm) to read it"
        )
    step, axis, steps = geometry_from_positions(positions, row_dir, col_dir, default_step or 1.0)
    notes = [f"skipped unreadable file: {p}" for p in problems]
    if skipped:
        notes.append(_skipped_note(skipped))
    uneven_notes = _check_steps(records, steps, step, uneven)
    notes += uneven_notes

    # Snap the slice axis to the normal when the positions deviate from the normal line by less than tolerance.
    offsets = (positions - positions[0]) - np.outer((positions - positions[0]) @ normal, normal)
    if len(records) < 2 or np.abs(offsets).max() <= _POS_ABS_TOL_MM:
        axis = normal
    else:
        tilt = np.degrees(np.arccos(min(1.0, abs(float(axis @ normal)))))
        notes.append(
            f"gantry tilt of {tilt:.2f} deg: kept as a sheared grid (direction[:, 0] is the slice step, not the "
            "image normal); resample before using tools that assume orthogonal axes"
        )
    if len(records) >= 2:
        if uneven_notes:
            step = float(np.median(np.diff(positions, axis=0) @ axis))
        else:
            # Even steps: the mean step puts every slice on the grid (the median can drift over many slices).
            step = float((positions[-1] - positions[0]) @ axis) / (len(records) - 1)

    array = _rescale(records, [pixels[id(r)] for r in records], dtype)
    del pixels

    first = records[0].dataset
    direction = np.stack([axis, row_dir, col_dir], axis=1)
    for note in notes:
        warnings.warn(note, DicomGeometryWarning, stacklevel=2)
    return Volume(
        array=array,
        spacing=(step, records[0].pixel_spacing[0], records[0].pixel_spacing[1]),
        origin=positions[0],
        direction=direction,
        slice_positions=positions,
        modality=str(first.get("Modality", "")),
        series_instance_uid=series_uid,
        study_instance_uid=str(first.get("StudyInstanceUID", "")),
        frame_of_reference_uid=str(first.get("FrameOfReferenceUID", "")),
        sop_instance_uids=tuple(meta_value(r.dataset, "SOPInstanceUID") for r in records),
        frame_numbers=tuple(None if r.frame is None else r.frame + 1 for r in records),
        source_headers=_source_headers(records),
        files=tuple(r.path for r in records),
        warnings=tuple(notes),
        metadata={"series_description": str(first.get("SeriesDescription", "")),
                  "patient_id": str(first.get("PatientID", "")), "skipped_folders": list(skipped)},
    )
