"""NIfTI volumes as arrays in radiological display orientation.

Every volume comes out as [slices, rows, cols] with rows running anterior -> posterior (top of the screen is the
patient's front) and cols running patient right -> patient left (the patient's right on the screen's left): what a
viewer shows for an axial slice, so that a click placed in a viewer lands on the same pixel here. Slices run
inferior -> superior. Spacing is (slice_mm, row_mm, col_mm) from the NIfTI header.
"""
from __future__ import annotations

import pathlib
from dataclasses import dataclass, field

import numpy as np

# Voxel axes (i, j, k) of the array we want, as nibabel axis codes: i -> patient Left, j -> Posterior, k -> Superior.
_TARGET = ("L", "P", "S")


@dataclass
class Volume:
    """One patient's image and label map in display orientation.

    image: float32 [slices, rows, cols] (CT in HU, MR in raw units); labels: uint8, same shape (0 = background);
    spacing: (slice_mm, row_mm, col_mm); label_names: {label id: structure name}.
    """

    name: str
    dataset: str
    modality: str
    image: np.ndarray
    labels: np.ndarray
    spacing: tuple
    label_names: dict = field(default_factory=dict)

    def slice_spacing(self) -> tuple[float, float]:
        """In-plane (row_mm, col_mm)."""
        return float(self.spacing[1]), float(self.spacing[2])


def load_display(path, dtype=None) -> tuple[np.ndarray, tuple]:
    """Read a 3D NIfTI file -> (array [slices, rows, cols] in display orientation, (slice, row, col) spacing mm)."""
    import nibabel as nib
    from nibabel import orientations as ornt

    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"NIfTI file not found: {path}")
    img = nib.load(str(path))
    if len(img.shape) != 3:
        raise ValueError(f"{path}: expected a 3D volume, got shape {img.shape}")
    transform = ornt.ornt_transform(ornt.io_orientation(img.affine), ornt.axcodes2ornt(_TARGET))
    data = np.asanyarray(img.dataobj)
    if dtype is not None:
        data = data.astype(dtype, copy=False)
    data = ornt.apply_orientation(data, transform)  # axes now (L, P, S)
    zooms = img.header.get_zooms()[:3]
    # apply_orientation permutes axes; the spacing of output axis a is the zoom of the input axis mapped onto it.
    out_zooms = [0.0, 0.0, 0.0]
    for in_axis, (out_axis, _flip) in enumerate(transform):
        out_zooms[int(out_axis)] = float(zooms[in_axis])
    arr = np.ascontiguousarray(np.transpose(data, (2, 1, 0)))  # (S, P, L) = [slices, rows, cols]
    return arr, (out_zooms[2], out_zooms[1], out_zooms[0])
