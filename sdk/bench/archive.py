"""A small DICOM archive for batch tests and benchmarks: real series, copies of them, and deliberately bad ones.

    good = build_archive("archive/", shared="../shared/data", copies=2)      # {folder: expected outcome}
    bad = add_faults("archive/")                                            # {folder: cause}

Good series come from real images only: the CT and MR DICOM series in ``../shared/data`` (TotalSegmentator's
512 x 512 CT, the Visible Human and breast CT slices of body_refs, dcmqi's CT and oblique prostate MR), the CHAOS
T2 MR volumes written as DICOM series (real pixels and spacing, `radseg.dicom.synthetic.write_series`), and
pydicom's bundled CT_small / MR_small. Without ``shared`` only pydicom's files are used. Every copy, the first
included, gets fresh Study / Series / SOP Instance UIDs (pixels and geometry untouched), so copies are distinct
series, as a real archive's are, and series that were anonymised without UIDs get some.

Faults, each in its own folder: a truncated file, a file that is DICOM only in its first bytes, two slices at
one position, a slice of another size; the truncated one and one good series carry a patient name and ID, also
in their folders' names (to check that no patient identifier reaches a log or an error text).
"""
from __future__ import annotations

import glob
import os
import pathlib
from typing import Optional

import numpy as np

PATIENT_NAME, PATIENT_ID = "Doe^Janine", "PID-7731-SECRET"

_SHARED_SERIES = [  # (folder under shared/data, name in the archive)
    ("totalseg/example_ct_dicom", "totalseg_ct"),
    ("body_refs/rtstruct_ct/visible_human/dicom", "visible_human_ct"),
    ("body_refs/rtstruct_ct/breast_dicompyler", "breast_ct"),
    ("dcmqi/data/segmentations/ct-3slice", "dcmqi_ct"),
    ("dcmqi_adc_mr/701-ADCb500", "prostate_adc_mr"),
]


def _image_files(folder) -> list[str]:
    import pydicom

    out = []
    for path in sorted(glob.glob(os.path.join(os.fspath(folder), "**", "*"), recursive=True)):
        if not os.path.isfile(path):
            continue
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception:  # noqa: BLE001 - not a DICOM file: not part of the series
            continue
        if "Rows" in ds and str(ds.get("Modality", "")) in ("CT", "MR"):
            out.append(path)
    return out


def copy_series(files: list[str], dest, patient: Optional[tuple[str, str]] = None) -> int:
    """Copy one series' files into `dest` with fresh Study / Series / SOP Instance UIDs; returns the file count.

    Pixel data is copied as stored (compressed stays compressed). `patient`: (name, ID) to put in the headers.
    """
    import pydicom
    from pydicom.uid import generate_uid

    dest = pathlib.Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    study, series = generate_uid(), generate_uid()
    frame = generate_uid()
    for k, path in enumerate(files):
        ds = pydicom.dcmread(path)
        sop = generate_uid()
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = study, series, sop
        if "FrameOfReferenceUID" not in ds or not str(ds.FrameOfReferenceUID):
            ds.FrameOfReferenceUID = frame
        ds.file_meta.MediaStorageSOPInstanceUID = sop
        if "SOPClassUID" not in ds:
            ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
        if patient is not None:
            ds.PatientName, ds.PatientID = patient
        ds.save_as(dest / f"IM{k + 1:04d}.dcm", enforce_file_format=True)
    return len(files)


def write_chaos_series(shared: pathlib.Path, dest: pathlib.Path, limit: Optional[int]) -> list[str]:
    """Write the first `limit` (None: all) CHAOS T2 MR volumes of `shared` as DICOM series into `dest`; returns
    their folder names ("chaos_t2_01_mr", ...)."""
    import nibabel as nib

    from radseg.dicom.synthetic import write_series

    made = []
    for path in sorted((shared / "chaos_t2_mri" / "images").glob("*.nii.gz"))[:limit]:
        img = nib.load(str(path))
        arr = np.transpose(np.asarray(img.dataobj).astype(np.int16), (2, 1, 0))  # (x, y, z) -> [slices, rows, cols]
        z = [float(v) for v in img.header.get_zooms()[:3]]
        name = path.name[: -len(".nii.gz")] + "_mr"
        write_series(dest / name, arr, spacing=(z[2], z[1], z[0]), modality="MR", intercept=0.0, shuffle_seed=None)
        made.append(name)
    return made


