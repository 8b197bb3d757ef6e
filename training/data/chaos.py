"""CHAOS abdominal MR T2-SPIR (the SSL-ALPNet copy in ../shared/data/chaos_t2_mri; read its SOURCE.txt).

Raw MR units (int16, top 0.5 % of the histogram cut upstream), 1.25 x 1.25 x 7.7 mm. Labels: 1 liver, 2 right
kidney, 3 left kidney, 4 spleen (CHAOS expert ground truth, CC BY-SA 4.0).
"""
from __future__ import annotations

import pathlib

import numpy as np

from .volumes import Volume, load_display

LABELS = {1: "liver", 2: "right kidney", 3: "left kidney", 4: "spleen"}


def cases(root) -> list[str]:
    base = pathlib.Path(root) / "chaos_t2_mri"
    names = sorted(p.name[:-7] for p in (base / "images").glob("*.nii.gz"))
    return [n for n in names if (base / "labels" / f"{n}.nii.gz").is_file()]


def load(root, case: str) -> Volume:
    base = pathlib.Path(root) / "chaos_t2_mri"
    img, spacing = load_display(base / "images" / f"{case}.nii.gz", dtype=np.float32)
    lab, _ = load_display(base / "labels" / f"{case}.nii.gz", dtype=np.uint8)
    if img.shape != lab.shape:
        raise ValueError(f"CHAOS {case}: image {img.shape} and label {lab.shape} shapes differ")
    return Volume(case, "chaos", "MR", img, lab, spacing, dict(LABELS))
