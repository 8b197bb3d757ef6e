"""DICOM SEG out (highdicom) and in (pydicom), on a `Volume`'s voxel grid.

`write_seg` writes one BINARY segment per structure. Every frame references the source instance (and frame, for
multi-frame sources) it was drawn on, carries its plane position, and each segment has a label and SNOMED CT
coded anatomy where the name is known (`radseg.dicom.codes`). Slices where a mask is empty are not stored (the
standard's usual practice), which `read_seg` restores as zeros. The file appears atomically: it is written to a
temporary file in the same folder, then renamed.

`read_seg` reads any SEG whose frames lie on the volume's grid (ours, dcmqi's, highdicom's): each frame is put on
its slice by its plane position (or, when a frame has none, by the source instance it references); BINARY and
FRACTIONAL (thresholded at half of MaxFractionalValue) and LABELMAP segmentation types are read.
"""
from __future__ import annotations

import os
from typing import Mapping, Optional

import numpy as np

from .._atomic import write_atomic
from .codes import segment_codes
from .errors import SegError, require
from .volume import Volume

_ALGORITHM_TYPES = ("MANUAL", "SEMIAUTOMATIC", "AUTOMATIC")


def _check_masks(volume: Volume, masks: Mapping[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:
    if not isinstance(masks, Mapping) or not masks:
        raise ValueError("masks must be a non-empty dict {structure name: bool array [slices, rows, cols]}")
    out = []
    for name, mask in masks.items():
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"masks keys must be non-empty structure names, got {name!r}")
        m = np.asarray(mask)
        if m.shape != volume.shape:
            raise ValueError(f"masks[{name!r}] has shape {m.shape}, the volume is {volume.shape} [slices, rows, cols]")
        if not (m.dtype == np.bool_ or np.issubdtype(m.dtype, np.integer)):
            raise ValueError(f"masks[{name!r}] must be bool or integer (nonzero = inside), got {m.dtype}; threshold "
                             "probabilities first")
        out.append((name.strip(), m != 0 if m.dtype != np.bool_ else m))
    labels = [n for n, _ in out]
    if len(set(labels)) != len(labels):
        raise ValueError(f"masks has duplicate structure names after stripping spaces: {labels}")
    return out


def _segment_description(hd, number: int, name: str, algorithm_type: str, algorithm: str, version: str):
    from pydicom.sequence import Sequence
    category, type_code, laterality, _known = segment_codes(name)
    kind = hd.seg.SegmentAlgorithmTypeValues[algorithm_type]
    ident = None
    if algorithm_type != "MANUAL":
        from pydicom.sr.codedict import codes

        ident = hd.AlgorithmIdentificationSequence(
            name=algorithm, version=version, family=codes.cid7162.ArtificialIntelligence
        )
    desc = hd.seg.SegmentDescription(
        segment_number=number, segment_label=name[:64], segmented_property_category=category,
        segmented_property_type=type_code, algorithm_type=kind, algorithm_identification=ident,
        tracking_uid=hd.UID(), tracking_id=name[:64],
    )
    if laterality is not None:
        item = hd.sr.CodedConcept(laterality.value, laterality.scheme_designator, laterality.meaning)
        desc.SegmentedPropertyTypeCodeSequence[0].SegmentedPropertyTypeModifierCodeSequence = Sequence([item])
    return desc


def write_seg(
    volume: Volume,
    masks: Mapping[str, np.ndarray],
    path,
    *,
    algorithm: str = "radseg",
    algorithm_version: Optional[str] = None,
    algorithm_type: str = "SEMIAUTOMATIC",
    series_description: str = "radseg segmentation",
    series_number: int = 900,
    content_label: str = "RADSEG",
    content_creator: Optional[str] = None,
) -> str:
    """Write `masks` ({name: bool [slices, rows, cols]}) on `volume` as a DICOM SEG file at `path`.

    Args:
        volume: read with `read_series` (its source headers are referenced; a NIfTI volume cannot be).
        algorithm_type: "SEMIAUTOMATIC" (default: interactive clicks), "AUTOMATIC" or "MANUAL".
    Returns:
        The path written. The SEG's SOPInstanceUID and SeriesInstanceUID are new UIDs.
    """
    hd = require("highdicom")
    if not isinstance(volume, Volume):
        raise TypeError(f"volume must be a radseg.dicom.Volume, got {type(volume).__name__}")
    if algorithm_type not in _ALGORITHM_TYPES:
        raise ValueError(f"algorithm_type must be one of {_ALGORITHM_TYPES}, got {algorithm_type!r}")
    if not volume.source_headers or not all(volume.sop_instance_uids):
        raise SegError("the volume has no DICOM source instances (was it read from NIfTI?); a SEG must reference "
                       "the images it segments: read the series with radseg.dicom.read_series")
    items = _check_masks(volume, masks)
    if not all(str(ds.get("FrameOfReferenceUID", "")) for ds in volume.source_headers):
        raise SegError("the source images have no FrameOfReferenceUID, which a DICOM SEG requires to place its "
                       "frames in patient space; add one to the series (all its files the same) before segmenting")
    from radseg import __version__

    version = algorithm_version or __version__
    sources = list(volume.source_headers)
    multi = any(f is not None for f in volume.frame_numbers)
    if multi and len(sources) != 1:
        raise SegError("volumes built from several multi-frame instances are not supported by write_seg")
    sources = _prepared_sources(sources, multi)
    n_frames = int(sources[0].get("NumberOfFrames", 1)) if multi else len(sources)
    # Frame order: the source images' order (slice order), or the source's own frame order for multi-frame.
    order = np.array([f - 1 for f in volume.frame_numbers]) if multi else _source_order(volume, sources)
    stack = _pixel_stack(items, order, n_frames, volume.shape[1:])
    omit_empty = bool(stack.any())
    descriptions = [
        _segment_description(hd, k + 1, name, algorithm_type, algorithm, version) for k, (name, _) in enumerate(items)
    ]
    try:
        seg = hd.seg.Segmentation(
            source_images=sources, pixel_array=stack, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=descriptions, series_instance_uid=hd.UID(), series_number=int(series_number),
            sop_instance_uid=hd.UID(), instance_number=1, manufacturer="radseg", manufacturer_model_name="radseg",
            software_versions=version, device_serial_number="0", content_label=content_label[:16].upper(),
            content_description=series_description[:64], content_creator_name=content_creator,
            omit_empty_frames=omit_empty,
        )
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        raise SegError(f"highdicom refused the segmentation: {type(exc).__name__}: {exc}") from exc
    seg.SeriesDescription = series_description[:64]
    return _save_atomic(seg, path)


# Type 2 attributes (present, possibly empty) that highdicom copies from the source into the SEG; anonymised
# series sometimes drop them entirely.
_TYPE2 = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
          "ReferringPhysicianName", "StudyID", "AccessionNumber")


