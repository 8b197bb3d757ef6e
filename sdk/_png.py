"""A minimal PNG writer (8-bit grayscale or RGB) in numpy + zlib, so the SDK writes masks and overlays without
Pillow or matplotlib. Lossless; no filtering (filter type 0 per row), which is fine for masks and small images.
"""
from __future__ import annotations

import os
import struct
import zlib

import numpy as np


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of `image`: uint8 (or bool) [rows, cols] grayscale, or uint8 [rows, cols, 3] RGB."""
    a = np.asarray(image)
    if a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    if a.dtype != np.uint8:
        raise TypeError(f"image must be uint8 or bool, got {a.dtype}; scale it to 0..255 first")
    if a.ndim == 2:
        color_type, channels = 0, 1
    elif a.ndim == 3 and a.shape[2] == 3:
        color_type, channels = 2, 3
    else:
        raise ValueError(f"image must be [rows, cols] or [rows, cols, 3], got shape {a.shape}")
    rows, cols = a.shape[:2]
    if rows < 1 or cols < 1:
        raise ValueError(f"image must not be empty, got shape {a.shape}")
    raw = np.zeros((rows, 1 + cols * channels), dtype=np.uint8)  # leading 0 = no filter on every row
    raw[:, 1:] = a.reshape(rows, cols * channels)
    header = struct.pack(">IIBBBBB", cols, rows, 8, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw.tobytes(), 6))
            + _chunk(b"IEND", b""))


def write_png(path, image: np.ndarray) -> str:
    """Write `image` (see `encode_png`) to `path` atomically (whole or not at all); returns the path."""
    from ._atomic import write_atomic

    data = encode_png(image)

    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(data)

    return write_atomic(os.fspath(path), write, suffix=".png")


def to_uint8(image: np.ndarray, low: float, high: float) -> np.ndarray:
    """Window a float image to [low, high] and scale it to uint8 0..255 (display only)."""
    a = (np.asarray(image, dtype=np.float32) - low) * (255.0 / max(high - low, 1e-6))
    return np.clip(a, 0, 255).astype(np.uint8)


def upscale_factor(shape, min_side: int) -> int:
    """The whole factor k >= 1 that brings the longer side of `shape` to at least `min_side` pixels."""
    longest = max(int(s) for s in shape[:2])
    return max(1, -(-int(min_side) // max(longest, 1)))


def overlay(gray: np.ndarray, mask: np.ndarray, color=(255, 64, 32), alpha: float = 0.45,
            points=(), min_side: int = 0) -> np.ndarray:
    """RGB uint8 [rows * k, cols * k, 3]: `gray` (uint8 [rows, cols]) with `mask` tinted in `color` and its border
    drawn fully opaque; `points` is a sequence of (row, col, positive) in image pixels, drawn as small green (+) or
    red (-) squares. k = `upscale_factor(shape, min_side)` (1 by default): each pixel becomes a k x k block, so a
    small image is readable on screen; the border and the points are drawn at the enlarged size."""
    gray = np.asarray(gray, dtype=np.uint8)
    m = np.asarray(mask, dtype=bool)
    if gray.shape != m.shape:
        raise ValueError(f"gray and mask must have the same shape, got {gray.shape} and {m.shape}")
    k = upscale_factor(m.shape, min_side) if min_side else 1
    if k > 1:
        gray = np.repeat(np.repeat(gray, k, axis=0), k, axis=1)
        m = np.repeat(np.repeat(m, k, axis=0), k, axis=1)
        points = [((r + 0.5) * k - 0.5, (c + 0.5) * k - 0.5, p) for r, c, p in points]
    rgb = np.repeat(gray[..., None], 3, axis=2).astype(np.float32)
    tint = np.asarray(color, dtype=np.float32)
    rgb[m] = (1 - alpha) * rgb[m] + alpha * tint
    inner = m.copy()
    inner[1:, :] &= m[:-1, :]
    inner[:-1, :] &= m[1:, :]
    inner[:, 1:] &= m[:, :-1]
    inner[:, :-1] &= m[:, 1:]
    rgb[m & ~inner] = tint
    rows, cols = m.shape
    half = 2 + k // 2
    for r, c, positive in points:
        r, c = int(round(r)), int(round(c))
        rgb[max(r - half, 0):min(r + half + 1, rows), max(c - half, 0):min(c + half + 1, cols)] = (
            (40, 220, 40) if positive else (230, 30, 30))
    return rgb.astype(np.uint8)
