"""The geometry benchmark: cases, the "must reach" bars, and the runner that times them side by side.

A case is one workload (e.g. exact 3D EDT of a 128x512x512 organ volume) with its contenders: radseg first, then
the references. Speed ratios are ``median(reference) / median(radseg)`` from the same run (so > 1 means radseg is
faster), and every contender's first output is compared with radseg's (max |difference| for distance maps, count
of differing voxels for masks, relative difference of each value for metrics), so a fast wrong answer shows.
"""
from __future__ import annotations

import dataclasses
import warnings
from typing import Callable, Iterator

import numpy as np

from . import cases as C
from . import references as R
from .timing import time_interleaved

GROUPS = ("edt", "closing", "fill", "surface", "dice")
SIZES = {  # 2D side, small 3D shape, large 3D shape ([slices, rows, cols])
    "full": (512, (128, 256, 256), (128, 512, 512)),
    "tiny": (64, (12, 32, 32), (16, 48, 48)),
}
SURFACE_KEYS = ("hausdorff", "hausdorff_percentile", "mean_surface_distance")


@dataclasses.dataclass
class Contender:
    key: str  # short library key used by bars: radseg, cv2, scipy, edt, skimage, fill_voids, surface-distance, ...
    label: str  # what is called, as printed
    make: Callable[[], Callable[[], object]]
    slow: bool = False  # skipped under --quick (seconds per call)
    note: str = ""


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


def _fmt_spacing(sp) -> str:
    return "(" + ", ".join(f"{s:.3g}" for s in sp) + ") mm"


def _fmt_shape(shape) -> str:
    return "x".join(str(s) for s in shape)