def _prepared_sources(sources: list, multi: bool) -> list:
    """Shallow copies of the source headers that highdicom accepts.

    Missing type 2 patient/study attributes are added empty. For single-frame sources, ImageOrientationPatient
    values that differ in the last decimals (read_series accepts 1e-3) get the first one's value: highdicom insists
    on identical values, and a SEG stores one orientation for the stack anyway.
    """
    pydicom = require("pydicom")
    iop = sources[0].get("ImageOrientationPatient")
    out = []
    for ds in sources:
        copy = pydicom.Dataset()
        for elem in ds:
            copy.add(elem)
        copy.file_meta = ds.file_meta
        for kw in _TYPE2:
            if kw not in copy:
                setattr(copy, kw, "")
        if not multi and iop is not None:
            copy.ImageOrientationPatient = iop
        out.append(copy)
    return out


def _pixel_stack(items, order: np.ndarray, n_frames: int, frame_shape: tuple) -> np.ndarray:
    """What highdicom takes as pixel_array, frames in source order.

    Non-overlapping structures go in as a label map [frames, rows, cols] (segment numbers): highdicom then checks
    one maximum instead of summing a [frames, rows, cols, segments] stack, several times faster on big volumes.
    Overlapping structures need the 4D boolean stack, built segments-first in memory (a transposed view), which
    makes highdicom's overlap sum over the segment axis about 5x faster. Both give the same BINARY SEG.
    """
    count = np.zeros((len(order),) + frame_shape, dtype=np.uint8)
    for _, m in items:
        count += m
    if len(items) < 256 and count.max(initial=0) <= 1:
        labels = np.zeros((n_frames,) + frame_shape, dtype=np.uint8)
        for k, (_, m) in enumerate(items):
            labels[order] += m.astype(np.uint8) * np.uint8(k + 1)
        return labels
    stack = np.zeros((len(items), n_frames) + frame_shape, dtype=bool)
    for k, (_, m) in enumerate(items):
        stack[k, order] = m
    return stack.transpose(1, 2, 3, 0)


