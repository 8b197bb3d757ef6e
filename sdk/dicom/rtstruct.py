"""DICOM RT Structure Set (RTSTRUCT) out and in, on a `Volume`'s voxel grid, with pydicom only.

`write_rtstruct` turns each mask (bool [slices, rows, cols]) into CLOSED_PLANAR contours in patient coordinates
(DICOM LPS, mm), one contour per closed boundary of each slice, each referencing the image it was drawn on
(ContourImageSequence). Radiotherapy systems know structures only as such polygons.

How masks become polygons, and why that is exact:

* A boundary is traced along pixel *edges* (the "cracks" between a foreground and a background pixel), not
  through pixel centres; collinear points are dropped, so a straight run of edge costs two points. The polygon's
  vertices are pixel corners: in voxel indices (row +/- 0.5, col +/- 0.5), mapped to patient space through the
  volume's geometry (oblique and gantry-tilted series too).
* Outer boundaries and hole boundaries are written as *separate* contours (a ring is two contours, a region with
  three holes four). Combined with the even-odd rule (a pixel is inside when a ray from it crosses the slice's
  contours an odd number of times) they restore the holes. That is how `read_rtstruct` and the reference
  rasteriser of ``shared/data/body_refs`` fill them, as treatment-planning systems combine a structure's
  contours on one plane (the standard's later CLOSEDPLANAR_XOR contour type spells the rule out; it is read too).
* Pixel centres never lie on a crack (they are half a pixel away from every edge), so filling the polygons at
  pixel centres with the even-odd rule reproduces the mask *exactly*: write -> read is pixel-exact (tested on
  holes, islands, diagonal-touching pixels and masks touching the image border; the written coordinates are
  rounded to 1e-6 mm, far inside the half-pixel margin). Where two foreground pixels touch only
  at a corner, each is outlined separately (4-connected foreground) and the two polygons share that vertex.
* A TPS that fills polygons by area coverage instead of pixel centres sees the same region: the crack polygon
  covers exactly the mask's pixels (its area is the pixel count times the pixel area).

`read_rtstruct` reads any RTSTRUCT (ours, a treatment-planning system's): each closed contour is put on the slice
whose image plane it lies in (by its distance along the slice normal, within ``tolerance_mm``), its points are
mapped into that slice's (row, col) grid through the inverse of the volume geometry, and the slice's contours of
one ROI are filled together at pixel centres with the even-odd rule. Contours that lie on no slice (a structure
set drawn on a finer CT, or on planes between the images) are left out with one `RtstructWarning` saying how
many.
"""
from __future__ import annotations

import copy
import datetime
import os
import pathlib
import warnings
from typing import Mapping, Optional, Sequence

import numpy as np

from .._atomic import write_atomic
from ..errors import RadsegWarning
from ._headers import clean_copied_attributes, copied_attributes, meta_value, set_element, shallow_copy
from .errors import RtstructError, require
from .uids import adopt_generated_uids, missing_uids
from ._contours import fill_contours, trace_contours
from .volume import Volume

RT_STRUCTURE_SET_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"
# The SOP class a study reference in RTReferencedStudySequence names by convention: Detached Study Management
# (retired; others write Study Component Management, 1.2.840.10008.3.1.2.3.2). Readers look only at the UID.
_STUDY_REFERENCE_CLASS = "1.2.840.10008.3.1.2.3.1"

_ALGORITHM_TYPES = ("MANUAL", "SEMIAUTOMATIC", "AUTOMATIC")
# RTROIInterpretedType defined terms (PS3.3 C.8.8.8).
ROI_TYPES = (
    "EXTERNAL", "PTV", "CTV", "GTV", "TREATED_VOLUME", "IRRAD_VOLUME", "OAR", "BOLUS", "AVOIDANCE", "ORGAN", "MARKER",
    "REGISTRATION", "ISOCENTER", "CONTRAST_AGENT", "CAVITY", "BRACHY_CHANNEL", "BRACHY_ACCESSORY",
    "BRACHY_SRC_APP", "BRACHY_CHNL_SHLD", "SUPPORT", "FIXATION", "DOSE_REGION", "CONTROL", "DOSE_MEASUREMENT",
)
_EXTERNAL_NAMES = ("BODY", "EXTERNAL")
# ROIDisplayColor when the caller gives none: the body green (as TPSs show it), then a cycle of distinct colours.
_BODY_COLOR = (0, 255, 0)
_PALETTE = ((255, 0, 0), (0, 128, 255), (255, 255, 0), (255, 0, 255), (0, 255, 255), (255, 128, 0),
            (128, 0, 255), (0, 255, 128), (255, 128, 128), (128, 128, 255))
