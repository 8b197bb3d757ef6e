"""A montage PNG of a segmented volume: the slices where any structure is, each structure outlined in its colour.

    m = radseg.montage.make_montage(volume_hu, [liver_mask, spleen_mask], names=["liver", "spleen"],
                                    clicks=[[(40, 120, 88, True)], [(52, 90, 160, True)]], modality="CT")
    radseg.montage.write_montage("montage.png", m)         # or m.rgb: uint8 [height, width, 3]

Layout: up to `max_tiles` tiles (24), in slice order, left to right then top to bottom. When more slices hold a
structure than that, every n-th is shown (n = ceil(count / max_tiles)) and each structure's clicked slice replaces
the shown slice nearest to it, so the seeds are always there. Each tile is the slice in a display window (CT: the
soft-tissue window W400 / L40 HU; MR and anything else: the volume's 0.5 .. 99.5 percentiles), scaled by a whole
factor to come nearest `tile_side` pixels (enlarged by repeating pixels, reduced by averaging blocks), its slice
index in the top-left corner, each structure's outline drawn in its colour, and the clicks of a structure on its
seed slice as small squares: filled in the structure's colour with a white rim for a positive click, black with a
rim in the structure's colour for a negative one. A legend strip below the tiles names the structures in their
colours. Pixels are shown square (the in-plane spacing is not used).

Numpy only (the PNG encoder is `radseg._png`); no matplotlib or Pillow.
"""
from __future__ import annotations

import dataclasses
import math
from typing import List, Optional, Sequence

import numpy as np

from ._png import to_uint8

#: Outline colours, one per structure in order (cycled beyond ten): distinct on gray and on each other.
PALETTE = (
    (255, 64, 32), (40, 200, 255), (255, 220, 0), (60, 230, 60), (255, 70, 255),
    (255, 150, 40), (150, 120, 255), (0, 255, 200), (255, 255, 255), (180, 255, 120),
)
#: CT display window (low, high) in HU: W400 / L40, soft tissue.
CT_WINDOW = (-160.0, 240.0)
#: Percentiles of the volume that bound the display window of MR (and of any non-CT image).
MR_PERCENTILES = (0.5, 99.5)
GAP = 2  # pixels between tiles
BACKGROUND = 32  # gray level between tiles and behind the legend

# A 3 x 5 pixel font: enough for slice numbers and structure names (lower case is drawn as upper case).
_GLYPHS = {
    "0": ("###", "#.#", "#.#", "#.#", "###"), "1": (".#.", "##.", ".#.", ".#.", "###"),
    "2": ("###", "..#", "###", "#..", "###"), "3": ("###", "..#", ".##", "..#", "###"),
    "4": ("#.#", "#.#", "###", "..#", "..#"), "5": ("###", "#..", "###", "..#", "###"),
    "6": ("###", "#..", "###", "#.#", "###"), "7": ("###", "..#", ".#.", ".#.", ".#."),
    "8": ("###", "#.#", "###", "#.#", "###"), "9": ("###", "#.#", "###", "..#", "###"),
    "A": (".#.", "#.#", "###", "#.#", "#.#"), "B": ("##.", "#.#", "##.", "#.#", "##."),
    "C": (".##", "#..", "#..", "#..", ".##"), "D": ("##.", "#.#", "#.#", "#.#", "##."),
    "E": ("###", "#..", "##.", "#..", "###"), "F": ("###", "#..", "##.", "#..", "#.."),
    "G": (".##", "#..", "#.#", "#.#", ".##"), "H": ("#.#", "#.#", "###", "#.#", "#.#"),
    "I": ("###", ".#.", ".#.", ".#.", "###"), "J": ("..#", "..#", "..#", "#.#", ".#."),
    "K": ("#.#", "#.#", "##.", "#.#", "#.#"), "L": ("#..", "#..", "#..", "#..", "###"),
    "M": ("#.#", "###", "###", "#.#", "#.#"), "N": ("##.", "#.#", "#.#", "#.#", "#.#"),
    "O": (".#.", "#.#", "#.#", "#.#", ".#."), "P": ("##.", "#.#", "##.", "#..", "#.."),
    "Q": (".#.", "#.#", "#.#", "##.", ".##"), "R": ("##.", "#.#", "##.", "#.#", "#.#"),
    "S": (".##", "#..", ".#.", "..#", "##."), "T": ("###", ".#.", ".#.", ".#.", ".#."),
    "U": ("#.#", "#.#", "#.#", "#.#", "###"), "V": ("#.#", "#.#", "#.#", "#.#", ".#."),
    "W": ("#.#", "#.#", "###", "###", "#.#"), "X": ("#.#", "#.#", ".#.", "#.#", "#.#"),
    "Y": ("#.#", "#.#", ".#.", ".#.", ".#."), "Z": ("###", "..#", ".#.", "#..", "###"),
    "_": ("...", "...", "...", "...", "###"), "-": ("...", "...", "###", "...", "..."),
    ".": ("...", "...", "...", "...", ".#."), ":": ("...", ".#.", "...", ".#.", "..."),
    " ": ("...", "...", "...", "...", "..."), "?": ("##.", "..#", ".#.", "...", ".#."),
}