def _source_order(volume: Volume, sources) -> np.ndarray:
    """Index into `sources` of each slice (single-frame sources)."""
    index = {str(ds.SOPInstanceUID): i for i, ds in enumerate(sources)}
    try:
        return np.array([index[uid] for uid in volume.sop_instance_uids])
    except KeyError as exc:
        raise SegError(f"slice SOPInstanceUID {exc} is missing from the volume's source headers") from None


def _save_atomic(ds, path) -> str:
    return write_atomic(path, lambda tmp: ds.save_as(tmp, enforce_file_format=True), suffix=".dcm.part")


# ---------------------------------------------------------------------------------------------------- reading
def _frame_item(ds, i: int, seq: str):
    for kw, idx in (("PerFrameFunctionalGroupsSequence", i), ("SharedFunctionalGroupsSequence", 0)):
        groups = ds.get(kw)
        if groups is not None and len(groups) > idx:
            sub = groups[idx].get(seq)
            if sub is not None and len(sub):
                return sub[0]
    return None


def _segment_labels(ds) -> dict[int, str]:
    labels, used = {}, set()
    for item in ds.SegmentSequence:
        base = str(item.get("SegmentLabel", "") or f"segment {item.SegmentNumber}")
        name, k = base, 2
        while name in used:
            name, k = f"{base} ({k})", k + 1
        used.add(name)
        labels[int(item.SegmentNumber)] = name
    return labels


def _slice_of_frame(ds, i: int, volume: Volume, uid_index: dict, path: str) -> int:
    pos_item = _frame_item(ds, i, "PlanePositionSequence")
    by_uid = None
    deriv = _frame_item(ds, i, "DerivationImageSequence")
    if deriv is not None and "SourceImageSequence" in deriv and len(deriv.SourceImageSequence):
        src = deriv.SourceImageSequence[0]
        frame = src.get("ReferencedFrameNumber")
        key = (str(src.ReferencedSOPInstanceUID), int(frame) if frame not in (None, "") else None)
        by_uid = uid_index.get(key, uid_index.get((key[0], None)))
    if pos_item is None or "ImagePositionPatient" not in pos_item:
        if by_uid is None:
            raise SegError(f"{path}: frame {i + 1} has neither a plane position nor a source image in this volume")
        return by_uid
    idx = volume.patient_to_voxel([float(v) for v in pos_item.ImagePositionPatient])
    s = int(round(float(idx[0])))
    in_plane_tol = 0.01 / min(volume.spacing[1:])
    if abs(idx[0] - s) > 0.05 or abs(idx[1]) > max(0.05, in_plane_tol) or abs(idx[2]) > max(0.05, in_plane_tol):
        raise SegError(f"{path}: frame {i + 1} at {list(pos_item.ImagePositionPatient)} is not on the volume's grid "
                       f"(voxel index {np.round(idx, 3).tolist()})")
    if not 0 <= s < volume.shape[0]:
        raise SegError(f"{path}: frame {i + 1} lies outside the volume (slice {s} of {volume.shape[0]})")
    if by_uid is not None and by_uid != s:
        raise SegError(f"{path}: frame {i + 1} references the source image of slice {by_uid} but lies on slice {s}")
    return s


