"""The body network's input and output frames: one implementation for training and the SDK.

A slice [rows, cols] is normalised on its own (`radseg.intensity`, the manifest's rule for its modality), then
resampled bilinearly into the S x S working frame: a box square in mm, centred on the slice, whose side is the
slice's longer side in mm (`whole_slice_box`), so working pixels are isotropic and the slice sits whole inside it;
outside the slice the input is 0 (air). The network's logits come back onto the slice grid bilinearly
(`radseg.crop.logits_to_mask`), > 0 = body.
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import numpy as np

from ..crop import CropBox, logits_to_mask, resample_to_crop, square_box
from ..geometry import fill_holes
from ..intensity import check_image, normalize_intensity
from ..manifest import ModelManifest

__all__ = ["whole_slice_box", "make_input", "make_inputs", "masks_from_logits"]


def whole_slice_box(shape, spacing, size: int) -> CropBox:
    """The square-in-mm box (pixel-edge coordinates) that holds the whole [rows, cols] slice, resampled to size."""
    rows, cols = int(shape[0]), int(shape[1])
    return square_box((0, rows - 1, 0, cols - 1), spacing, size, expand=1.0, min_size_mm=1e-6, min_size_px=1e-6)


def make_input(image, modality: str, spacing, manifest: ModelManifest) -> Tuple[np.ndarray, CropBox]:
    """One slice -> (float32 [S, S] in [0, 1], its CropBox).

    Args:
        image: real [rows, cols]; CT in HU, MR in raw units.
        modality: a key of ``manifest.intensity``.
        spacing: (row_mm, col_mm).
    """
    norm = normalize_intensity(check_image(image), modality, manifest, ndim=2)
    box = whole_slice_box(norm.shape, spacing, int(manifest.input_size))
    return resample_to_crop(norm, box), box


def make_inputs(images: Sequence[np.ndarray], modality: str, spacing, manifest: ModelManifest
                ) -> Tuple[np.ndarray, List[CropBox]]:
    """Slices -> (float32 [N, 1, S, S], their boxes); `make_input` on each."""
    pairs = [make_input(im, modality, spacing, manifest) for im in images]
    x = np.stack([p[0] for p in pairs])[:, None].astype(np.float32, copy=False)
    return np.ascontiguousarray(x), [p[1] for p in pairs]


def masks_from_logits(logits: np.ndarray, boxes: Sequence[CropBox], shape, manifest: ModelManifest) -> np.ndarray:
    """Logits [N, 1, S, S] -> bool [N, rows, cols] on the slice grid; holes filled when the manifest says so."""
    lg = np.asarray(logits, np.float32).reshape(len(boxes), *np.asarray(logits).shape[-2:])
    out = np.stack([logits_to_mask(lg[i], boxes[i], shape) for i in range(len(boxes))])
    if manifest.postprocess.get("fill_holes", True):
        out = np.stack([fill_holes(m) for m in out])
    return out