_AREA_TYPES = ("CLOSED_PLANAR", "CLOSEDPLANAR_XOR")  # the contour types that bound an area
_COORD_DECIMALS = 6  # mm; DS strings hold 16 characters, and 1e-6 mm is far below any pixel
_CONTOUR_DATA = 0x30060050


class RtstructWarning(RadsegWarning):
    """Something in an RT Structure Set was left out or assumed (contours on no slice, non-area contours)."""


# ================================================================================================ writing
def _check_masks(volume: Volume, masks) -> list[tuple[str, np.ndarray]]:
    if not isinstance(masks, Mapping) or not masks:
        raise ValueError("masks must be a non-empty dict {ROI name: bool array [slices, rows, cols]}")
    out = []
    for name, mask in masks.items():
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"masks keys must be non-empty ROI names, got {name!r}")
        m = np.asarray(mask)
        if m.shape != volume.shape:
            raise ValueError(f"masks[{name!r}] has shape {m.shape}, the volume is {volume.shape} [slices, rows, cols]")
        if m.dtype != np.bool_:
            # 0/1 integers (a uint8 NIfTI mask) are a mask; anything else is a label map or probabilities.
            if not np.issubdtype(m.dtype, np.integer) or (m.size and (m.min() < 0 or m.max() > 1)):
                span = f" with values {m.min()}..{m.max()}" if m.size and np.issubdtype(m.dtype, np.number) else ""
                raise ValueError(f"masks[{name!r}] must be bool (or integers 0/1), got {m.dtype}{span}; threshold "
                                 "probabilities, or split a label map into one mask per label (labels == k)")
            m = m != 0
        out.append((name.strip(), m))
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise ValueError(f"masks has duplicate ROI names after stripping spaces: {names}")
    too_long = [n for n in names if len(n) > 64]
    if too_long:
        raise ValueError(f"ROI names are at most 64 characters (DICOM LO): {too_long}; shorten them")
    unwritable = [n for n in names if "\\" in n or not n.isprintable()]
    if unwritable:  # a backslash separates DICOM values; control characters are not allowed in LO
        raise ValueError(f"ROI names cannot hold backslashes or control characters: {unwritable}; rename them")
    return out


def _roi_type(name: str, roi_types: Mapping) -> str:
    kind = roi_types.get(name)
    if kind is None:
        return "EXTERNAL" if name.upper() in _EXTERNAL_NAMES else "ORGAN"
    return kind


def _check_options(names: list[str], roi_types, colors) -> tuple[dict, dict]:
    roi_types = dict(roi_types or {})
    colors = dict(colors or {})
    for option, given in (("roi_types", roi_types), ("colors", colors)):
        unknown = [k for k in given if k not in names]
        if unknown:
            raise ValueError(f"{option} names ROI(s) {unknown} that masks does not have ({names})")
    for name, kind in roi_types.items():
        if kind not in ROI_TYPES:
            raise ValueError(f"roi_types[{name!r}] = {kind!r} is not an RTROIInterpretedType; use one of "
                             f"{', '.join(ROI_TYPES)}")
    for name, rgb in colors.items():
        values = np.asarray(rgb)
        if (values.shape != (3,) or not np.issubdtype(values.dtype, np.integer) or values.min() < 0
                or values.max() > 255):
            raise ValueError(f"colors[{name!r}] must be three integers 0..255 (R, G, B), got {rgb!r}")
    return roi_types, colors


def _slice_sources(volume: Volume) -> list[int]:
    """Index into ``volume.source_headers`` of each slice's source instance."""
    headers = volume.source_headers
    n = volume.shape[0]
    by_uid = {meta_value(ds, "SOPInstanceUID"): k for k, ds in enumerate(headers)}
    out = []
    for s in range(n):
        uid = volume.sop_instance_uids[s] if volume.sop_instance_uids else ""
        k = by_uid.get(uid) if uid else None
        if k is None and len(headers) == n:
            k = s  # read_series keeps one header per single-frame slice, in slice order
        if k is None and len(headers) == 1:
            k = 0  # one multi-frame instance
        if k is None:
            raise RtstructError(f"cannot tell which source instance slice {s} comes from (the volume has {n} "
                                f"slices and {len(headers)} source headers); read the series with "
                                "radseg.dicom.read_series")
        out.append(k)
    return out


