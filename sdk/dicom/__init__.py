"""DICOM in, DICOM SEG out, NIfTI in and out.

Loaded lazily by `radseg` (``radseg.dicom`` on first access), so ``import radseg`` never imports pydicom,
highdicom or nibabel. Those come with ``pip install 'radseg[dicom]'``; without them the functions here raise
`MissingDependencyError` (a ModuleNotFoundError) saying so.

    vol = radseg.dicom.read_series("ct_folder/")          # Volume: array [slices, rows, cols], HU for CT
    vol.voxel_to_patient([(s, r, c)])                     # -> LPS mm
    radseg.dicom.write_seg(vol, {"liver": mask}, "seg.dcm")
    masks = radseg.dicom.read_seg("seg.dcm", vol)         # {"liver": bool [slices, rows, cols]}
    radseg.dicom.write_rtstruct(vol, {"BODY": mask}, "rs.dcm")   # RT Structure Set, contours with holes, pydicom only
    masks = radseg.dicom.read_rtstruct("rs.dcm", vol)     # {"BODY": bool [slices, rows, cols]}, even-odd filled

Anonymised series: SOPInstanceUID / SOPClassUID that only the file meta holds (MediaStorageSOPInstanceUID /
MediaStorageSOPClassUID) are used as the instances' UIDs. UIDs nobody holds make `write_seg` raise `SegError`
naming them, unless ``write_seg(..., fill_missing_uids=True)``: it generates them (`fill_missing_uids`, the one
implementation, also for PACS uploads: one Study/Series/FrameOfReference UID per series, one SOPInstanceUID per
instance), warns with `radseg.RadsegWarning` and records them in the volume: ``vol.generated_uids`` holds what
was generated, ``vol.sop_instance_uids`` and the series/study/frame-of-reference UIDs the filled values, so
``read_seg(path, vol)`` maps the SEG back. Header values that break their VR are blanked in the SEG (warned).

Folder scans skip hidden folders ('.git', '.venv', ...), Python virtual environments (pyvenv.cfg), __pycache__,
node_modules and site-packages; `read_series` notes them in ``Volume.warnings`` (a `DicomGeometryWarning`) and
``Volume.metadata["skipped_folders"]``. All warnings here are `radseg.RadsegWarning` subclasses or instances.
"""
from __future__ import annotations

from .errors import (
    DicomError, DicomFileError, MissingDependencyError, MultipleSeriesError, RtstructError, SegError, SeriesError,
)
from .nifti import read_nifti, read_nifti_onto, to_nifti, write_nifti
from .rtstruct import RtstructWarning, read_rtstruct, write_rtstruct
from .seg import read_seg, write_seg
from .series import DicomGeometryWarning, list_series, read_series
from .uids import fill_missing_uids, missing_uids
from .volume import Volume

__all__ = [
    "Volume", "read_series", "list_series", "write_seg", "read_seg", "read_nifti", "read_nifti_onto", "to_nifti",
    "write_nifti", "DicomError", "DicomFileError", "SeriesError", "MultipleSeriesError", "SegError",
    "MissingDependencyError", "DicomGeometryWarning", "fill_missing_uids", "missing_uids", "write_rtstruct",
    "read_rtstruct", "RtstructError", "RtstructWarning",
]