def build_archive(dest, shared=None, copies: int = 1, chaos: Optional[int] = None) -> dict[str, str]:
    """Write the good series into the folder `dest` (created); returns {folder name: "done"}.

    shared: the ``shared/data`` folder (None or missing: pydicom's files only). copies: how many copies of each
    real DICOM series. chaos: how many CHAOS MR volumes to write (None: all).
    """
    from pydicom.data import get_testdata_file

    dest = pathlib.Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    made: dict[str, str] = {}
    sources = [([get_testdata_file("CT_small.dcm")], "pydicom_ct_small"), ([get_testdata_file("MR_small.dcm")],
                                                                           "pydicom_mr_small")]
    shared = pathlib.Path(shared) if shared is not None else None
    if shared is not None and shared.is_dir():
        sources += [(_image_files(shared / folder), name) for folder, name in _SHARED_SERIES
                    if (shared / folder).is_dir()]
    for files, name in sources:
        for c in range(copies):
            folder = f"{name}_{c + 1}" if copies > 1 else name
            copy_series(files, dest / folder)
            made[folder] = "done"
    if shared is not None and (shared / "chaos_t2_mri").is_dir():
        made.update({name: "done" for name in write_chaos_series(shared, dest, chaos)})
    return made


def add_faults(dest) -> dict[str, str]:
    """Write the bad series into `dest`; returns {folder name: a word the failure's cause contains}.

    Also writes "Doe^Janine" (`PATIENT_NAME`, ID `PATIENT_ID`): a good series with a patient name and ID, in a
    folder named after the patient; returned as "done".
    """
    import pydicom
    from pydicom.data import get_testdata_file

    from radseg.dicom.synthetic import phantom, write_series

    dest = pathlib.Path(dest)
    faults: dict[str, str] = {}
    # 1. A series with one file cut short in its pixel data (a transfer that stopped), of a named patient, in a
    #    folder named after the patient (its error names the file: the name must be redacted there).
    truncated = f"{PATIENT_NAME}_truncated"
    paths = write_series(dest / truncated, phantom((6, 64, 64)), shuffle_seed=None, patient_id=PATIENT_ID)
    for path in paths:
        ds = pydicom.dcmread(path)
        ds.PatientName = PATIENT_NAME
        ds.save_as(path, enforce_file_format=True)
    data = pathlib.Path(paths[2]).read_bytes()
    pathlib.Path(paths[2]).write_bytes(data[: len(data) - 3000])
    faults[truncated] = "truncated"
    # 2. A file with the DICOM marker and garbage after it.
    (dest / "garbage").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    (dest / "garbage" / "IM0001.dcm").write_bytes(b"\0" * 128 + b"DICM" + rng.integers(0, 256, 4000, np.uint8).tobytes())
    faults["garbage"] = "not an image"
    # 3. Two slices at the same position.
    paths = write_series(dest / "duplicate_position", phantom((5, 64, 64)), shuffle_seed=None)
    ds = pydicom.dcmread(paths[3])
    ds.ImagePositionPatient = pydicom.dcmread(paths[2]).ImagePositionPatient
    ds.save_as(paths[3], enforce_file_format=True)
    faults["duplicate_position"] = "position"
    # 4. One slice of another size.
    paths = write_series(dest / "mixed_size", phantom((5, 64, 64)), shuffle_seed=None)
    ds = pydicom.dcmread(paths[1])
    small = np.zeros((32, 32), dtype="<i2")
    ds.Rows, ds.Columns, ds.PixelData = 32, 32, small.tobytes()
    ds.save_as(paths[1], enforce_file_format=True)
    faults["mixed_size"] = "rows"
    # 5. A good series carrying a patient's name, in a folder named after the patient.
    copy_series([get_testdata_file("CT_small.dcm")], dest / PATIENT_NAME, patient=(PATIENT_NAME, PATIENT_ID))
    faults[PATIENT_NAME] = "done"
    return faults

