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
from ..geometry import distance_transform, fill_holes, label_components
from ..intensity import check_image, normalize_intensity
from ..manifest import ModelManifest

__all__ = ["whole_slice_box", "make_input", "make_inputs", "masks_from_logits", "drop_thin_components",
           "drop_airy_components"]


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


def drop_thin_components(mask: np.ndarray, spacing, min_thickness_mm: float) -> np.ndarray:
    """`mask` without the components (8-connected) thinner than `min_thickness_mm` -- whose widest inscribed disc
    is narrower -- unless the component is the slice's largest. A couch shell or a coil housing the network took
    for body is a few mm thick; a finger, the thinnest body part seen whole in a slice, is over 10 mm.

    Args:
        mask: bool [rows, cols]; spacing: (row_mm, col_mm).
    """
    if min_thickness_mm <= 0 or not mask.any():
        return mask
    labels, sizes = label_components(mask, connectivity=2)
    if len(sizes) <= 2:  # one component: nothing to compare it with
        return mask
    radius = distance_transform(mask, spacing)
    widest = np.zeros(len(sizes), np.float32)
    np.maximum.at(widest, labels.ravel(), radius.ravel())
    keep = 2 * widest >= float(min_thickness_mm)
    keep[int(np.argmax(sizes[1:])) + 1] = True
    keep[0] = False
    return keep[labels]


def drop_airy_components(mask: np.ndarray, image: np.ndarray, min_median: float) -> np.ndarray:
    """`mask` without the components (8-connected) whose median `image` value is at most `min_median`, unless the
    component is the slice's largest. On CT (-300 HU): a couch or headrest outlined around its foam core is mostly
    air, an arm or a leg is soft tissue (the trunk, lungs and all, is the largest).

    Args:
        mask: bool [rows, cols]; image: the raw slice [rows, cols] (CT in HU).
    """
    if not mask.any():
        return mask
    labels, sizes = label_components(mask, connectivity=2)
    if len(sizes) <= 2:
        return mask
    order = np.argsort(labels.ravel(), kind="stable")
    values = np.asarray(image, np.float64).ravel()[order]
    starts = np.concatenate([[0], np.cumsum(sizes)])
    medians = np.array([np.inf] + [np.median(values[starts[i]:starts[i + 1]]) for i in range(1, len(sizes))])
    keep = medians > float(min_median)
    keep[int(np.argmax(sizes[1:])) + 1] = True
    keep[0] = False
    return keep[labels]


def masks_from_logits(logits: np.ndarray, boxes: Sequence[CropBox], shape, manifest: ModelManifest,
                      spacing=None, images=None, modality: str = "") -> np.ndarray:
    """Logits [N, 1, S, S] -> bool [N, rows, cols] on the slice grid, then the manifest's post-processing: holes
    filled (``postprocess.fill_holes``, default true), components thinner than ``postprocess.min_thickness_mm``
    dropped (default 0: off; needs `spacing` (row_mm, col_mm)), and on CT the components of median at most
    ``postprocess.ct_min_median_hu`` dropped (absent: off; needs the raw `images` [N, rows, cols])."""
    lg = np.asarray(logits, np.float32).reshape(len(boxes), *np.asarray(logits).shape[-2:])
    out = np.stack([logits_to_mask(lg[i], boxes[i], shape) for i in range(len(boxes))])
    post = manifest.postprocess
    if post.get("fill_holes", True):
        out = np.stack([fill_holes(m) for m in out])
    thin = float(post.get("min_thickness_mm", 0.0))
    if thin > 0 and spacing is not None:
        out = np.stack([drop_thin_components(m, spacing, thin) for m in out])
    if "ct_min_median_hu" in post and images is not None and str(modality).upper() == "CT":
        out = np.stack([drop_airy_components(m, im, float(post["ct_min_median_hu"])) for m, im in zip(out, images)])
    return out