@dataclasses.dataclass
class Montage:
    """A rendered montage.

    Attributes:
        rgb: uint8 [height, width, 3].
        slices: the slice index of each tile, in tile order.
        grid: (tile rows, tile columns).
        tile_shape: (height, width) of one tile in pixels.
        scale: pixels of a tile per image pixel (> 1 enlarged, < 1 reduced).
        every: every how many-th slice holding a structure is shown (1: all of them).
        colors: the RGB colour of each structure, in the order given.
        window: (low, high) display window of the image values.
    """

    rgb: np.ndarray
    slices: List[int]
    grid: tuple
    tile_shape: tuple
    scale: float
    every: int
    colors: List[tuple]
    window: tuple

    def info(self) -> dict:
        """JSON-able description (everything but the pixels)."""
        return {"slices": [int(s) for s in self.slices], "grid": list(self.grid), "tile_shape": list(self.tile_shape),
                "scale": round(float(self.scale), 4), "every": int(self.every),
                "colors": [list(c) for c in self.colors], "window": [round(float(w), 2) for w in self.window],
                "size": [int(self.rgb.shape[0]), int(self.rgb.shape[1])]}


def display_window(image: np.ndarray, modality: Optional[str]) -> tuple:
    """(low, high) for showing `image`: the CT soft-tissue window, else the 0.5 / 99.5 percentiles of the values
    (on a subsample of a large volume)."""
    if str(modality or "").upper() == "CT":
        return CT_WINDOW
    a = np.asarray(image)
    flat = a.reshape(-1)
    if flat.size > 2_000_000:
        flat = flat[:: flat.size // 1_000_000]
    flat = flat[np.isfinite(flat)] if np.issubdtype(flat.dtype, np.floating) else flat
    if flat.size == 0:
        return (0.0, 1.0)
    low, high = (float(v) for v in np.percentile(flat, MR_PERCENTILES))
    return (low, high if high > low else low + 1.0)


def choose_slices(masks: Sequence[np.ndarray], seeds: Sequence[int] = (), max_tiles: int = 24,
                  n_slices: Optional[int] = None) -> tuple:
    """(slice indices to show, every): the slices where any mask is non-empty, every n-th when more than
    `max_tiles`, with each seed slice in place of the nearest chosen one; the seeds alone when no mask holds
    anything; the middle slice when there are no seeds either."""
    if max_tiles < 1:
        raise ValueError(f"max_tiles must be at least 1, got {max_tiles}")
    present = np.zeros(0, bool)
    for m in masks:
        any_in = np.asarray(m).reshape(len(m), -1).any(axis=1)
        present = any_in if present.size == 0 else (present | any_in)
    shown = [int(k) for k in np.flatnonzero(present)]
    seeds = sorted({int(s) for s in seeds})
    if not shown:
        if seeds:
            return seeds[:max_tiles], 1
        n = n_slices if n_slices is not None else (len(masks[0]) if len(masks) else 1)
        return [max(int(n) // 2, 0)], 1
    every = max(1, math.ceil(len(shown) / max_tiles))
    chosen = shown[::every]
    for s in seeds:
        if s in chosen:
            continue
        others = [c for c in chosen if c not in seeds]
        if len(chosen) < max_tiles:
            chosen.append(s)
        elif others:
            nearest = min(others, key=lambda c: abs(c - s))
            chosen[chosen.index(nearest)] = s
        chosen = sorted(chosen)
    return sorted(set(chosen)), every


def _scale_factor(shape, tile_side: int) -> tuple:
    """(up, down): enlarge by `up` (repeat pixels) or reduce by `down` (average blocks), whole factors, so the
    longer side of `shape` comes nearest `tile_side` (96 -> x3, 257 -> x1, 512 -> /2)."""
    longest = max(int(shape[0]), int(shape[1]))
    if longest <= tile_side:
        return max(1, round(tile_side / longest)), 1
    return 1, max(1, round(longest / tile_side))


def _resize(a: np.ndarray, up: int, down: int, mean: bool) -> np.ndarray:
    if up > 1:
        return np.repeat(np.repeat(a, up, axis=0), up, axis=1)
    if down > 1:
        rows, cols = a.shape[0] // down * down, a.shape[1] // down * down
        rows, cols = max(rows, down), max(cols, down)
        pad = ((0, max(0, rows - a.shape[0])), (0, max(0, cols - a.shape[1])))
        b = np.pad(a, pad, mode="edge")[:rows, :cols].astype(np.float32)
        b = b.reshape(rows // down, down, cols // down, down).mean(axis=(1, 3))
        return b if mean else (b >= 0.5)
    return a


def outline(mask: np.ndarray, width: int = 1) -> np.ndarray:
    """The pixels of `mask` within `width` pixels (4-neighbour steps) of its edge, bool."""
    m = np.asarray(mask, bool)
    inner = m.copy()
    for _ in range(max(1, int(width))):
        e = inner.copy()
        e[1:, :] &= inner[:-1, :]
        e[:-1, :] &= inner[1:, :]
        e[:, 1:] &= inner[:, :-1]
        e[:, :-1] &= inner[:, 1:]
        e[0, :] = e[-1, :] = False
        e[:, 0] = e[:, -1] = False
        inner = e
    return m & ~inner


def draw_text(rgb: np.ndarray, text: str, row: int, col: int, color=(255, 255, 255), scale: int = 2,
              shadow: bool = True) -> int:
    """Draw `text` (3 x 5 font, upper case) into `rgb` at (row, col), clipped at the edges; returns the column
    after the text."""
    h, w = rgb.shape[:2]
    for ch in str(text).upper():
        glyph = _GLYPHS.get(ch, _GLYPHS["?"])
        for gr, line in enumerate(glyph):
            for gc, px in enumerate(line):
                if px != "#":
                    continue
                r0, c0 = row + gr * scale, col + gc * scale
                if shadow:
                    rgb[max(r0 + 1, 0):min(r0 + scale + 1, h), max(c0 + 1, 0):min(c0 + scale + 1, w)] = 0
                rgb[max(r0, 0):min(r0 + scale, h), max(c0, 0):min(c0 + scale, w)] = color
        col += 4 * scale
    return col


def _mark(tile: np.ndarray, r: float, c: float, color, positive: bool, half: int) -> None:
    h, w = tile.shape[:2]
    r, c = int(round(r)), int(round(c))
    r0, r1, c0, c1 = max(r - half - 1, 0), min(r + half + 2, h), max(c - half - 1, 0), min(c + half + 2, w)
    if r0 >= r1 or c0 >= c1:
        return
    tile[r0:r1, c0:c1] = (255, 255, 255) if positive else color
    i0, i1, j0, j1 = max(r - half, 0), min(r + half + 1, h), max(c - half, 0), min(c + half + 1, w)
    tile[i0:i1, j0:j1] = color if positive else (0, 0, 0)


def make_montage(image: np.ndarray, masks: Sequence[np.ndarray], names: Optional[Sequence[str]] = None,
                 clicks: Optional[Sequence[Sequence[tuple]]] = None, modality: Optional[str] = "CT",
                 window: Optional[tuple] = None, max_tiles: int = 24, tile_side: int = 256,
                 columns: Optional[int] = None, slices: Optional[Sequence[int]] = None) -> Montage:
    """Render the montage (see the module docstring).

    Args:
        image: real [slices, rows, cols] (CT in HU).
        masks: one bool [slices, rows, cols] per structure.
        names: one name per structure, for the legend (None: no legend).
        clicks: per structure, its clicks (slice, row, col, positive) in voxels; drawn on their slice's tile.
        modality: "CT" uses the CT window; anything else the percentiles. `window` (low, high) overrides both.
        max_tiles: most tiles; tile_side: the target of a tile's longer side in pixels.
        columns: tiles per row (default: about the square root of the tile count, at most 8).
        slices: show exactly these slices (default: `choose_slices`).
    """
    img = np.asarray(image)
    if img.ndim != 3 or min(img.shape) < 1:
        raise ValueError(f"image must be [slices, rows, cols], got shape {img.shape}")
    masks = [np.asarray(m, bool) for m in masks]
    for i, m in enumerate(masks):
        if m.shape != img.shape:
            raise ValueError(f"masks[{i}] has shape {m.shape}, the image {img.shape}")
    clicks = [list(c) for c in (clicks or [[] for _ in masks])]
    if len(clicks) != len(masks):
        raise ValueError(f"clicks must have one entry per mask ({len(masks)}), got {len(clicks)}")
    if names is not None and len(names) != len(masks):
        raise ValueError(f"names must have one entry per mask ({len(masks)}), got {len(names)}")
    if tile_side < 8:
        raise ValueError(f"tile_side must be at least 8 pixels, got {tile_side}")
    seeds = [int(round(c[0])) for cs in clicks for c in cs[:1]]
    if slices is None:
        shown, every = choose_slices(masks, seeds, max_tiles, n_slices=img.shape[0])
    else:
        shown, every = [int(s) for s in slices], 1
        if not shown or not all(0 <= s < img.shape[0] for s in shown):
            raise ValueError(f"slices must be non-empty indices in 0 .. {img.shape[0] - 1}, got {list(slices)}")
    low, high = window if window is not None else display_window(img, modality)
    colors = [PALETTE[i % len(PALETTE)] for i in range(len(masks))]
    up, down = _scale_factor(img.shape[1:], tile_side)
    scale = up / down
    line = 2 if max(img.shape[1:]) * scale >= 200 else 1
    tiles = []
    for s in shown:
        gray = _resize(np.asarray(img[s], np.float32), up, down, mean=True)
        tile = np.repeat(to_uint8(gray, low, high)[..., None], 3, axis=2)
        for m, color in zip(masks, colors):
            if m[s].any():
                tile[outline(_resize(m[s], up, down, mean=False), line)] = color
        half = max(2, int(round(1.5 * max(scale, 1.0))))
        for cs, color in zip(clicks, colors):
            for (cs_s, r, c, positive) in cs:
                if int(round(cs_s)) == s:
                    _mark(tile, (r + 0.5) * scale - 0.5, (c + 0.5) * scale - 0.5, color, bool(positive), half)
        draw_text(tile, str(s), 3, 3, scale=2 if tile.shape[1] >= 96 else 1)
        tiles.append(tile)
    th, tw = tiles[0].shape[:2]
    n = len(tiles)
    ncols = int(columns) if columns else min(8, max(1, math.ceil(math.sqrt(n))))
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    width = ncols * tw + (ncols + 1) * GAP
    legend_h = 0
    font = 2
    if names:
        legend_h = 5 * font + 2 * 4
    height = nrows * th + (nrows + 1) * GAP + legend_h
    rgb = np.full((height, width, 3), BACKGROUND, np.uint8)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, ncols)
        r0, c0 = GAP + r * (th + GAP), GAP + c * (tw + GAP)
        rgb[r0:r0 + th, c0:c0 + tw] = tile
    if names:
        row, col = height - legend_h + 4, GAP + 2
        for name, color in zip(names, colors):
            rgb[row:row + 5 * font, col:col + 5 * font] = color
            col = draw_text(rgb, str(name), row, col + 5 * font + 4, color=color, scale=font, shadow=False) + 8
    return Montage(rgb=rgb, slices=list(shown), grid=(nrows, ncols), tile_shape=(th, tw), scale=scale, every=every,
                   colors=colors, window=(float(low), float(high)))


def write_montage(path, montage: Montage) -> str:
    """Write `montage.rgb` to `path` as PNG, atomically (whole or not at all); returns the path."""
    from ._png import write_png

    return write_png(path, montage.rgb)


__all__ = ["Montage", "make_montage", "write_montage", "choose_slices", "display_window", "outline", "draw_text",
           "PALETTE", "CT_WINDOW"]