def build_cases(source: C.MaskSource, size: str, threads: int, selected=None) -> Iterator[Case]:
    """The cases whose key or group is in `selected` (all when None), inputs prepared from `source`, one at a time
    (a generator, so that only one case's volumes are held in memory)."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}, got {size!r}")
    side, small3d, large3d = SIZES[size]
    keys = ["edt2d", "edt3d-small", "edt3d-large", "closing2d", "fill2d", "fill3d", "surface2d", "surface3d", "dice3d"]
    want = [k for k in keys if selected is None or any(k == t or _group(k) == t or k.startswith(t + "-") for t in selected)]
    src = "SYNTHETIC" if source.synthetic else "real"
    radius = 21 if size == "full" else 5
    for key in want:
        if key == "edt2d":
            m, _, where = C.mask_2d(source, side)
            yield (Case(key, "edt", f"exact EDT 2D {side}x{side}",
                            f"{src} organ union, {where}, nearest-upsampled; {m.mean():.1%} foreground; pixels",
                            "distance", [
                                Contender("radseg", "radseg distance_transform", lambda m=m: R.radseg_edt(m, None)),
                                Contender("cv2", "cv2.distanceTransform L2 PRECISE", lambda m=m: R.cv2_edt_precise(m, None)),
                                Contender("scipy", "scipy distance_transform_edt", lambda m=m: R.scipy_edt(m, None)),
                                Contender("edt", "edt.edt", lambda m=m: R.edt_package(m, None, threads)),
                                Contender("radseg-chamfer", "radseg chamfer (approximate)", lambda m=m: R.radseg_chamfer(m, None)),
                            ], [Bar(">= cv2 PRECISE speed", "cv2", 1.0), Bar(">= 8x scipy", "scipy", 8.0)]))
        elif key in ("edt3d-small", "edt3d-large"):
            shape = small3d if key == "edt3d-small" else large3d
            m, sp = C.mask_3d(source, shape)
            bars = [Bar(">= edt speed", "edt", 1.0), Bar(">= 6x scipy", "scipy", 6.0)] if key == "edt3d-large" else []
            yield (Case(key, "edt", f"exact EDT 3D {_fmt_shape(shape)} anisotropic",
                            f"{src} organ union resampled (nearest); {m.mean():.1%} foreground; spacing {_fmt_spacing(sp)}",
                            "distance", [
                                Contender("radseg", "radseg distance_transform", lambda m=m, sp=sp: R.radseg_edt(m, sp)),
                                Contender("edt", f"edt.edt(anisotropy, parallel={threads})", lambda m=m, sp=sp: R.edt_package(m, sp, threads)),
                                Contender("scipy", "scipy distance_transform_edt", lambda m=m, sp=sp: R.scipy_edt(m, sp), slow=True),
                                Contender("radseg-chamfer", "radseg chamfer (approximate)", lambda m=m, sp=sp: R.radseg_chamfer(m, sp)),
                            ], bars))
        elif key == "closing2d":
            m, _, where = C.mask_2d(source, side)
            yield (Case(key, "closing", f"binary closing 2D {side}x{side}, disk r={radius}",
                            f"{src} organ union, {where}; {m.mean():.1%} foreground", "mask", [
                                Contender("radseg", f"radseg binary_closing(r={radius})", lambda m=m: R.radseg_closing(m, radius)),
                                Contender("cv2", "cv2.morphologyEx CLOSE, disk kernel", lambda m=m: R.cv2_closing(m, radius)),
                                Contender("scipy", "scipy binary_closing, disk", lambda m=m: R.scipy_closing(m, radius), slow=True),
                                Contender("skimage", "skimage closing, disk", lambda m=m: R.skimage_closing(m, radius), slow=True),
                                Contender("skimage-iso", "skimage isotropic_closing", lambda m=m: R.skimage_isotropic_closing(m, radius)),
                            ], [Bar("<= 3 ms", max_ms=3.0), Bar("faster than cv2", "cv2", 1.0, strict=True),
                                Bar(">= 100x scipy", "scipy", 100.0)]))
        elif key == "fill2d":
            m, _, where = C.mask_2d(source, side)
            yield (Case(key, "fill", f"fill holes 2D {side}x{side}", f"{src} organ union, {where}; "
                            f"{m.mean():.1%} foreground", "mask", [
                                Contender("radseg", "radseg fill_holes", lambda m=m: R.radseg_fill(m)),
                                Contender("cv2", "cv2.floodFill from corner (padded)", lambda m=m: R.cv2_fill_recipe(m)),
                                Contender("scipy", "scipy binary_fill_holes", lambda m=m: R.scipy_fill(m)),
                                Contender("fill_voids", "fill_voids.fill", lambda m=m: R.fill_voids_fill(m)),
                            ], [Bar("as fast as cv2 recipe", "cv2", 1.0)]))
        elif key == "fill3d":
            m, sp = C.mask_3d(source, large3d)
            yield (Case(key, "fill", f"fill holes 3D {_fmt_shape(large3d)}", f"{src} organ union resampled; "
                            f"{m.mean():.1%} foreground", "mask", [
                                Contender("radseg", "radseg fill_holes", lambda m=m: R.radseg_fill(m)),
                                Contender("fill_voids", "fill_voids.fill", lambda m=m: R.fill_voids_fill(m)),
                                Contender("scipy", "scipy binary_fill_holes", lambda m=m: R.scipy_fill(m), slow=True),
                            ], [Bar("as fast as fill_voids", "fill_voids", 1.0)]))
        elif key in ("surface2d", "surface3d"):
            if key == "surface2d":
                ref, sp, where = C.mask_2d(source, side, C.LIVER)
                title, bars = f"HD + HD95 + MSD 2D {side}x{side}", [Bar(">= 5x surface-distance", "surface-distance", 5.0),
                                                                   Bar(">= 10x MONAI (3 calls)", "monai", 10.0)]
            else:
                ref, sp = C.mask_3d(source, small3d, C.LIVER)
                where = "volume"
                title, bars = f"HD + HD95 + MSD 3D {_fmt_shape(small3d)} anisotropic", [
                    Bar(">= 4x surface-distance", "surface-distance", 4.0), Bar(">= 10x MONAI (3 calls)", "monai", 10.0)]
            pred = C.perturbed_prediction(ref, sp)
            dice = 2 * np.count_nonzero(pred & ref) / max(1, np.count_nonzero(pred) + np.count_nonzero(ref))
            yield (Case(key, "surface", title, f"{src} liver {where}; prediction = reference grown 2 mm and "
                            f"shifted (Dice {dice:.3f}); spacing {_fmt_spacing(sp)}", "surface", [
                                Contender("radseg", "radseg surface_metrics (1 call)", lambda p=pred, r=ref, s=sp: R.radseg_surface(p, r, s)),
                                Contender("surface-distance", "surface-distance (3 calls)", lambda p=pred, r=ref, s=sp: R.deepmind_surface(p, r, s)),
                                Contender("monai", "MONAI HD + HD95 + ASD (3 calls)", lambda p=pred, r=ref, s=sp: R.monai_surface(p, r, s)),
                            ], bars))
        elif key == "dice3d":
            ref, sp = C.mask_3d(source, large3d, C.LIVER)
            pred = C.perturbed_prediction(ref, sp)
            yield (Case(key, "dice", f"Dice 3D {_fmt_shape(large3d)}", f"{src} liver vs grown+shifted copy",
                            "scalar", [
                                Contender("radseg", "radseg metrics.dice", lambda p=pred, r=ref: R.radseg_dice(p, r)),
                                Contender("numpy", "numpy count_nonzero", lambda p=pred, r=ref: R.numpy_dice(p, r)),
                                Contender("monai", "MONAI compute_dice", lambda p=pred, r=ref: R.monai_dice(p, r), slow=True),
                            ]))


def _group(key: str) -> str:
    return next(g for g in GROUPS if key.startswith(g))


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
