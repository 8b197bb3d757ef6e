"""Propagation-model preprocessing, shared by training and the SDK (numpy only, no torch).

One step of propagation segments slice t from the mask of its neighbour (the prior): ``prior_box`` puts a box
square in mm around the prior (``radseg.crop.square_box`` with the manifest's crop parameters), ``make_inputs``
resamples the normalised slice and the prior into it ([2, S, S]: image, prior in [0, 1]), the network answers
logits and ``radseg.crop.logits_to_mask`` pastes them back. Intensity is normalised once per volume
(``radseg.intensity.normalize_intensity(..., ndim=3)``) so that neighbouring slices stay comparable.

Coordinates: slices are [rows, cols], spacing (row_mm, col_mm); the box is in pixel-edge coordinates.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ..crop import CropBox, mask_extent, resample_to_crop, square_box
from ..manifest import ModelManifest


def prior_box(prior, spacing, manifest: ModelManifest, expand: Optional[float] = None) -> Optional[CropBox]:
    """The box around the prior's True pixels, or None when the prior is empty.

    Side = max(the prior's bounding-box side (mm) * crop.expand, crop.min_size_mm, crop.min_size_px * the larger
    pixel spacing); centred on the bounding box. The margin lets the structure grow or move between slices.

    Args:
        prior: bool [rows, cols], the neighbouring slice's mask.
        spacing: (row_mm, col_mm).
        expand: overrides ``manifest.crop["expand"]`` (training jitters it).
    """
    ext = mask_extent(prior)
    if ext is None:
        return None
    c = manifest.crop
    return square_box(ext, spacing, int(manifest.input_size), float(c.get("expand", 1.75) if expand is None else expand),
                      float(c.get("min_size_mm", 24.0)), float(c.get("min_size_px", 16)))


def crop_pair(norm_slice: np.ndarray, prior: np.ndarray, box: CropBox) -> np.ndarray:
    """float32 [2, S, S]: the normalised slice and the prior (bilinear, so its edge is soft) in `box`."""
    out = np.empty((2, box.out_size, box.out_size), np.float32)
    out[0] = resample_to_crop(norm_slice, box)
    out[1] = np.clip(resample_to_crop(np.asarray(prior, np.float32), box), 0.0, 1.0)
    return out


def make_inputs(norm_slices: Sequence[np.ndarray], priors: Sequence[np.ndarray], spacing,
                manifest: ModelManifest) -> tuple[np.ndarray, list]:
    """The network input for several (slice, prior) pairs at once (the two directions of a propagation step).

    Args:
        norm_slices: float32 [rows, cols] slices from ``normalize_intensity``, all of one volume.
        priors: bool [rows, cols] each, non-empty (an empty prior has nothing to propagate).
        spacing: (row_mm, col_mm).
    Returns:
        (x float32 [N, 2, S, S], the N CropBoxes).
    Raises:
        ValueError: a prior is empty, the counts differ, or the manifest does not take 2 channels.
    """
    if len(norm_slices) != len(priors):
        raise ValueError(f"got {len(norm_slices)} slices but {len(priors)} priors")
    if manifest.in_channels != 2:  # any other channel would be left uninitialised memory
        raise ValueError(f"a propagation model takes 2 input channels (slice, prior); the manifest says "
                         f"{manifest.in_channels}")
    s = int(manifest.input_size)
    x = np.empty((len(priors), 2, s, s), np.float32)
    boxes = []
    for i, (img, prior) in enumerate(zip(norm_slices, priors)):
        box = prior_box(prior, spacing, manifest)
        if box is None:
            raise ValueError(f"prior {i} is empty: there is nothing to propagate from it")
        x[i] = crop_pair(img, prior, box)
        boxes.append(box)
    return x, boxes
