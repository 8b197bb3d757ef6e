"""The body network: ``radseg.load("body").segment(volume_or_slice, spacing=..., modality=...)`` -> bool mask.

    body = radseg.load("body")
    outline = body.segment(volume, spacing=(slice_mm, row_mm, col_mm), modality="CT")  # bool [slices, rows, cols]
    outline = body.segment(slice_2d, spacing=(row_mm, col_mm), modality="MR")           # bool [rows, cols]

Every slice is segmented on its own (the network is 2D), in batches of ``batch`` slices; each slice's holes are
filled (the body outline has none). CT in Hounsfield units, MR in the scanner's raw units.
"""
from __future__ import annotations

import numbers
import warnings
from typing import Callable, Optional

import numpy as np

from .._model import LoadedModel
from .._validate import as_spacing
from ..errors import RadsegWarning
from ..intensity import check_image, check_volume, hounsfield_problem, intensity_spec
from .preprocess import make_inputs, masks_from_logits

__all__ = ["BodyModel"]


class BodyModel(LoadedModel):
    """A loaded body-outline model (attributes: see `radseg._model.LoadedModel`). Made by `radseg.load`."""

    task = "body"

    def __init__(self, runtime, manifest, path=None, blas_threads: Optional[int] = 1):
        super().__init__(runtime, manifest, path, blas_threads)
        if manifest.in_channels != 1:
            raise ValueError(f"BodyModel needs 1 input channel (the slice), the manifest says {manifest.in_channels}")

    def warmup(self) -> "BodyModel":
        """One pass on zeros (first-run allocations; proves the graph takes the manifest's input shape)."""
        s = self.manifest.input_size
        self.runtime.run({self.manifest.input_name: np.zeros((1, 1, s, s), np.float32)})
        return self

    def segment(self, image, spacing=None, modality: Optional[str] = None, batch: int = 8,
                progress: Optional[Callable[[int, int], object]] = None) -> np.ndarray:
        """The body outline of a slice or of every slice of a volume.

        Args:
            image: real [rows, cols] or [slices, rows, cols]; NaN / inf refused.
            spacing: (row_mm, col_mm) for a slice, (slice_mm, row_mm, col_mm) for a volume (only the in-plane
                spacing matters). None assumes 1 mm and warns.
            modality: "CT" or "MR" (case-insensitive). None assumes CT and warns.
            batch: slices per network call (>= 1).
            progress: called as progress(done_slices, total_slices) after each batch.
        Returns:
            bool array of the image's shape, True = body.
        """
        a = np.asarray(image)
        if a.ndim not in (2, 3):
            raise ValueError(f"image must be a slice [rows, cols] or a volume [slices, rows, cols], got shape "
                             f"{a.shape}")
        vol = check_image(a)[None] if a.ndim == 2 else check_volume(a)
        if isinstance(batch, bool) or not isinstance(batch, numbers.Integral) or batch < 1:
            raise ValueError(f"batch must be a whole number >= 1, got {batch!r}")
        if spacing is None:
            warnings.warn("no pixel spacing given: assuming 1 mm; pass spacing=(row_mm, col_mm) for a slice or "
                          "(slice_mm, row_mm, col_mm) for a volume", RadsegWarning, stacklevel=2)
            spacing = (1.0,) * a.ndim
        sp = as_spacing(spacing, a.ndim, "spacing")[-2:]
        if modality is None:
            warnings.warn("no modality given: assuming CT (values in Hounsfield units); pass modality='CT' or "
                          "modality='MR'", RadsegWarning, stacklevel=2)
            modality = "CT"
        intensity_spec(modality, self.manifest)  # unknown modality: ValueError naming the supported ones
        if modality.upper() == "CT":
            problem = hounsfield_problem(vol)
            if problem:
                warnings.warn(f"{problem}; convert to HU (stored * RescaleSlope + RescaleIntercept)", RadsegWarning,
                              stacklevel=2)
        out = np.zeros(vol.shape, bool)
        name_in, name_out = self.manifest.input_name, self.manifest.output_name
        for start in range(0, vol.shape[0], int(batch)):
            chunk = vol[start:start + int(batch)]
            with self._blas_limit():
                x, boxes = make_inputs(chunk, modality, sp, self.manifest)
            logits = self.runtime.run({name_in: x})[name_out]
            with self._blas_limit():
                out[start:start + len(chunk)] = masks_from_logits(logits, boxes, vol.shape[1:], self.manifest, sp,
                                                                       chunk, modality)
            if progress is not None:
                progress(min(start + int(batch), vol.shape[0]), vol.shape[0])
        return out[0] if a.ndim == 2 else out
