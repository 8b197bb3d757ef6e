"""Click-model preprocessing, shared by training and the SDK (numpy only, no torch).

Pipeline for one click: ``normalize_intensity`` once per image, then for every click ``make_input`` (``crop_box``
around the clicks and the current mask, bilinear resampling of the box to S x S, ``encode_clicks`` as two Gaussian
maps), the network, and ``logits_to_mask`` (bilinear paste of the logits back onto the image grid, then > 0).
Intensity (`radseg.intensity`) and the box, resampling and paste-back (`radseg.crop`) are shared with the
propagation model; they are re-exported here.

Coordinates: images are [rows, cols]; a point is (row, col) in pixel-index units of its grid, pixel centres at
integer coordinates. A click is (row, col, positive). Spacing is (row_mm, col_mm). The crop box is square in mm, so
the S x S crop has isotropic pixels even when the image does not.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from .._validate import as_spacing
from ..crop import CropBox, logits_to_mask, mask_extent, resample_to_crop, square_box, _shape2  # noqa: F401
from ..intensity import check_image, hounsfield_problem, intensity_spec, normalize_intensity  # noqa: F401
from ..manifest import ModelManifest

Click = tuple  # (row, col, positive)


# ---- crop geometry (the shared box in radseg.crop; here: the box around the clicks) ---------------------------
def crop_box(shape, clicks: Sequence[Click], mask, spacing, manifest: ModelManifest,
             expand: float | None = None) -> CropBox:
    """The square-in-mm box around the clicks and the current mask.

    Side = max(bounding-box side of clicks and mask pixels (mm) * expand, crop.min_size_mm,
    crop.min_size_px * largest pixel spacing), and at least crop.initial_size_mm while `mask` is None or empty;
    centred on the bounding box.

    Args:
        shape: image (rows, cols).
        clicks: at least one (row, col, positive) in image pixels.
        mask: None or bool [rows, cols], the current segmentation.
        spacing: (row_mm, col_mm).
        expand: overrides ``manifest.crop["expand"]`` (training jitters it).
    """
    rows, cols = _shape2(shape)
    sp = as_spacing(spacing, 2)
    pts = _click_array(clicks, (rows, cols))
    if len(pts) == 0:
        raise ValueError("clicks must hold at least one (row, col, positive) click")
    rmin, cmin = pts[:, 0].min(), pts[:, 1].min()
    rmax, cmax = pts[:, 0].max(), pts[:, 1].max()
    has_mask = False
    if mask is not None:
        m = np.asarray(mask)
        if m.shape != (rows, cols):
            raise ValueError(f"mask must have the image's shape {(rows, cols)}, got {m.shape}")
        ext = mask_extent(m)
        if ext is not None:
            has_mask = True
            rmin, rmax = min(rmin, ext[0]), max(rmax, ext[1])
            cmin, cmax = min(cmin, ext[2]), max(cmax, ext[3])
    c = manifest.crop
    expand = float(c.get("expand", 1.5) if expand is None else expand)
    return square_box((rmin, rmax, cmin, cmax), sp, int(manifest.input_size), expand, float(c.get("min_size_mm", 32.0)),
                      float(c.get("min_size_px", 24)),
                      at_least_mm=0.0 if has_mask else float(c.get("initial_size_mm", 160.0)))


#: A first-click refinement pass runs when the box recomputed around the first mask differs from the first pass's
#: box by more than this factor in side length, or moved by more than REFINE_SHIFT of the side.
REFINE_SIDE_RATIO = 1.25
REFINE_SHIFT = 0.1


def refine_box(shape, clicks: Sequence[Click], first_mask, spacing, manifest: ModelManifest,
               first_box: CropBox) -> CropBox | None:
    """The box for a second pass on the first click, or None when the first pass's box is good enough.

    The first click has no mask to size its box, so it gets ``initial_size_mm`` (160 mm): a 1 cm adrenal gland is a
    few crop pixels there, and a liver overflows it. When ``manifest.crop["refine_first_click"]`` is true, the box
    is recomputed around the first pass's mask (as for a later click) and, if its side changed by more than
    REFINE_SIDE_RATIO or its centre moved by more than REFINE_SHIFT of the side, the same click is run again in it.
    Training (``radseg train click``) simulates the same second pass, so the network is trained for both boxes.

    Args:
        shape: image (rows, cols).
        clicks: the single first click, [(row, col, positive)].
        first_mask: bool [rows, cols], the first pass's mask on the image grid.
        spacing: (row_mm, col_mm).
        first_box: the box the first pass used.
    Returns:
        the refined CropBox, or None (refinement off, more than one click, empty mask, or box unchanged).
    """
    if not manifest.crop.get("refine_first_click", False) or len(clicks) != 1:
        return None
    m = np.asarray(first_mask)
    if not m.any():
        return None
    box = crop_box(shape, clicks, m, spacing, manifest)
    ratio = box.size_rows / first_box.size_rows
    shift = max(abs((box.row0 + box.size_rows / 2) - (first_box.row0 + first_box.size_rows / 2)) / first_box.size_rows,
                abs((box.col0 + box.size_cols / 2) - (first_box.col0 + first_box.size_cols / 2)) / first_box.size_cols)
    if 1 / REFINE_SIDE_RATIO < ratio < REFINE_SIDE_RATIO and shift < REFINE_SHIFT:
        return None
    return box


# ---- guidance ----------------------------------------------------------------------------------------------------
def encode_clicks(clicks_in_crop_px: Iterable[Click], size: int, sigma: float) -> np.ndarray:
    """Two Gaussian guidance maps, [foreground, background], float32 [2, size, size].

    Each click adds exp(-d^2 / (2 sigma^2)) (d in crop pixels, sub-pixel positions allowed); each channel is then
    divided by its maximum (the paper's "normalised to [0, 1]"), so a channel with clicks has max exactly 1 and a
    channel without clicks is all zero.
    """
    out = np.zeros((2, size, size), np.float32)
    grid = np.arange(size, dtype=np.float32)
    inv = np.float32(-0.5 / (float(sigma) ** 2))
    for ch, want in ((0, True), (1, False)):
        pts = [(float(r), float(c)) for r, c, pos in clicks_in_crop_px if bool(pos) == want]
        if not pts:
            continue
        p = np.asarray(pts, np.float32)
        gr = np.exp((grid[None, :] - p[:, :1]) ** 2 * inv)  # [n, S]
        gc = np.exp((grid[None, :] - p[:, 1:]) ** 2 * inv)
        m = gr.T @ gc
        peak = m.max()
        if peak > 0:
            m *= np.float32(1.0 / peak)
        out[ch] = m
    return out


def make_input(norm_image, clicks: Sequence[Click], mask, spacing, manifest: ModelManifest,
               box: CropBox | None = None) -> tuple[np.ndarray, CropBox]:
    """The network input for the current clicks.

    Args:
        norm_image: float32 [rows, cols] from ``normalize_intensity``.
        clicks: (row, col, positive) in image pixels, all inside the image.
        mask: None or bool [rows, cols], the current segmentation (it widens the box).
        spacing: (row_mm, col_mm).
        box: use this box instead of ``crop_box(...)`` (training jitters boxes).
    Returns:
        (x float32 [1, C, S, S], the CropBox). C = ``manifest.in_channels``: 3 = image, foreground guidance,
        background guidance; 4 = those and the current mask (the mask before this click, 0 / 1, resampled into the
        crop like the image; zeros when there is none), so a corrective click can refine it (RITM's input).
    """
    img = np.asarray(norm_image)
    if img.ndim != 2:
        raise ValueError(f"norm_image must be 2D [rows, cols], got shape {img.shape}")
    if box is None:
        box = crop_box(img.shape, clicks, mask, spacing, manifest)
    pts = _click_array(clicks, img.shape)
    s = int(manifest.input_size)
    crop_pts = box.to_crop(pts[:, :2]) if len(pts) else np.zeros((0, 2))
    crop_clicks = [(r, c, bool(p)) for (r, c), p in zip(crop_pts, pts[:, 2])]
    x = np.empty((1, int(manifest.in_channels), s, s), np.float32)
    x[0, 0] = resample_to_crop(img, box)
    x[0, 1:3] = encode_clicks(crop_clicks, s, float(manifest.guidance.get("sigma_px", 2.0)))
    if x.shape[1] > PREV_MASK_CHANNEL:
        if mask is None or not np.asarray(mask).any():
            x[0, PREV_MASK_CHANNEL] = 0.0
        else:
            x[0, PREV_MASK_CHANNEL] = resample_to_crop(np.asarray(mask, np.float32), box)
    return x, box


#: The input channel that holds the current mask, in models of 4 input channels.
PREV_MASK_CHANNEL = 3


# ---- helpers -----------------------------------------------------------------------------------------------------
def _click_array(clicks, shape) -> np.ndarray:
    """[N, 3] float64 (row, col, positive 0/1); ValueError for malformed or out-of-image clicks."""
    if clicks is None:
        raise ValueError("clicks must be a list of (row, col, positive) tuples, got None")
    out = []
    for i, c in enumerate(clicks):
        try:
            r, col, pos = c
            r, col = float(r), float(col)
        except (TypeError, ValueError):
            raise ValueError(f"click {i} must be (row, col, positive), got {c!r}") from None
        if not (np.isfinite(r) and np.isfinite(col)):
            raise ValueError(f"click {i} has a non-finite coordinate: {c!r}")
        if not (-0.5 <= r < shape[0] - 0.5 and -0.5 <= col < shape[1] - 0.5):
            raise ValueError(f"click {i} at (row={r}, col={col}) is outside the image of shape {tuple(shape)}; "
                             f"rows must lie in [0, {shape[0] - 1}] and cols in [0, {shape[1] - 1}]")
        out.append((r, col, 1.0 if pos else 0.0))
    return np.asarray(out, np.float64).reshape(-1, 3)
