"""DICOM SEG out (highdicom) and in (pydicom), on a `Volume`'s voxel grid.

`write_seg` writes one BINARY segment per structure. Every frame references the source instance (and frame, for
multi-frame sources) it was drawn on, carries its plane position, and each segment has a label and SNOMED CT
coded anatomy where the name is known (`radseg.dicom.codes`; other names get the generic SCT 85756007 'Tissue',
with a RadsegWarning listing them). Slices where a mask is empty are not stored (the standard's usual practice),
which `read_seg` restores as zeros. The file appears atomically: it is written to a temporary file in the same
folder, then renamed.

Anonymised sources: UIDs only the file meta holds are used (read_series already does); UIDs nobody holds are a
SegError naming them, or generated with ``fill_missing_uids=True`` (recorded in ``volume.generated_uids``, see
`radseg.dicom.uids`). Patient and study attributes the SEG copies whose values break their VR (a hash as
PatientBirthDate, a 70-character PatientName component, a 20-character AccessionNumber) are blanked (type 2) or
left out (type 3) in the SEG, with one RadsegWarning naming them.

`read_seg` reads any SEG whose frames lie on the volume's grid (ours, dcmqi's, highdicom's): each frame is put on
its slice by its plane position (or, when a frame has none, by the source instance it references); BINARY and
FRACTIONAL (thresholded at half of MaxFractionalValue) and LABELMAP segmentation types are read.
"""
from __future__ import annotations

import os
import warnings
from typing import Mapping, Optional

import numpy as np

from .._atomic import write_atomic
from ..errors import RadsegWarning
from ._headers import META_FALLBACK, clean_copied_attributes, meta_value, set_element, shallow_copy, text
from .codes import segment_codes
from .errors import SegError, require
from .uids import adopt_generated_uids, missing_uids
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
    """(highdicom SegmentDescription, whether `name` has a known anatomy code)."""
    from pydicom.sequence import Sequence
    category, type_code, laterality, known = segment_codes(name)
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
    return desc, known


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
    fill_missing_uids: bool = False,
) -> str:
    """Write `masks` ({name: bool [slices, rows, cols]}) on `volume` as a DICOM SEG file at `path`.

    Args:
        volume: read with `read_series` (its source headers are referenced; a NIfTI volume cannot be).
        algorithm_type: "SEMIAUTOMATIC" (default: interactive clicks), "AUTOMATIC" or "MANUAL".
        fill_missing_uids: what to do when the source images lack a UID the SEG must reference (SOPInstanceUID
            in the dataset and the file meta, StudyInstanceUID, SeriesInstanceUID, FrameOfReferenceUID): False
            (default) raises SegError naming the tag; True generates them with `radseg.dicom.fill_missing_uids`
            (one StudyInstanceUID, SeriesInstanceUID and FrameOfReferenceUID for the series, one SOPInstanceUID
            per instance), warns (RadsegWarning) and records them *in the volume*: ``volume.generated_uids`` holds
            what was generated, and ``volume.source_headers``, ``sop_instance_uids``, ``series_instance_uid``,
            ``study_instance_uid`` and ``frame_of_reference_uid`` the filled values, so ``read_seg(path, volume)``
            maps the frames back and a second SEG of the same volume references the same UIDs. The caller's
            files and datasets are never modified.
    Returns:
        The path written. The SEG's SOPInstanceUID and SeriesInstanceUID are new UIDs.
    Warns:
        RadsegWarning for generated UIDs, for structure names without a known anatomy code (coded as the generic
        SCT 85756007 'Tissue'), and for source attributes the SEG copies whose values break their value
        representation (anonymiser hashes in dates, over-long names and IDs): blanked or left out in the SEG.
    """
    hd = require("highdicom")
    if not isinstance(volume, Volume):
        raise TypeError(f"volume must be a radseg.dicom.Volume, got {type(volume).__name__}")
    if algorithm_type not in _ALGORITHM_TYPES:
        raise ValueError(f"algorithm_type must be one of {_ALGORITHM_TYPES}, got {algorithm_type!r}")
    if not volume.source_headers:
        raise SegError("the volume has no DICOM source instances (was it read from NIfTI?); a SEG must reference "
                       "the images it segments: read the series with radseg.dicom.read_series")
    items = _check_masks(volume, masks)
    multi = any(f is not None for f in volume.frame_numbers)
    if multi and len(volume.source_headers) != 1:
        raise SegError("volumes built from several multi-frame instances are not supported by write_seg")
    slice_sources = _slice_sources(volume, multi)
    sources = _sources_with_uids(volume, slice_sources, fill_missing_uids)
    from radseg import __version__

    version = algorithm_version or __version__
    sources = _prepared_sources(sources, multi)
    n_frames = int(sources[0].get("NumberOfFrames", 1)) if multi else len(sources)
    # Frame order: the source images' order (slice order), or the source's own frame order for multi-frame.
    order = np.array([f - 1 for f in volume.frame_numbers]) if multi else slice_sources
    stack = _pixel_stack(items, order, n_frames, volume.shape[1:])
    omit_empty = bool(stack.any())
    described = [
        _segment_description(hd, k + 1, name, algorithm_type, algorithm, version) for k, (name, _) in enumerate(items)
    ]
    unknown = [name for (name, _), (_, known) in zip(items, described) if not known]
    if unknown:
        warnings.warn(f"no anatomy code known for segment(s) {', '.join(map(repr, unknown))}: coded as the generic "
                      "SCT 85756007 'Tissue' (the segment label keeps the name); name them like 'liver' or "
                      "'kidney_left' (radseg.dicom.codes) for coded anatomy", RadsegWarning, stacklevel=2)
    try:
        seg = hd.seg.Segmentation(
            source_images=sources, pixel_array=stack, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=[d for d, _ in described], series_instance_uid=hd.UID(),
            series_number=int(series_number), sop_instance_uid=hd.UID(), instance_number=1, manufacturer="radseg",
            manufacturer_model_name="radseg", software_versions=version, device_serial_number="0",
            content_label=content_label[:16].upper(), content_description=series_description[:64],
            content_creator_name=content_creator, omit_empty_frames=omit_empty,
        )
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        raise SegError(f"highdicom refused the segmentation: {type(exc).__name__}: {exc}") from exc
    seg.SeriesDescription = series_description[:64]
    return _save_atomic(seg, path)