def _slice_references(volume: Volume) -> list[tuple[str, str, Optional[int]]]:
    """Per slice: (ReferencedSOPClassUID, ReferencedSOPInstanceUID, ReferencedFrameNumber or None)."""
    frames = volume.frame_numbers or (None,) * volume.shape[0]
    out = []
    for k, frame in zip(_slice_sources(volume), frames):
        ds = volume.source_headers[k]
        out.append((meta_value(ds, "SOPClassUID"), meta_value(ds, "SOPInstanceUID"),
                    int(frame) if frame is not None else None))
    return out


def _ensure_uids(volume: Volume, fill: bool) -> None:
    """Make sure the volume's sources hold every UID a structure set references, or raise RtstructError.

    With `fill`, missing UIDs are generated on copies of the source headers, which the volume then adopts, exactly
    as ``write_seg(..., fill_missing_uids=True)`` does (so a SEG and an RTSTRUCT of one volume agree).
    """
    sources = list(volume.source_headers)
    missing = missing_uids(sources)
    if not missing:
        return
    what = ", ".join(f"{kw} (in {len(idx)} of {len(sources)} source instances)" for kw, idx in missing.items())
    if not fill or "SOPClassUID" in missing:
        fix = ("set SOPClassUID in the files (e.g. CT Image Storage 1.2.840.10008.5.1.4.1.1.2)"
               if "SOPClassUID" in missing else
               "pass write_rtstruct(..., fill_missing_uids=True) to generate them (warned about, and recorded in "
               "volume.generated_uids), or add them to the files")
        raise RtstructError(f"cannot write an RTSTRUCT: the source images lack {what}, which the structure set "
                            f"must reference; {fix}")
    adopt_generated_uids(volume, _slice_sources(volume), "RTSTRUCT")


def _patient_and_study(pydicom, source) -> "pydicom.Dataset":
    """The Patient and Study module attributes of `source`, cleaned of values that break their VR (warned)."""
    src = shallow_copy(source, pixels=False)
    sop_class = meta_value(src, "SOPClassUID")
    report = clean_copied_attributes(src, sop_class)
    if any(report.values()):
        labels = {"blanked": "left blank in the RTSTRUCT", "removed": "left out of the RTSTRUCT",
                  "kept": "kept, as the RTSTRUCT must reference the source study"}
        parts = [f"{labels[k]}: {', '.join(names)}" for k, names in report.items() if names]
        warnings.warn("source attributes the RTSTRUCT copies break their value representation (anonymised "
                      "values?): " + "; ".join(parts) + "; the source files are unchanged",
                      RadsegWarning, stacklevel=3)
    out = pydicom.Dataset()
    for keyword in copied_attributes(sop_class):
        if keyword in src:
            out.add(copy.deepcopy(src[keyword]))
    # Type 2 attributes of the Patient and General Study modules: present, empty when the source lacks them.
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                    "ReferringPhysicianName", "StudyID", "AccessionNumber"):
        if keyword not in out:
            set_element(out, keyword, "")
    return out


def _ds_values(points: np.ndarray) -> list[str]:
    """LPS mm -> DS strings (at most 16 characters: rounded to 1e-6 mm, 10 significant digits)."""
    flat = np.round(np.asarray(points, dtype=np.float64).ravel(), _COORD_DECIMALS) + 0.0  # + 0.0: no "-0"
    return [f"{v:.10g}" for v in flat.tolist()]


def _contour_items(pydicom, volume: Volume, mask: np.ndarray, refs, number: list) -> list:
    """ContourSequence items of one ROI: every crack boundary of every slice, in patient coordinates."""
    from pydicom import config
    from pydicom.sequence import Sequence as DicomSequence

    items = []
    for s in np.nonzero(mask.reshape(mask.shape[0], -1).any(axis=1))[0]:
        sop_class, sop_uid, frame = refs[s]
        for poly in trace_contours(mask[s]):
            voxels = np.concatenate([np.full((len(poly), 1), float(s)), poly], axis=1)
            image = pydicom.Dataset()
            image.ReferencedSOPClassUID = sop_class
            image.ReferencedSOPInstanceUID = sop_uid
            if frame is not None:
                image.ReferencedFrameNumber = frame
            item = pydicom.Dataset()
            item.ContourImageSequence = DicomSequence([image])
            item.ContourGeometricType = "CLOSED_PLANAR"
            item.NumberOfContourPoints = len(poly)
            item.ContourNumber = number[0]
            # _ds_values makes valid DS strings; pydicom's check of each would double the cost of writing.
            values = _ds_values(volume.voxel_to_patient(voxels))
            item[_CONTOUR_DATA] = pydicom.DataElement(_CONTOUR_DATA, "DS", values, validation_mode=config.IGNORE)
            items.append(item)
            number[0] += 1
    return items


