"""The annotation picture: the slice in grey with the candidate's contour in red, and a status line under it.

    rgb = render(image, mask, status_lines(3, 40, ("M1(2)", "M1(3)"), mask))   # uint8 [H, W, 3]
    write_picture("current.png", rgb)

Pure numpy (PNG through `radseg._png`). The slice is scaled min -> 0, max -> 255 as in the paper (seed 000);
images smaller than `min_side` are enlarged by a whole factor (each pixel a k x k block) so a 128 x 128 slice
is readable, images larger than `max_side` are shown every n-th pixel. The contour is the mask's own border
pixels on the displayed grid (1 px, 2 px when enlarged); the image edge counts as outside, so a mask that
touches it is outlined along it.
"""
from __future__ import annotations

import textwrap

import numpy as np

from radseg._png import upscale_factor, write_png

from ._font import GLYPH_ROWS, text_bitmap

RED = (255, 0, 0)
#: Key help shown on every picture.
KEYS_HELP = "Y KEEP   OTHER KEY DISCARD   Q / ESC QUIT"


def scale_gray(image: np.ndarray) -> np.ndarray:
    """uint8 [rows, cols]: `image` (real [rows, cols]) with its min -> 0 and max -> 255; a constant image is all 0
    and NaN pixels are 0."""
    a = np.asarray(image, dtype=np.float64)
    finite = np.isfinite(a)
    if not finite.any():
        return np.zeros(a.shape, np.uint8)
    low, high = float(a[finite].min()), float(a[finite].max())
    if high <= low:
        return np.zeros(a.shape, np.uint8)
    out = np.where(finite, (a - low) * (255.0 / (high - low)), 0.0)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def contour(mask: np.ndarray, thickness: int = 1) -> np.ndarray:
    """bool [rows, cols]: the pixels of `mask` within `thickness` px (4-connected steps) of its border; outside
    the array counts as background."""
    m = np.asarray(mask, dtype=bool)
    inner = m.copy()
    for _ in range(max(int(thickness), 1)):
        eroded = inner.copy()
        eroded[0, :] = eroded[-1, :] = False
        eroded[:, 0] = eroded[:, -1] = False
        eroded[1:, :] &= inner[:-1, :]
        eroded[:-1, :] &= inner[1:, :]
        eroded[:, 1:] &= inner[:, :-1]
        eroded[:, :-1] &= inner[:, 1:]
        inner = eroded
    return m & ~inner


def display_factor(shape, min_side: int = 512, max_side: int = 1024) -> tuple:
    """(k, step): each pixel shown as k x k, or every `step`-th pixel shown, so the longer side of `shape` lands
    between `min_side` and `max_side` where a whole factor allows."""
    longest = max(int(s) for s in shape[:2])
    if longest > max_side:
        return 1, -(-longest // max_side)
    return upscale_factor(shape, min_side), 1


def status_lines(position: int, total: int, names=(), mask=None) -> list:
    """The two status lines: "n OF N   <names>" (plus "(EMPTY MASK)" when the mask has no pixel) and the
    key help."""
    first = f"{int(position)} OF {int(total)}   {', '.join(str(n) for n in names)}"
    if mask is not None and not np.asarray(mask).any():
        first += "   (EMPTY MASK)"
    return [first, KEYS_HELP]


def render(image: np.ndarray, mask: np.ndarray, status=(), min_side: int = 512, max_side: int = 1024,
           color=RED) -> np.ndarray:
    """The picture, uint8 RGB [H, W, 3].

    Args:
        image: real [rows, cols], any range (scaled min -> 0, max -> 255).
        mask: bool [rows, cols], the candidate.
        status: lines of text drawn under the image (a str is one line); too long lines are cut with "..".
        min_side, max_side: display size bounds of the image's longer side (see `display_factor`).
        color: the contour's RGB.
    Returns:
        [rows * k + bar, cols * k, 3] (or the subsampled size), the status bar below the image.
    """
    gray = scale_gray(image)
    m = np.asarray(mask, dtype=bool)
    if gray.ndim != 2 or gray.shape != m.shape:
        raise ValueError(f"render: image and mask must be 2D [rows, cols] of one shape, got {gray.shape} and "
                         f"{m.shape}")
    k, step = display_factor(gray.shape, min_side, max_side)
    if step > 1:
        gray, m = gray[::step, ::step], m[::step, ::step]
    if k > 1:
        gray = np.repeat(np.repeat(gray, k, axis=0), k, axis=1)
        m = np.repeat(np.repeat(m, k, axis=0), k, axis=1)
    rgb = np.repeat(gray[..., None], 3, axis=2)
    rgb[contour(m, 2 if k > 1 else 1)] = np.asarray(color, np.uint8)
    lines = [status] if isinstance(status, str) else list(status)
    if not lines:
        return rgb
    return np.concatenate([rgb, status_bar(lines, rgb.shape[1])], axis=0)


def status_bar(lines, width: int) -> np.ndarray:
    """uint8 RGB [h, width, 3]: `lines` in white on dark grey, wrapped at spaces; the 2x font when that takes at
    most 4 rows, else the 1x font (at most 4 rows per line, the last cut with "..")."""
    lines = [str(t) for t in lines]
    rows = _wrap(lines, _fit(width, 2))
    scale = 2 if len(rows) <= 4 else 1
    if scale == 1:
        rows = _wrap(lines, _fit(width, 1))
    pad = 3 * scale
    line_h = GLYPH_ROWS * scale + pad
    bar = np.full((pad + line_h * len(rows), width, 3), 40, np.uint8)
    for n, text in enumerate(rows):
        bits = text_bitmap(text, scale)[:, : width - pad]
        top = pad + n * line_h
        bar[top:top + bits.shape[0], pad:pad + bits.shape[1]][bits] = 255
    return bar


def _wrap(lines, fit: int) -> list:
    rows = []
    for text in lines:
        wrapped = textwrap.wrap(text, fit) or [""]
        if len(wrapped) > 4:
            wrapped = wrapped[:3] + [wrapped[3][: max(fit - 2, 0)] + ".."]
        rows += [r if len(r) <= fit else r[: max(fit - 2, 0)] + ".." for r in wrapped]
    return rows


def _fit(width: int, scale: int) -> int:
    """How many characters of the font at `scale` fit across `width` pixels with the bar's margins."""
    return max((int(width) - 6 * scale) // (6 * scale), 1)


def write_picture(path, rgb: np.ndarray) -> str:
    """Write the picture (uint8 RGB [H, W, 3]) as PNG at `path`, atomically; returns the path."""
    return write_png(path, rgb)


def png_bytes(rgb: np.ndarray) -> bytes:
    """The picture as PNG bytes (for Tk's PhotoImage)."""
    from radseg._png import encode_png

    return encode_png(rgb)