def read_seg(path, volume: Volume, *, check_frame_of_reference: bool = True) -> dict[str, np.ndarray]:
    """Read a DICOM SEG onto `volume`'s grid: {segment label: bool [slices, rows, cols]}, in segment order.

    Duplicate labels get " (2)", " (3)" appended. Raises SegError when the SEG is not on this volume's grid.
    """
    pydicom = require("pydicom")
    if not isinstance(volume, Volume):
        raise TypeError(f"volume must be a radseg.dicom.Volume, got {type(volume).__name__}")
    path = os.fspath(path)
    try:
        ds = pydicom.dcmread(path)
    except pydicom.errors.InvalidDicomError as exc:
        raise SegError(f"{path}: not a DICOM file ({exc})") from None
    except (EOFError, OSError, ValueError) as exc:
        raise SegError(f"{path}: unreadable, perhaps truncated ({type(exc).__name__}: {exc})") from None
    if str(ds.get("Modality", "")) != "SEG" or "SegmentSequence" not in ds:
        raise SegError(f"{path}: not a DICOM SEG (Modality {ds.get('Modality', '?')!r})")
    seg_for, vol_for = str(ds.get("FrameOfReferenceUID", "")), volume.frame_of_reference_uid
    if check_frame_of_reference and seg_for and vol_for and seg_for != vol_for:
        raise SegError(f"{path}: FrameOfReferenceUID {seg_for} differs from the volume's {vol_for}; pass "
                       "check_frame_of_reference=False if the grids are known to match")
    if (int(ds.Rows), int(ds.Columns)) != volume.shape[1:]:
        raise SegError(f"{path}: frames are {int(ds.Rows)}x{int(ds.Columns)}, the volume's slices are "
                       f"{volume.shape[1]}x{volume.shape[2]}")
    ori = _frame_item(ds, 0, "PlaneOrientationSequence")
    if ori is not None and "ImageOrientationPatient" in ori:
        iop = np.array([float(v) for v in ori.ImageOrientationPatient])
        want = np.concatenate([volume.direction[:, 2], volume.direction[:, 1]])
        if np.abs(iop - want).max() > 1e-3:
            raise SegError(f"{path}: ImageOrientationPatient {iop.tolist()} differs from the volume's {want.tolist()}")
    seg_type = str(ds.get("SegmentationType", "BINARY"))
    labels = _segment_labels(ds)
    n = int(ds.get("NumberOfFrames", 1))
    out = {name: np.zeros(volume.shape, dtype=bool) for name in labels.values()}
    if n == 0 or "PixelData" not in ds:
        return out
    try:
        frames = ds.pixel_array
    except Exception as exc:
        raise SegError(f"{path}: cannot decode the segmentation frames ({type(exc).__name__}: {exc})") from None
    frames = frames.reshape((n,) + volume.shape[1:])
    uid_index = {(uid, fn): s for s, (uid, fn) in enumerate(zip(volume.sop_instance_uids, volume.frame_numbers
                                                                 or (None,) * volume.shape[0]))}
    maxval = float(ds.get("MaximumFractionalValue", 1) or 1)
    for i in range(n):
        s = _slice_of_frame(ds, i, volume, uid_index, path)
        if seg_type == "LABELMAP":
            for number, name in labels.items():
                out[name][s] |= frames[i] == number
            continue
        ident = _frame_item(ds, i, "SegmentIdentificationSequence")
        if ident is None:
            raise SegError(f"{path}: frame {i + 1} does not say which segment it belongs to")
        number = int(ident.ReferencedSegmentNumber)
        if number not in labels:
            raise SegError(f"{path}: frame {i + 1} references segment {number}, which SegmentSequence lacks")
        frame = frames[i] >= maxval / 2 if seg_type == "FRACTIONAL" else frames[i] != 0
        out[labels[number]][s] |= frame
    return out
