"""Write small, valid DICOM image series with known geometry: for tests, benchmarks and examples that must run
without patient data.

Every file is a complete CT or MR Image Storage instance (Explicit VR Little Endian, int16 pixels with a
RescaleIntercept), so what reads them back exercises the same code paths as scanner output.
"""
from __future__ import annotations

import datetime
import os
from typing import Optional, Sequence

import numpy as np

from .errors import require

_SOP_CLASS = {"CT": "1.2.840.10008.5.1.4.1.1.2", "MR": "1.2.840.10008.5.1.4.1.1.4"}


def phantom(shape=(16, 64, 64), seed: int = 0) -> np.ndarray:
    """An int16 HU-like phantom [slices, rows, cols]: air, a water ellipse (body), a bone disc, a soft-tissue blob."""
    s, r, c = np.meshgrid(*(np.linspace(-1, 1, n) for n in shape), indexing="ij")
    img = np.full(shape, -1000, dtype=np.int16)
    body = (r / 0.85) ** 2 + (c / 0.7) ** 2 < 1
    img[body] = 20
    img[(r - 0.45) ** 2 + c**2 < 0.12**2] = 700  # a vertebra
    img[(r + 0.1) ** 2 + (c - 0.25) ** 2 + (s * 0.3) ** 2 < 0.25**2] = 60  # an organ
    noise = np.random.default_rng(seed).integers(-5, 6, size=shape).astype(np.int16)
    return (img + noise * body).astype(np.int16)


def write_series(
    folder,
    array: np.ndarray,
    *,
    spacing: Sequence[float] = (2.0, 0.8, 0.8),
    origin: Sequence[float] = (-100.0, -120.0, -50.0),
    orientation: Sequence[float] = (1, 0, 0, 0, 1, 0),
    modality: str = "CT",
    intercept: float = -1024.0,
    slice_positions: Optional[np.ndarray] = None,
    shuffle_seed: Optional[int] = 0,
    series_uid: Optional[str] = None,
    study_uid: Optional[str] = None,
    frame_of_reference_uid: Optional[str] = None,
    patient_id: str = "RADSEG-SYNTH",
) -> list[str]:
    """Write `array` [slices, rows, cols] (values in HU / output units) as one single-frame file per slice.

    Args:
        spacing: (slice, row, col) mm. orientation: ImageOrientationPatient (row direction, then column direction).
        origin: LPS mm of voxel (0, 0, 0). slice_positions: (slices, 3) LPS, overriding the regular grid.
        shuffle_seed: InstanceNumber and file names are assigned in a shuffled order (None: in slice order), so
            readers that sort by them fail.
    Returns:
        The written paths, in slice order.
    """
    pydicom = require("pydicom")
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    array = np.asarray(array)
    if array.ndim != 3:
        raise ValueError(f"array must be 3D [slices, rows, cols], got shape {array.shape}")
    os.makedirs(folder, exist_ok=True)
    iop = np.asarray(orientation, dtype=np.float64)
    col_dir, row_dir = iop[:3], iop[3:]
    normal = np.cross(col_dir, row_dir)
    n = array.shape[0]
    if slice_positions is None:
        slice_positions = np.asarray(origin, float)[None, :] + np.arange(n)[:, None] * spacing[0] * normal[None, :]
    series_uid = series_uid or generate_uid()
    study_uid = study_uid or generate_uid()
    for_uid = frame_of_reference_uid or generate_uid()
    order = np.arange(n)
    if shuffle_seed is not None:
        order = np.random.default_rng(shuffle_seed).permutation(n)
    stored = np.round(array.astype(np.float64) - intercept).astype(np.int64)
    if stored.min() < -32768 or stored.max() > 32767:
        raise ValueError("array minus intercept does not fit int16")
    now = datetime.datetime(2024, 1, 1, 12, 0, 0)
    paths = []
    for k in range(n):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = _SOP_CLASS[modality]
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        path = os.path.join(os.fspath(folder), f"IM{int(order[k]) + 1:04d}.dcm")
        ds = FileDataset(path, {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = meta.MediaStorageSOPClassUID
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study_uid, series_uid, for_uid
        ds.Modality = modality
        ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "Synthetic^Phantom", patient_id, "", "O"
        ds.StudyDate = ds.SeriesDate = ds.ContentDate = now.strftime("%Y%m%d")
        ds.StudyTime = ds.SeriesTime = ds.ContentTime = now.strftime("%H%M%S")
        ds.AccessionNumber, ds.ReferringPhysicianName, ds.StudyID = "", "", "1"
        ds.SeriesNumber, ds.InstanceNumber = 1, int(order[k]) + 1
        ds.Manufacturer = "radseg synthetic"
        ds.SeriesDescription = "radseg synthetic phantom"
        ds.PositionReferenceIndicator = ""
        ds.ImagePositionPatient = [f"{v:.6f}" for v in slice_positions[k]]
        ds.ImageOrientationPatient = [f"{v:.6f}" for v in iop]
        ds.PixelSpacing = [f"{spacing[1]:.6f}", f"{spacing[2]:.6f}"]
        ds.SliceThickness = f"{spacing[0]:.6f}"
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.Rows, ds.Columns = int(array.shape[1]), int(array.shape[2])
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope = f"{intercept:g}", "1"
        if modality == "CT":
            ds.RescaleType, ds.KVP = "HU", "120"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.PixelData = stored[k].astype("<i2").tobytes()
        pydicom.dcmwrite(path, ds, enforce_file_format=True)
        paths.append(path)
    return paths
