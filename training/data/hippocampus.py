"""MSD Task04 hippocampus (T1 MR crops around one hippocampus; ../shared/data/msd_hippocampus, read its SOURCE.txt).

1 mm isotropic; intensity scales differ wildly between files, which the MR percentile normalisation absorbs.
Labels: 1 anterior, 2 posterior hippocampus (MSD, CC BY-SA 4.0). The left and right crops of one subject are
separate volumes and subject ids are not published, so the split below is by file number only.
"""
from __future__ import annotations

import pathlib

import numpy as np

from .volumes import Volume, load_display

LABELS = {1: "anterior hippocampus", 2: "posterior hippocampus"}


def cases(root) -> list[str]:
    base = pathlib.Path(root) / "msd_hippocampus"
    names = sorted(p.name[:-7] for p in (base / "images").glob("*.nii.gz"))
    return [n for n in names if (base / "labels" / f"{n}.nii.gz").is_file()]


def load(root, case: str) -> Volume:
    base = pathlib.Path(root) / "msd_hippocampus"
    img, spacing = load_display(base / "images" / f"{case}.nii.gz", dtype=np.float32)
    lab, _ = load_display(base / "labels" / f"{case}.nii.gz", dtype=np.uint8)
    if img.shape != lab.shape:
        raise ValueError(f"hippocampus {case}: image {img.shape} and label {lab.shape} shapes differ")
    return Volume(case, "hippocampus", "MR", img, lab, spacing, dict(LABELS))