def write_rtstruct(
    volume: Volume,
    masks: Mapping[str, np.ndarray],
    path,
    *,
    roi_types: Optional[Mapping[str, str]] = None,
    colors: Optional[Mapping[str, Sequence[int]]] = None,
    series_description: str = "radseg",
    series_number: int = 901,
    label: str = "RADSEG",
    algorithm_type: str = "SEMIAUTOMATIC",
    algorithm: str = "radseg",
    fill_missing_uids: bool = False,
) -> pathlib.Path:
    """Write `masks` ({ROI name: bool [slices, rows, cols]}) on `volume` as a DICOM RT Structure Set at `path`.

    Each slice's mask becomes CLOSED_PLANAR contours in patient coordinates (DICOM LPS, mm) traced along pixel
    edges: outer boundaries and hole boundaries are separate contours, so filling a slice's contours with the
    even-odd rule restores its holes (see the module docstring); `read_rtstruct` gives the masks back
    pixel-exact. Every contour references its image (ContourImageSequence); the structure set references the
    study, series and every image of the volume (ReferencedFrameOfReferenceSequence). The file appears atomically.

    Args:
        volume: read with `read_series` (its source instances are referenced; a NIfTI volume cannot be).
        masks: bool [slices, rows, cols] on the volume's grid (0/1 integers are accepted). An empty mask gives an
            ROI without contours.
        roi_types: {name: RTROIInterpretedType} (`ROI_TYPES`). Default: EXTERNAL for an ROI named BODY or
            EXTERNAL (any case), ORGAN for the others.
        colors: {name: (R, G, B) 0..255}, the ROIDisplayColor. Default: green for the body, a palette otherwise.
        series_description, series_number, label: the new RTSTRUCT series' description and number, and the
            StructureSetLabel (16 characters at most).
        algorithm_type: ROIGenerationAlgorithm, "SEMIAUTOMATIC" (default), "AUTOMATIC" or "MANUAL".
        fill_missing_uids: as for `write_seg`: generate the UIDs an anonymised series lacks (warned; recorded in
            ``volume.generated_uids`` and the volume's UID attributes) instead of raising RtstructError.
    Returns:
        The path written (pathlib.Path). Its SOPInstanceUID and SeriesInstanceUID are new UIDs.
    Raises:
        ValueError for masks that are empty ({}), of the wrong shape or not bool; RtstructError when the volume has
        no DICOM sources or lacks UIDs the structure set must reference.
    """
    pydicom = require("pydicom")
    from pydicom.dataset import FileMetaDataset
    from pydicom.sequence import Sequence as DicomSequence
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian, generate_uid

    if not isinstance(volume, Volume):
        raise TypeError(f"volume must be a radseg.dicom.Volume, got {type(volume).__name__}")
    if algorithm_type not in _ALGORITHM_TYPES:
        raise ValueError(f"algorithm_type must be one of {_ALGORITHM_TYPES}, got {algorithm_type!r}")
    items = _check_masks(volume, masks)
    names = [n for n, _ in items]
    roi_types, colors = _check_options(names, roi_types, colors)
    if not volume.source_headers:
        raise RtstructError("the volume has no DICOM source instances (was it read from NIfTI?); an RTSTRUCT must "
                            "reference the images it outlines: read the series with radseg.dicom.read_series")
    _ensure_uids(volume, fill_missing_uids)
    refs = _slice_references(volume)
    from radseg import __version__

    now = datetime.datetime.now()
    ds = _patient_and_study(pydicom, volume.source_headers[0])
    ds.SpecificCharacterSet = "ISO_IR 192"  # UTF-8: ROI names may be in any language
    ds.SOPClassUID = RT_STRUCTURE_SET_STORAGE
    ds.SOPInstanceUID = generate_uid()
    ds.InstanceCreationDate, ds.InstanceCreationTime = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
    ds.StudyInstanceUID = volume.study_instance_uid
    ds.Modality = "RTSTRUCT"
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = int(series_number)
    ds.SeriesDescription = series_description[:64]
    ds.OperatorsName = ""
    ds.Manufacturer, ds.ManufacturerModelName, ds.SoftwareVersions = "radseg", "radseg", __version__
    ds.InstanceNumber = 1
    ds.StructureSetLabel = label[:16]
    ds.StructureSetName = series_description[:64]
    ds.StructureSetDate, ds.StructureSetTime = ds.InstanceCreationDate, ds.InstanceCreationTime

    frame_of_reference = volume.frame_of_reference_uid
    images = []
    for sop_class, sop_uid, frame in dict.fromkeys(refs):  # each referenced image (and frame) once, slice order
        image = pydicom.Dataset()
        image.ReferencedSOPClassUID, image.ReferencedSOPInstanceUID = sop_class, sop_uid
        if frame is not None:
            image.ReferencedFrameNumber = frame
        images.append(image)
    series = pydicom.Dataset()
    series.SeriesInstanceUID = volume.series_instance_uid
    series.ContourImageSequence = DicomSequence(images)
    study = pydicom.Dataset()
    study.ReferencedSOPClassUID, study.ReferencedSOPInstanceUID = _STUDY_REFERENCE_CLASS, volume.study_instance_uid
    study.RTReferencedSeriesSequence = DicomSequence([series])
    referenced_for = pydicom.Dataset()
    referenced_for.FrameOfReferenceUID = frame_of_reference
    referenced_for.RTReferencedStudySequence = DicomSequence([study])
    ds.ReferencedFrameOfReferenceSequence = DicomSequence([referenced_for])

    rois, contours, observations = [], [], []
    palette = iter(_PALETTE * (len(items) // len(_PALETTE) + 1))
    number = [1]  # ContourNumber, unique across the structure set
    for k, (name, mask) in enumerate(items, start=1):
        kind = _roi_type(name, roi_types)
        roi = pydicom.Dataset()
        roi.ROINumber, roi.ReferencedFrameOfReferenceUID, roi.ROIName = k, frame_of_reference, name
        roi.ROIGenerationAlgorithm = algorithm_type
        roi.ROIGenerationDescription = algorithm[:64]
        rois.append(roi)
        color = colors.get(name) or (_BODY_COLOR if kind == "EXTERNAL" else next(palette))
        contour = pydicom.Dataset()
        contour.ReferencedROINumber = k
        contour.ROIDisplayColor = [int(v) for v in color]
        contour.ContourSequence = DicomSequence(_contour_items(pydicom, volume, mask, refs, number))
        contours.append(contour)
        obs = pydicom.Dataset()
        obs.ObservationNumber, obs.ReferencedROINumber = k, k
        obs.ROIObservationLabel = name[:16]
        obs.RTROIInterpretedType, obs.ROIInterpreter = kind, ""
        observations.append(obs)
    ds.StructureSetROISequence = DicomSequence(rois)
    ds.ROIContourSequence = DicomSequence(contours)
    ds.RTROIObservationsSequence = DicomSequence(observations)

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = RT_STRUCTURE_SET_STORAGE
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta = meta
    ds.preamble = b"\0" * 128
    target = pathlib.Path(os.fspath(path))
    write_atomic(target, lambda tmp: ds.save_as(tmp, enforce_file_format=True), suffix=".dcm.part")
    return target


# ================================================================================================ reading
def _read_dataset(pydicom, path: str):
    try:
        ds = pydicom.dcmread(path)
    except pydicom.errors.InvalidDicomError as exc:
        raise RtstructError(f"{path}: not a DICOM file ({exc}); give an RT Structure Set file") from None
    except FileNotFoundError:
        raise
    except (EOFError, OSError, ValueError) as exc:
        raise RtstructError(f"{path}: unreadable, perhaps truncated ({type(exc).__name__}: {exc})") from None
    sop_class = meta_value(ds, "SOPClassUID")
    if str(ds.get("Modality", "")) != "RTSTRUCT" and sop_class != RT_STRUCTURE_SET_STORAGE:
        raise RtstructError(f"{path}: not an RT Structure Set (Modality {str(ds.get('Modality', '')) or '?'!r}, "
                            f"SOP class {sop_class or '?'}); give the RTSTRUCT file that outlines this series")
    if "StructureSetROISequence" not in ds:
        raise RtstructError(f"{path}: the structure set has no StructureSetROISequence, so its ROIs have no names "
                            "or numbers; the file is incomplete")
    return ds


def _roi_names(ds) -> dict[int, tuple[str, str]]:
    """{ROINumber: (unique name, ReferencedFrameOfReferenceUID)} in StructureSetROISequence order."""
    out, used = {}, set()
    for item in ds.StructureSetROISequence:
        base = str(item.get("ROIName", "") or "").strip() or f"ROI {item.ROINumber}"
        name, k = base, 2
        while name in used:
            name, k = f"{base} ({k})", k + 1
        used.add(name)
        out[int(item.ROINumber)] = (name, str(item.get("ReferencedFrameOfReferenceUID", "") or ""))
    return out


def _check_frame_of_reference(ds, rois: dict, volume: Volume, path: str) -> None:
    """RtstructError when the ROIs (or, where they name none, the structure set) are in another frame of reference."""
    vol_for = volume.frame_of_reference_uid
    if not vol_for:
        return
    wrong = {name: uid for name, uid in rois.values() if uid and uid != vol_for}
    if not any(uid for _, uid in rois.values()):
        listed = [str(item.get("FrameOfReferenceUID", "") or "")
                  for item in ds.get("ReferencedFrameOfReferenceSequence", None) or []]
        listed = [uid for uid in listed if uid]
        if listed and vol_for not in listed:
            wrong = {"(the structure set)": listed[0]}
    if wrong:
        names = ", ".join(repr(n) for n in list(wrong)[:5]) + (", ..." if len(wrong) > 5 else "")
        raise RtstructError(f"{path}: ROI(s) {names} are in frame of reference {next(iter(wrong.values()))}, the "
                            f"volume's is {vol_for}: the structure set outlines another series' patient space; "
                            "give it the series it was drawn on, or pass check_frame_of_reference=False if the two "
                            "are known to share patient coordinates")


def _default_tolerance(volume: Volume) -> float:
    # Contours of a structure set drawn on this series lie on its image planes (to the rounding of their DS
    # strings, ~0.01 mm). Half a millimetre, or a quarter of the slice step on thin slices, accepts that rounding
    # and never puts a contour drawn between two images onto either of them.
    return min(0.5, volume.spacing[0] / 4)


def read_rtstruct(
    path, volume: Volume, *, tolerance_mm: Optional[float] = None, check_frame_of_reference: bool = True
) -> dict[str, np.ndarray]:
    """Read an RT Structure Set onto `volume`'s grid: {ROI name: bool [slices, rows, cols]}, in ROI order.

    Each CLOSED_PLANAR (or CLOSEDPLANAR_XOR) contour is put on the slice whose image plane it lies in: the mean
    of its points' distances along the slice normal must be within `tolerance_mm` of the slice's, and every point
    within `tolerance_mm` of that mean (a contour tilted against the image plane lies on no slice). Its points are
    mapped into that slice's (row, col) pixel indices through the inverse of the volume's geometry (the in-plane
    components along the row and column directions, divided by the pixel spacing), and all contours of one ROI on
    one slice are filled together at pixel centres with the even-odd rule (`fill_contours`): holes drawn as
    separate contours stay holes. Masks written by `write_rtstruct` come back pixel-exact.

    Args:
        volume: the series the structure set outlines (`read_series`).
        tolerance_mm: how far (mm, along the slice normal) a contour may lie from an image plane; default
            min(0.5, slice spacing / 4).
        check_frame_of_reference: raise RtstructError when the ROIs' ReferencedFrameOfReferenceUID differs from
            the volume's FrameOfReferenceUID (default); False when the grids are known to share patient space.
    Returns:
        One entry per ROI of StructureSetROISequence (ROIName; duplicates get " (2)", ...; ROIs without contours
        are empty masks).
    Warns:
        RtstructWarning naming how many contours (of which ROIs) lie on no slice, and how many are not area
        contours (POINT, OPEN_PLANAR, OPEN_NONPLANAR); both are left out.
    Raises:
        RtstructError for a file that is not an RT Structure Set, a structure set of another frame of reference,
        a contour whose point data is malformed.
    """
    pydicom = require("pydicom")
    if not isinstance(volume, Volume):
        raise TypeError(f"volume must be a radseg.dicom.Volume, got {type(volume).__name__}")
    path = os.fspath(path)
    tol = _default_tolerance(volume) if tolerance_mm is None else float(tolerance_mm)
    if not (np.isfinite(tol) and tol >= 0):
        raise ValueError(f"tolerance_mm must be a non-negative number of mm, got {tolerance_mm!r}")
    ds = _read_dataset(pydicom, path)
    rois = _roi_names(ds)
    if check_frame_of_reference:
        _check_frame_of_reference(ds, rois, volume, path)
    out = {name: np.zeros(volume.shape, dtype=bool) for name, _ in rois.values()}
    normal = volume.slice_normal
    heights = volume.slice_positions @ normal  # each image plane's distance along the normal
    row_dir, col_dir = volume.direction[:, 1], volume.direction[:, 2]
    off: dict[str, int] = {}
    skipped: dict[str, int] = {}
    total = 0
    for roi_contour in ds.get("ROIContourSequence", []):
        number = int(roi_contour.get("ReferencedROINumber", -1))
        if number not in rois:
            raise RtstructError(f"{path}: an ROIContourSequence item references ROI number {number}, which "
                                "StructureSetROISequence lacks; the file is inconsistent")
        name = rois[number][0]
        per_slice: dict[int, list[np.ndarray]] = {}
        for k, contour in enumerate(roi_contour.get("ContourSequence", []) or []):
            total += 1
            kind = str(contour.get("ContourGeometricType", "")).strip()
            if kind not in _AREA_TYPES:
                skipped[name] = skipped.get(name, 0) + 1
                continue
            points = _contour_points(contour, path, name, k)
            if len(points) < 3:
                continue  # fewer than three points bound no area
            h = points @ normal
            mean = float(h.mean())
            s = int(np.argmin(np.abs(heights - mean)))
            if abs(heights[s] - mean) > tol or float(np.abs(h - mean).max()) > tol:
                off[name] = off.get(name, 0) + 1
                continue
            rel = points - volume.slice_positions[s]
            rc = np.stack([rel @ row_dir / volume.spacing[1], rel @ col_dir / volume.spacing[2]], axis=1)
            per_slice.setdefault(s, []).append(rc)
        for s, polygons in per_slice.items():
            out[name][s] = fill_contours(polygons, volume.shape[1:])
    if off:
        listed = ", ".join(f"{n!r} ({c})" for n, c in off.items())
        warnings.warn(f"{path}: {sum(off.values())} of {total} contours lie on no slice of the volume (more than "
                      f"{tol:g} mm from every image plane along the slice normal): {listed}; they are left out. "
                      "Pass tolerance_mm= if they belong to slices they were rounded away from",
                      RtstructWarning, stacklevel=2)
    if skipped:
        listed = ", ".join(f"{n!r} ({c})" for n, c in skipped.items())
        warnings.warn(f"{path}: {sum(skipped.values())} contours are not closed planar contours (POINT, OPEN_PLANAR "
                      f"or OPEN_NONPLANAR) and bound no area: {listed}; they are left out",
                      RtstructWarning, stacklevel=2)
    return out


def _contour_points(contour, path: str, name: str, k: int) -> np.ndarray:
    """ContourData as float64 [n, 3] LPS mm; RtstructError when it is not whole (x, y, z) triplets."""
    elem = contour.get_item(_CONTOUR_DATA)
    try:
        if elem is None:
            values = np.zeros(0)
        elif elem.is_raw and elem.value is not None:
            # The file's bytes, parsed by numpy: pydicom's per-value DS objects cost ~10 us each, and a body
            # outline has a million of them.
            text = bytes(elem.value).strip(b" \0")
            values = np.array(text.split(b"\\"), dtype=np.float64) if text else np.zeros(0)
        else:
            values = np.asarray([float(v) for v in (contour.ContourData or [])], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise RtstructError(f"{path}: contour {k + 1} of ROI {name!r} has non-numeric ContourData ({exc})") from None
    if values.size % 3 or not np.all(np.isfinite(values)):
        raise RtstructError(f"{path}: contour {k + 1} of ROI {name!r} has {values.size} ContourData values, not "
                            "finite (x, y, z) triplets")
    return values.reshape(-1, 3)


__all__ = ["write_rtstruct", "read_rtstruct", "trace_contours", "fill_contours", "RtstructWarning", "ROI_TYPES",
           "RT_STRUCTURE_SET_STORAGE"]
