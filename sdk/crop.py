"""Crop boxes on a 2D image grid, bilinear resampling into them and pasting logits back: shared by every model.

A model sees an S x S crop of a slice (S = ``manifest.input_size``): the click model a box around the clicks and the
current mask, the propagation model a box around the prior mask. `CropBox` is that box, `square_box` sizes it in
mm around a bounding box, `resample_to_crop` samples the image (or a prior mask) into it and `logits_to_mask` puts
the network's answer back on the image grid.

Coordinates: images are [rows, cols]; a point is (row, col) in pixel-index units of its grid, pixel centres at
integer coordinates; box edges are in pixel-EDGE coordinates (pixel i covers [i, i + 1)). Spacing is
(row_mm, col_mm). Boxes are square in mm, so the S x S crop has isotropic pixels even when the image does not.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validate import as_spacing


@dataclass(frozen=True)
class CropBox:
    """An axis-aligned box on the image grid that is resampled to S x S.

    The box spans rows [row0, row0 + size_rows) and cols [col0, col0 + size_cols) in pixel-EDGE coordinates (image
    pixel i covers [i, i + 1)); it may extend past the image (the crop is zero there). Crop pixel i has its centre at
    edge coordinate row0 + (i + 0.5) * size_rows / S.
    """

    row0: float
    col0: float
    size_rows: float
    size_cols: float
    out_size: int

    @property
    def scale(self) -> tuple[float, float]:
        """Image pixels per crop pixel, (rows, cols)."""
        return self.size_rows / self.out_size, self.size_cols / self.out_size

    def to_crop(self, points) -> np.ndarray:
        """Image (row, col) points, shape [N, 2] (or [2]), to crop pixel coordinates (float)."""
        p = np.asarray(points, np.float64)
        sr, sc = self.scale
        return np.stack([(p[..., 0] + 0.5 - self.row0) / sr - 0.5, (p[..., 1] + 0.5 - self.col0) / sc - 0.5], -1)

    def to_image(self, points) -> np.ndarray:
        """Crop pixel (row, col) points, shape [N, 2] (or [2]), to image pixel coordinates (float)."""
        p = np.asarray(points, np.float64)
        sr, sc = self.scale
        return np.stack([self.row0 + (p[..., 0] + 0.5) * sr - 0.5, self.col0 + (p[..., 1] + 0.5) * sc - 0.5], -1)


def mask_extent(mask) -> tuple | None:
    """(rmin, rmax, cmin, cmax) pixel indices of the True pixels of a 2D mask, or None when it is empty."""
    m = np.asarray(mask)
    r_any = np.flatnonzero(m.any(axis=1))
    if not r_any.size:
        return None
    c_any = np.flatnonzero(m.any(axis=0))
    return int(r_any[0]), int(r_any[-1]), int(c_any[0]), int(c_any[-1])


def square_box(extent, spacing, out_size: int, expand: float, min_size_mm: float, min_size_px: float,
               at_least_mm: float = 0.0) -> CropBox:
    """The box square in mm, centred on `extent` = (rmin, rmax, cmin, cmax) pixel indices (inclusive).

    Side = max(the extent's longer side in mm * expand, min_size_mm, min_size_px * the larger pixel spacing,
    at_least_mm).
    """
    rmin, rmax, cmin, cmax = (float(v) for v in extent)
    sp = as_spacing(spacing, 2)
    extent_mm = max((rmax - rmin + 1) * sp[0], (cmax - cmin + 1) * sp[1])
    side_mm = max(extent_mm * float(expand), float(min_size_mm), float(min_size_px) * max(sp), float(at_least_mm))
    centre_r, centre_c = (rmin + rmax + 1) / 2.0, (cmin + cmax + 1) / 2.0  # edge coordinates
    size_r, size_c = side_mm / sp[0], side_mm / sp[1]
    return CropBox(float(centre_r - size_r / 2), float(centre_c - size_c / 2), float(size_r), float(size_c),
                   int(out_size))


# ---- resampling --------------------------------------------------------------------------------------------------
def _interp_matrix(n_out: int, start: float, step: float, n_in: int, clamp: bool) -> np.ndarray:
    """[n_out, n_in] linear-interpolation weights sampling positions start + (i + 0.5) * step - 0.5 (pixel index).

    clamp=False: samples outside [0, n_in - 1] blend with zero (zero padding). clamp=True: edge replicate.
    """
    pos = start + (np.arange(n_out) + 0.5) * step - 0.5
    if clamp:
        pos = np.clip(pos, 0.0, n_in - 1)
    i0 = np.floor(pos).astype(np.int64)
    f = (pos - i0).astype(np.float32)
    w = np.zeros((n_out, n_in), np.float32)
    rows = np.arange(n_out)
    for idx, wt in ((i0, 1.0 - f), (i0 + 1, f)):
        ok = (idx >= 0) & (idx < n_in)
        np.add.at(w, (rows[ok], idx[ok]), wt[ok])
    return w


def resample_to_crop(image: np.ndarray, box: CropBox) -> np.ndarray:
    """Bilinear samples of a 2D float image at the S x S crop pixel centres (zero outside the image) -> float32."""
    s = box.out_size
    sr, sc = box.scale
    wr = _interp_matrix(s, box.row0, sr, image.shape[0], clamp=False)
    wc = _interp_matrix(s, box.col0, sc, image.shape[1], clamp=False)
    r_used = np.flatnonzero(wr.any(axis=0))
    c_used = np.flatnonzero(wc.any(axis=0))
    if r_used.size == 0 or c_used.size == 0:
        return np.zeros((s, s), np.float32)
    r0, r1, c0, c1 = r_used[0], r_used[-1] + 1, c_used[0], c_used[-1] + 1
    sub = np.asarray(image[r0:r1, c0:c1], np.float32)
    return (wr[:, r0:r1] @ sub) @ wc[:, c0:c1].T


def logits_to_mask(logits, box: CropBox, image_shape) -> np.ndarray:
    """Paste S x S logits back onto the image grid: bilinear on logits, then > 0; outside the box is background.

    Args:
        logits: float [S, S] (a leading [1, 1] is accepted).
        box: the CropBox that made the input.
        image_shape: (rows, cols) of the image.
    Returns:
        bool [rows, cols].
    """
    lg = np.asarray(logits, np.float32)
    if lg.ndim > 2 and all(d == 1 for d in lg.shape[:-2]):
        lg = lg.reshape(lg.shape[-2:])
    s = box.out_size
    if lg.shape != (s, s):
        raise ValueError(f"logits must be [{s}, {s}] for this box, got shape {np.asarray(logits).shape}")
    rows, cols = _shape2(image_shape)
    out = np.zeros((rows, cols), bool)
    sr, sc = box.scale
    r0, r1 = max(0, int(np.ceil(box.row0 - 0.5))), min(rows, int(np.ceil(box.row0 + box.size_rows - 0.5)))
    c0, c1 = max(0, int(np.ceil(box.col0 - 0.5))), min(cols, int(np.ceil(box.col0 + box.size_cols - 0.5)))
    if r1 <= r0 or c1 <= c0:
        return out
    # Crop coordinate of image pixel centre r = r0 + i: (r + 0.5 - row0) / sr - 0.5, i.e. start=(r0 - row0) / sr
    # with step 1/sr in the "start + (i + 0.5) * step - 0.5" form of _interp_matrix.
    vr = _interp_matrix(r1 - r0, (r0 - box.row0) / sr, 1.0 / sr, s, clamp=True)
    vc = _interp_matrix(c1 - c0, (c0 - box.col0) / sc, 1.0 / sc, s, clamp=True)
    out[r0:r1, c0:c1] = ((vr @ lg) @ vc.T) > 0
    return out


def _shape2(shape) -> tuple[int, int]:
    try:
        rows, cols = (int(v) for v in shape)
    except (TypeError, ValueError):
        raise ValueError(f"shape must be (rows, cols), got {shape!r}") from None
    if rows < 1 or cols < 1:
        raise ValueError(f"shape must be positive, got {shape!r}")
    return rows, cols