# ---------------------------------------------------------------------------------------------------- UIDs
# Why a SEG needs each UID, for the error that says which one is missing.
_UID_NEEDS = {
    "SOPInstanceUID": "by which the SEG's frames reference each source image",
    "SOPClassUID": "which the SEG's references carry (and which cannot be generated)",
    "StudyInstanceUID": "which the SEG joins",
    "SeriesInstanceUID": "by which highdicom names the referenced series",
    "FrameOfReferenceUID": "which a DICOM SEG requires to place its frames in patient space",
}


def _slice_sources(volume: Volume, multi: bool) -> np.ndarray:
    """Index into ``volume.source_headers`` of each slice's source instance, int [slices]."""
    n = volume.shape[0]
    if multi:
        return np.zeros(n, dtype=int)
    headers = volume.source_headers
    index = {meta_value(ds, "SOPInstanceUID"): i for i, ds in enumerate(headers)}
    if all(volume.sop_instance_uids) and len(index) == len(headers) and "" not in index:
        try:
            return np.array([index[uid] for uid in volume.sop_instance_uids], dtype=int)
        except KeyError as exc:
            raise SegError(f"slice SOPInstanceUID {exc} is missing from the volume's source headers") from None
    if len(headers) == n:
        return np.arange(n)  # read_series keeps one header per single-frame slice, in slice order
    raise SegError(f"the volume has {n} slices but {len(headers)} source headers and the slices' SOPInstanceUIDs "
                   "do not tell which is which; read the series with radseg.dicom.read_series")


