"""DICOM in, DICOM SEG out, NIfTI in and out.

Loaded lazily by `radseg` (``radseg.dicom`` on first access), so ``import radseg`` never imports pydicom,
highdicom or nibabel. Those come with ``pip install 'radseg[dicom]'``; without them the functions here raise
`MissingDependencyError` (a ModuleNotFoundError) saying so.

    vol = radseg.dicom.read_series("ct_folder/")          # Volume: array [slices, rows, cols], HU for CT
    vol.voxel_to_patient([(s, r, c)])                     # -> LPS mm
    radseg.dicom.write_seg(vol, {"liver": mask}, "seg.dcm")
    masks = radseg.dicom.read_seg("seg.dcm", vol)         # {"liver": bool [slices, rows, cols]}
"""
from __future__ import annotations

from .errors import (
    DicomError, DicomFileError, MissingDependencyError, MultipleSeriesError, SegError, SeriesError,
)
from .nifti import read_nifti, read_nifti_onto, to_nifti, write_nifti
from .seg import read_seg, write_seg
from .series import DicomGeometryWarning, list_series, read_series
from .volume import Volume

__all__ = [
    "Volume", "read_series", "list_series", "write_seg", "read_seg", "read_nifti", "read_nifti_onto", "to_nifti",
    "write_nifti", "DicomError", "DicomFileError", "SeriesError", "MultipleSeriesError", "SegError",
    "MissingDependencyError", "DicomGeometryWarning",
]
