"""Run one benchmark case: time its contenders side by side, compare their outputs, judge the bars.

A case is one workload with its contenders, radseg first. Speed ratios are ``median(contender) / median(radseg)``
from the same run (so > 1 means radseg is faster). Every contender's first output is compared with radseg's
(max |difference| for distance maps, count of differing voxels for masks, relative difference of each value for
metrics), so that a fast wrong answer shows in the table.
"""
from __future__ import annotations

import dataclasses
import warnings
from typing import Callable

import numpy as np

from . import references as R
from .timing import time_interleaved

SURFACE_KEYS = ("hausdorff", "hausdorff_percentile", "mean_surface_distance")


@dataclasses.dataclass
class Contender:
    key: str  # short library key used by bars: radseg, cv2, scipy, edt, skimage, fill_voids, surface-distance, ...
    label: str  # what is called, as printed
    make: Callable[[], Callable[[], object]]
    slow: bool = False  # skipped under --quick (seconds per call)


@dataclasses.dataclass
class Bar:
    """A target: radseg at least `min_ratio` times faster than `versus`, or at most `max_ms` per call."""

    text: str
    versus: str | None = None
    min_ratio: float | None = None
    max_ms: float | None = None
    strict: bool = False  # ratio must be > min_ratio ("faster than"), not >=


@dataclasses.dataclass
class Case:
    key: str
    group: str
    title: str
    inputs: str
    kind: str  # how outputs are compared: "distance" | "mask" | "surface" | "scalar"
    contenders: list[Contender]
    bars: list[Bar] = dataclasses.field(default_factory=list)


def compare(kind: str, ours, theirs) -> dict:
    """How `theirs` differs from radseg's output `ours` (not timed)."""
    if kind == "distance":
        a, b = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
        finite = np.isfinite(a) & np.isfinite(b)
        return {"max_abs_diff": float(np.abs(a[finite] - b[finite]).max(initial=0.0)),
                "inf_mismatch": int(np.count_nonzero(np.isfinite(a) != np.isfinite(b)))}
    if kind == "mask":
        return {"voxels_differing": int(np.count_nonzero(np.asarray(ours, bool) != np.asarray(theirs, bool)))}
    if kind == "surface":
        return {k: {"value": theirs[k], "rel_diff": _rel(theirs[k], ours[k])} for k in SURFACE_KEYS}
    return {"value": float(theirs), "abs_diff": abs(float(theirs) - float(ours))}


def _rel(x: float, ref: float) -> float | None:
    if not (np.isfinite(x) and np.isfinite(ref)):
        return None
    return 0.0 if x == ref else (x - ref) / abs(ref) if ref else None


def run_case(case: Case, repeat: int, budget_s: float, quick: bool = False) -> dict:
    """Time one case's contenders side by side; returns a JSON-ready dict (rows, bars, values)."""
    rows, fns = [], []
    for c in case.contenders:
        row = {"key": c.key, "label": c.label, "status": "ok"}
        if quick and c.slow:
            row["status"] = "skipped (--quick: seconds per call)"
        else:
            try:
                fns.append((len(rows), c.make()))
            except R.NotBuiltYet:
                row["status"] = "n/a (not built yet)"
            except ImportError as exc:
                row["status"] = f"n/a (not installed: {getattr(exc, 'name', None) or exc})"
            except ValueError as exc:
                row["status"] = f"n/a ({exc})"
        rows.append(row)
    outputs = {}

    def keep(i, out):
        index = fns[i][0]
        if rows[index]["key"] == "radseg":
            outputs["radseg"] = out
            if case.kind in ("surface", "scalar"):
                rows[index]["value"] = out
        elif "radseg" in outputs:
            rows[index]["vs_radseg"] = compare(case.kind, outputs["radseg"], out)
        elif case.kind in ("surface", "scalar"):
            rows[index]["value"] = out

    with warnings.catch_warnings():  # third-party deprecation notices (MONAI, surface-distance) on every call
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        timings = time_interleaved([fn for _, fn in fns], repeat, budget_s, on_warmup=keep)
    for (index, _), t in zip(fns, timings):
        if t.error:
            rows[index]["status"] = f"error: {t.error}"
        else:
            rows[index].update(median_s=t.median, n=t.n, times_s=t.times, warmup_s=t.warmup)
    ours = next((r for r in rows if r["key"] == "radseg" and "median_s" in r), None)
    for r in rows:
        if ours and "median_s" in r:
            r["radseg_speedup"] = r["median_s"] / ours["median_s"]
    return {"key": case.key, "group": case.group, "title": case.title, "inputs": case.inputs, "rows": rows,
            "bars": [_judge(b, rows, ours) for b in case.bars]}


def _judge(bar: Bar, rows: list[dict], ours: dict | None) -> dict:
    result = {"bar": bar.text, "measured": None, "verdict": "n/a"}
    if ours is None:
        return result
    if bar.max_ms is not None:
        ms = ours["median_s"] * 1e3
        result.update(measured=f"{ms:.2f} ms", verdict="PASS" if ms <= bar.max_ms else "MISS")
        return result
    ref = next((r for r in rows if r["key"] == bar.versus and "median_s" in r), None)
    if ref is None:
        return result
    ratio = ref["radseg_speedup"]
    ok = ratio > bar.min_ratio if bar.strict else ratio >= bar.min_ratio
    result.update(measured=f"{ratio:.2f}x", verdict="PASS" if ok else "MISS")
    return result
