"""Simulated users for the click model (numpy + the native distance transform; no torch).

* ``first_click`` / ``next_click``: the random robot of seed 003 (Sakinis et al.), used in training. A pixel is
  chosen with probability proportional to exp(d / temperature) - 1, d being its Euclidean distance in pixels to the
  border of the region it lies in (the structure for the first click; the false-negative or false-positive region
  for later ones; the image edge counts as border). temperature=1 is the paper's rule. It is evaluated as
  exp((d - d_max) / T) - exp(-d_max / T), which is the same distribution up to the constant exp(d_max / T) and never
  overflows, however large the organ.
* ``deterministic_click``: the evaluation user. It clicks the interior point farthest from the border of the
  largest (by area, 4-connected) error region: foreground for a missed region, background for a false one.

Masks are bool/integer [rows, cols]; clicks are (row, col, positive) with integer pixel indices.
"""
from __future__ import annotations

import numpy as np

from .._validate import as_mask, same_shape
from ..geometry import distance_transform


def _inner_distance(region: np.ndarray) -> np.ndarray:
    """Distance (pixels) of every region pixel to the nearest non-region pixel, the image edge counting as outside."""
    padded = np.pad(region, 1)
    return distance_transform(padded)[1:-1, 1:-1]


def _sample(region: np.ndarray, rng: np.random.Generator, temperature: float) -> tuple[int, int] | None:
    if not region.any():
        return None
    d = _inner_distance(region).astype(np.float64)
    idx = np.flatnonzero(region)
    dv = d.ravel()[idx]
    dmax = dv.max()
    t = float(temperature)
    w = np.exp((dv - dmax) / t) - np.exp(-dmax / t)
    total = w.sum()
    if not total > 0:  # cannot happen for d >= 1, kept for safety
        k = idx[int(np.argmax(dv))]
    else:
        k = idx[int(rng.choice(idx.size, p=w / total))]
    return divmod(int(k), region.shape[1])


def _check_temperature(temperature) -> float:
    t = float(temperature)
    if not (np.isfinite(t) and t > 0):
        raise ValueError(f"temperature must be a positive number (1.0 is the paper's rule), got {temperature!r}")
    return t


def first_click(gt, rng: np.random.Generator, temperature: float = 1.0) -> tuple[int, int, bool] | None:
    """The first (foreground) click inside `gt`, drawn with probability proportional to exp(d / T) - 1.

    Returns (row, col, True), or None when `gt` is empty.
    """
    g = as_mask(gt, "gt", ndims=(2,)).astype(bool)
    rc = _sample(g, rng, _check_temperature(temperature))
    return None if rc is None else (rc[0], rc[1], True)


def next_click(gt, pred, rng: np.random.Generator, temperature: float = 1.0) -> tuple[int, int, bool] | None:
    """A corrective click: foreground inside the false negatives when their area is at least the false positives',
    background inside the false positives otherwise, drawn with probability proportional to exp(d / T) - 1.

    Returns (row, col, positive), or None when `pred` equals `gt`.
    """
    g = as_mask(gt, "gt", ndims=(2,)).astype(bool)
    p = as_mask(pred, "pred", ndims=(2,)).astype(bool)
    same_shape(g, p, "gt", "pred")
    t = _check_temperature(temperature)
    fn = g & ~p
    fp = p & ~g
    n_fn, n_fp = int(fn.sum()), int(fp.sum())
    if n_fn == 0 and n_fp == 0:
        return None
    positive = n_fn >= n_fp
    rc = _sample(fn if positive else fp, rng, t)
    return (rc[0], rc[1], positive)


def _label4(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """4-connected component labels (int, 0 = background) and their count."""
    try:
        from scipy import ndimage
    except ModuleNotFoundError:  # pragma: no cover - scipy ships with the train/test extras
        return _label4_numpy(mask)
    labels, n = ndimage.label(mask)
    return labels, int(n)


def _label4_numpy(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Pure-numpy 4-connected labelling by iterated min-propagation (slow on big masks; scipy is preferred)."""
    big = np.iinfo(np.int64).max
    lab = np.where(mask, np.arange(mask.size).reshape(mask.shape), big)
    while True:
        prev = lab
        p = np.pad(lab, 1, constant_values=big)
        lab = np.minimum.reduce([lab, p[:-2, 1:-1], p[2:, 1:-1], p[1:-1, :-2], p[1:-1, 2:]])
        lab = np.where(mask, lab, big)
        if np.array_equal(lab, prev):
            break
    uniq, inv = np.unique(lab[mask], return_inverse=True)
    out = np.zeros(mask.shape, np.int64)
    out[mask] = inv + 1
    return out, len(uniq)


def deterministic_click(gt, pred) -> tuple[int, int, bool] | None:
    """The evaluation user's next click, or None when `pred` equals `gt`.

    Takes the largest 4-connected component (by pixel count) of the false negatives and false positives together
    (ties: false negatives first, then the lower label), and clicks its interior point farthest from its border
    (the image edge counts as border; ties: the first in row-major order). The click is foreground for a missed
    region, background for a false one. With an empty `pred`, this is the first click at the deepest point of the
    structure's largest piece.
    """
    g = as_mask(gt, "gt", ndims=(2,)).astype(bool)
    p = as_mask(pred, "pred", ndims=(2,)).astype(bool)
    same_shape(g, p, "gt", "pred")
    best = None  # (area, positive, component mask)
    for positive, err in ((True, g & ~p), (False, p & ~g)):
        if not err.any():
            continue
        labels, n = _label4(err)
        sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
        k = int(np.argmax(sizes))
        if best is None or sizes[k] > best[0]:
            best = (int(sizes[k]), positive, labels == k + 1)
    if best is None:
        return None
    _, positive, region = best
    d = _inner_distance(region)
    r, c = divmod(int(np.argmax(d)), region.shape[1])
    return (r, c, positive)
