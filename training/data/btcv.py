"""BTCV abdominal CT (the SSL-ALPNet "SABS" copy in ../shared/data/btcv_sabs_ct; read its SOURCE.txt).

Images are stored as uint8 = the HU window [-125, 275] scaled to 0..255; we convert back, HU = -125 + v * 400 / 255
(values outside the window were clipped upstream and stay at the window's ends). Each volume's last slice is an
all-zero resampling artefact and is dropped. Labels: the 13 BTCV organs.

Orientation: the stored affine says the second voxel axis runs anterior -> posterior, but the pixels run the other
way (the images were rebuilt from PNG slices and given the label file's affine; image and label agree with each
other). Read with the affine alone, the spine and the CT table come out at the top of the slice. ``load`` therefore
flips rows after reorienting, so that slices come out as a viewer shows them: anterior at the top, the patient's
right (liver, label 2 right kidney) on the screen's left. Checked by eye on sabs_00 and by ``tests/training``.
"""
from __future__ import annotations

import pathlib

import numpy as np

from .volumes import Volume, load_display

LABELS = {1: "spleen", 2: "right kidney", 3: "left kidney", 4: "gallbladder", 5: "esophagus", 6: "liver",
          7: "stomach", 8: "aorta", 9: "inferior vena cava", 10: "portal and splenic vein", 11: "pancreas",
          12: "right adrenal gland", 13: "left adrenal gland"}
HU_LOW, HU_HIGH = -125.0, 275.0


def cases(root) -> list[str]:
    """Case names (e.g. 'sabs_00') with both an image and a label file under root/btcv_sabs_ct."""
    base = pathlib.Path(root) / "btcv_sabs_ct"
    names = sorted(p.name[:-7] for p in (base / "images").glob("*.nii.gz"))
    return [n for n in names if (base / "labels" / f"{n}.nii.gz").is_file()]


def uint8_to_hu(v: np.ndarray) -> np.ndarray:
    """The stored 0..255 values -> HU (float32)."""
    return (np.float32(HU_LOW) + v.astype(np.float32) * np.float32((HU_HIGH - HU_LOW) / 255.0)).astype(np.float32)


def load(root, case: str) -> Volume:
    """One BTCV case as a Volume in display orientation, image in HU."""
    base = pathlib.Path(root) / "btcv_sabs_ct"
    img, spacing = load_display(base / "images" / f"{case}.nii.gz")
    lab, lab_spacing = load_display(base / "labels" / f"{case}.nii.gz", dtype=np.uint8)
    if img.shape != lab.shape:
        raise ValueError(f"BTCV {case}: image {img.shape} and label {lab.shape} shapes differ")
    if img.dtype != np.uint8:
        raise ValueError(f"BTCV {case}: expected the uint8 HU window of SOURCE.txt, got {img.dtype}")
    # The volume's last slice (the top of the original stack) is the all-zero resampling artefact.
    keep = slice(0, img.shape[0] - 1) if not img[-1].any() else slice(None)
    img, lab = img[keep, ::-1, :], lab[keep, ::-1, :]  # fix the anterior-posterior flip (see the module docstring)
    return Volume(case, "btcv", "CT", uint8_to_hu(img), np.ascontiguousarray(lab), spacing, dict(LABELS))