def _source_files(volume: Volume, count: int) -> list[str]:
    """A name for each source header: its file (read_series order), else 'source instance k'."""
    files = list(dict.fromkeys(volume.files))
    return files if len(files) == count else [f"source instance {k + 1}" for k in range(count)]


def _missing_uids_message(missing: dict, files: list[str]) -> str:
    parts = []
    for keyword, lacking in missing.items():
        where = f"missing in {len(lacking)} of {len(files)} source files, e.g. {files[lacking[0]]}"
        if keyword in META_FALLBACK:
            where += f"; their file meta holds no {META_FALLBACK[keyword]} either"
        parts.append(f"no {keyword} ({where}), {_UID_NEEDS[keyword]}")
    msg = "cannot write a DICOM SEG: the source images have " + "; and ".join(parts) + ". "
    if "SOPClassUID" in missing:
        return msg + "Set SOPClassUID in the files (e.g. CT Image Storage 1.2.840.10008.5.1.4.1.1.2)."
    return msg + ("Pass write_seg(..., fill_missing_uids=True) to generate them (warned about, and recorded in "
                  "volume.generated_uids), or add them to the files (one StudyInstanceUID, SeriesInstanceUID and "
                  "FrameOfReferenceUID shared by all files of the series).")


def _sources_with_uids(volume: Volume, slice_sources: np.ndarray, fill: bool) -> list:
    """The volume's source headers with every UID a SEG references, or SegError naming what is missing.

    With `fill`, the missing UIDs are generated on copies, which the volume then adopts (see `write_seg`).
    """
    sources = list(volume.source_headers)
    missing = missing_uids(sources)
    if not missing:
        return sources
    files = _source_files(volume, len(sources))
    if not fill or "SOPClassUID" in missing:
        raise SegError(_missing_uids_message(missing, files))
    return adopt_generated_uids(volume, slice_sources, "SEG")


# Type 2 attributes (present, possibly empty) that highdicom copies from the source into the SEG; anonymised
# series sometimes drop them entirely.
_TYPE2 = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
          "ReferringPhysicianName", "StudyID", "AccessionNumber")


def _prepared_sources(sources: list, multi: bool) -> list:
    """Shallow copies of the source headers that highdicom accepts.

    Missing type 2 patient/study attributes are added empty; an empty SpecificCharacterSet is left out. For single-frame sources, ImageOrientationPatient
    values that differ in the last decimals (read_series accepts 1e-3) get the first one's value: highdicom insists
    on identical values, and a SEG stores one orientation for the stack anyway. In the first source, from which
    highdicom copies the patient and study modules, values that break their VR are blanked or left out, with
    one RadsegWarning naming them (highdicom would refuse some, e.g. a hash as PatientBirthDate, and copy others
    into an invalid SEG).
    """
    iop = sources[0].get("ImageOrientationPatient")
    out = []
    for ds in sources:
        copy = shallow_copy(ds)
        for kw in _TYPE2:
            if kw not in copy:
                set_element(copy, kw, "")
        if not multi and iop is not None:
            set_element(copy, "ImageOrientationPatient", iop)
        if "SpecificCharacterSet" in copy and not str(copy.SpecificCharacterSet or "").strip():
            # Present but empty (some exporters write it so) means the default repertoire, which highdicom refuses
            # to read from an empty value; absent means the same.
            del copy.SpecificCharacterSet
        out.append(copy)
    report = clean_copied_attributes(out[0], text(out[0], "SOPClassUID"))
    if any(report.values()):
        labels = {"blanked": "left blank in the SEG", "removed": "left out of the SEG",
                  "kept": "kept, as the SEG must reference the source study"}
        parts = [f"{labels[k]}: {', '.join(names)}" for k, names in report.items() if names]
        warnings.warn("source attributes the SEG copies break their value representation (anonymised "
                      "values?): " + "; ".join(parts) + "; the source files are unchanged",
                      RadsegWarning, stacklevel=3)
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
