"""The scans whose classical candidates become the body network's training set, as display-oriented volumes.

Torso and head scans of ``../shared/data`` in which the whole outline is in the field of view: BTCV CT (its HU
window [-125, 275]: air reads -125 HU), CHAOS T2 MR, TotalSegmentator's CT and MR examples (and its 512 x 512 DICOM
CT), and pyradiomics' two clinical head MRs and breast MR (NRRD). Left out: crops that cut the body (hippocampus,
left atrium, ITK-SNAP), antspy's MNI152 template (skull-stripped: a brain, not a head) and Colin27 (the same
subject as a ``body_refs`` evaluation head). Validation patients are those of the
click and propagation models (`radseg.training.data.split`).
"""
from __future__ import annotations

import pathlib
from typing import Iterator, Optional

import numpy as np

from ..data import btcv, chaos
from ..data.split import is_validation
from ..data.volumes import Volume, load_display

#: (dataset, modality) of every source, in the order `volumes` yields them.
SOURCES = ("btcv", "chaos", "totalseg_ct", "totalseg_mr", "totalseg_dicom_ct", "pyradiomics")
PYRADIOMICS = ("brain1", "brain2", "breast1")
_NRRD_TYPES = {"short": "i2", "int16": "i2", "ushort": "u2", "unsigned short": "u2", "uchar": "u1",
               "unsigned char": "u1", "int": "i4", "float": "f4"}


def _totalseg(root: pathlib.Path, image: str, labels: str, name: str, modality: str) -> Volume:
    img, spacing = load_display(root / "totalseg" / image, dtype=np.float32)
    lab, _ = load_display(root / "totalseg" / labels, dtype=np.uint8)
    return Volume(name, "totalseg", modality, img, lab, spacing)


def _totalseg_dicom(root: pathlib.Path) -> Volume:
    import radseg.dicom

    vol = radseg.dicom.read_series(root / "totalseg" / "example_ct_dicom")
    lab = radseg.dicom.read_nifti_onto(root / "totalseg" / "example_seg_dicom.nii.gz", vol)
    return Volume("totalseg_dicom_ct", "totalseg", "CT", np.asarray(vol.array, np.float32),
                  np.asarray(lab, np.uint8), tuple(float(v) for v in vol.spacing))


def read_nrrd(path) -> tuple[np.ndarray, tuple]:
    """A 3D NRRD file (raw or gzip, little endian) -> (array [k, j, i] = [slices, rows, cols], spacing mm).

    Only what pyradiomics' files use; the in-plane orientation is left as stored (the body outline does not depend
    on it, and training flips and rotates anyway).
    """
    import gzip

    raw = pathlib.Path(path).read_bytes()
    head, _, body = raw.partition(b"\n\n")
    fields = {}
    for line in head.decode("ascii").splitlines()[1:]:
        if ":" in line and not line.startswith("#"):
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip().lstrip("=").strip()
    sizes = [int(v) for v in fields["sizes"].split()]
    if len(sizes) != 3 or fields.get("endian", "little") != "little":
        raise ValueError(f"{path}: only 3D little-endian NRRD is read here")
    data = gzip.decompress(body) if fields["encoding"] in ("gzip", "gz") else body
    arr = np.frombuffer(data, "<" + _NRRD_TYPES[fields["type"]]).reshape(sizes[::-1])  # [k, j, i]
    dirs = [np.array([float(x) for x in d.strip("()").split(",")]) for d in fields["space directions"].split()]
    spacing = tuple(float(np.linalg.norm(d)) for d in dirs[::-1])
    return arr.astype(np.float32), spacing


def _pyradiomics(root: pathlib.Path, name: str) -> Volume:
    base = root / "pyradiomics" / "data"
    img, spacing = read_nrrd(base / f"{name}_image.nrrd")
    lab = np.zeros(img.shape, np.uint8)
    if (base / f"{name}_label.nrrd").is_file():
        lab_arr, _ = read_nrrd(base / f"{name}_label.nrrd")
        if lab_arr.shape == img.shape:
            lab = (lab_arr > 0).astype(np.uint8)
    return Volume(f"pyradiomics_{name}", "pyradiomics", "MR", img, lab, spacing)


def volumes(root, split: str = "train", only: Optional[tuple] = None) -> Iterator[Volume]:
    """The source volumes of `split` ("train" or "validation"), loaded one at a time.

    Args:
        root: the data folder (``../shared/data``).
        only: restrict to these names of `SOURCES`.
    """
    if split not in ("train", "validation"):
        raise ValueError(f"split must be 'train' or 'validation', got {split!r}")
    root = pathlib.Path(root)
    want = set(only or SOURCES)
    for reader, name in ((btcv, "btcv"), (chaos, "chaos")):
        if name in want:
            for case in reader.cases(root):
                if is_validation(name, case) == (split == "validation"):
                    yield reader.load(root, case)
    if split != "train":
        return
    if "totalseg_ct" in want:
        yield _totalseg(root, "example_ct.nii.gz", "example_seg_fast_force_split.nii.gz", "totalseg_ct", "CT")
    if "totalseg_mr" in want:
        yield _totalseg(root, "example_mr_sm.nii.gz", "example_seg_mr.nii.gz", "totalseg_mr", "MR")
    if "totalseg_dicom_ct" in want:
        yield _totalseg_dicom(root)
    if "pyradiomics" in want:
        for name in PYRADIOMICS:
            yield _pyradiomics(root, name)
