"""Click-model preprocessing, shared by training and the SDK (numpy only, no torch).

Pipeline for one click: ``normalize_intensity`` once per image, then for every click ``make_input`` (``crop_box``
around the clicks and the current mask, bilinear resampling of the box to S x S, ``encode_clicks`` as two Gaussian
maps), the network, and ``logits_to_mask`` (bilinear paste of the logits back onto the image grid, then > 0).

Coordinates: images are [rows, cols]; a point is (row, col) in pixel-index units of its grid, pixel centres at
integer coordinates. A click is (row, col, positive). Spacing is (row_mm, col_mm). The crop box is square in mm, so
the S x S crop has isotropic pixels even when the image does not.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from .._validate import as_spacing
from ..manifest import ModelManifest

Click = tuple  # (row, col, positive)


# ---- intensity ---------------------------------------------------------------------------------------------------
def normalize_intensity(image, modality: str, manifest: ModelManifest) -> np.ndarray:
    """Map raw pixel values (CT in HU, MR in raw units) to the network's range, about [0, 1].

    Args:
        image: 2D [rows, cols] real array; NaN or inf are refused.
        modality: a key of ``manifest.intensity`` ("CT" or "MR"; case-insensitive).
    Returns:
        float32 [rows, cols] in [0, 1].
    """
    a = check_image(image)
    spec = intensity_spec(modality, manifest)
    if spec["method"] == "window":
        low, high = float(spec["low"]), float(spec["high"])
    else:  # percentile of this image
        low, high = (float(v) for v in np.percentile(a, [float(spec["low"]), float(spec["high"])]))
        if not high > low:  # a flat image: everything maps to 0
            return np.zeros(a.shape, np.float32)
    out = (a.astype(np.float32, copy=False) - np.float32(low)) * np.float32(1.0 / (high - low))
    return np.clip(out, 0.0, 1.0, out=out)


def hounsfield_problem(image: np.ndarray):
    """Why a CT image given to radseg cannot be in Hounsfield units, or None when it may well be.

    Every axial CT slice of a patient holds air (-1000 HU) or fat (about -100 HU), so an image with no value below
    0, or of an unsigned dtype, holds raw stored values that were never rescaled (HU = stored * RescaleSlope +
    RescaleIntercept). Zero-filled images are left alone (nothing to say about them).
    """
    a = np.asarray(image)
    if np.issubdtype(a.dtype, np.unsignedinteger) and a.any():
        return f"the CT image has the unsigned dtype {a.dtype}, which cannot hold Hounsfield units (air is -1000 HU)"
    low = float(a.min()) if a.size else 0.0
    if low >= 0 and a.any():
        return (f"the CT image has no value below 0 (min {low:g}, max {float(a.max()):g}), but air is -1000 HU and "
                "fat -100 HU")
    return None


def intensity_spec(modality: str, manifest: ModelManifest) -> dict:
    if not isinstance(modality, str):
        raise TypeError(f"modality must be a string such as 'CT' or 'MR', got {type(modality).__name__}")
    key = {k.upper(): k for k in manifest.intensity}.get(modality.upper())
    if key is None:
        raise ValueError(f"unknown modality {modality!r}; this model supports {sorted(manifest.intensity)}")
    return manifest.intensity[key]


def check_image(image, name: str = "image") -> np.ndarray:
    """Return `image` as a 2D real ndarray, or raise ValueError/TypeError saying what is wrong."""
    a = np.asarray(image)
    if a.dtype == np.bool_ or not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise TypeError(f"{name} must be a real-valued (integer or float) array, got dtype {a.dtype}")
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2D [rows, cols], got shape {a.shape}; pass one slice of a volume")
    if a.size == 0:
        raise ValueError(f"{name} is empty (shape {a.shape})")
    if np.issubdtype(a.dtype, np.floating) and not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or inf values; replace them (e.g. np.nan_to_num) before segmenting")
    return a


# ---- crop geometry -----------------------------------------------------------------------------------------------
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
        r_any = np.flatnonzero(m.any(axis=1))
        if r_any.size:
            c_any = np.flatnonzero(m.any(axis=0))
            has_mask = True
            rmin, rmax = min(rmin, r_any[0]), max(rmax, r_any[-1])
            cmin, cmax = min(cmin, c_any[0]), max(cmax, c_any[-1])
    c = manifest.crop
    expand = float(c.get("expand", 1.5) if expand is None else expand)
    extent_mm = max((rmax - rmin + 1) * sp[0], (cmax - cmin + 1) * sp[1])
    side_mm = max(extent_mm * expand, float(c.get("min_size_mm", 32.0)), float(c.get("min_size_px", 24)) * max(sp))
    if not has_mask:
        side_mm = max(side_mm, float(c.get("initial_size_mm", 160.0)))
    centre_r, centre_c = (rmin + rmax + 1) / 2.0, (cmin + cmax + 1) / 2.0  # edge coordinates
    size_r, size_c = side_mm / sp[0], side_mm / sp[1]
    return CropBox(float(centre_r - size_r / 2), float(centre_c - size_c / 2), float(size_r), float(size_c),
                   int(manifest.input_size))


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
    # Crop coordinate of image pixel centre r: (r + 0.5 - row0) / sr - 0.5, i.e. start=(r0 + 0.5 - row0)/sr - 0.5
    # with step 1/sr in the "start + (i + 0.5) * step - 0.5" form of _interp_matrix.
    vr = _interp_matrix(r1 - r0, (r0 - box.row0) / sr, 1.0 / sr, s, clamp=True)
    vc = _interp_matrix(c1 - c0, (c0 - box.col0) / sc, 1.0 / sc, s, clamp=True)
    out[r0:r1, c0:c1] = ((vr @ lg) @ vc.T) > 0
    return out


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
        (x float32 [1, 3, S, S] = image, foreground guidance, background guidance; the CropBox).
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
    return x, box


# ---- helpers -----------------------------------------------------------------------------------------------------
def _shape2(shape) -> tuple[int, int]:
    try:
        rows, cols = (int(v) for v in shape)
    except (TypeError, ValueError):
        raise ValueError(f"shape must be (rows, cols), got {shape!r}") from None
    if rows < 1 or cols < 1:
        raise ValueError(f"shape must be positive, got {shape!r}")
    return rows, cols


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
