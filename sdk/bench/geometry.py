"""The geometry benchmark suite: one builder per case, with its inputs, contenders and "must reach" bars.

Case keys (also accepted by ``--only``, together with the groups edt, edt3d, closing, fill, surface, dice):
edt2d, edt3d-small, edt3d-large, closing2d, closing3d, fill2d, fill3d, surface2d, surface3d, dice3d. Shapes depend
on the size preset: "full" (2D 512x512; 3D 128x256x256 and 128x512x512, [slices, rows, cols]) or "tiny" (smoke
tests).
Inputs come from :mod:`radseg.bench.cases` (real BTCV organ labels, or labelled synthetic masks).
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from . import cases as C
from . import references as R
from .runner import Bar, Case, Contender, run_case  # noqa: F401  (run_case re-exported for callers)

GROUPS = ("edt", "closing", "fill", "surface", "dice")
SIZES = {  # 2D side, small 3D shape, large 3D shape ([slices, rows, cols]), closing radius (pixels)
    "full": (512, (128, 256, 256), (128, 512, 512), 21),
    "tiny": (64, (12, 32, 32), (16, 48, 48), 5),
}


def _spacing(sp) -> str:
    return "(" + ", ".join(f"{s:.3g}" for s in sp) + ") mm"


def _shape(shape) -> str:
    return "x".join(str(s) for s in shape)


def _origin(source: C.MaskSource) -> str:
    return "SYNTHETIC" if source.synthetic else "real"


def edt2d(source, size, threads) -> Case:
    side = SIZES[size][0]
    m, _, where = C.mask_2d(source, side)
    return Case("edt2d", "edt", f"exact EDT 2D {side}x{side}",
                f"{_origin(source)} organ union, {where}, nearest-upsampled; {m.mean():.1%} foreground; pixels",
                "distance", [
                    Contender("radseg", "radseg distance_transform", lambda: R.radseg_edt(m, None)),
                    Contender("cv2", "cv2.distanceTransform L2 PRECISE", lambda: R.cv2_edt_precise(m, None)),
                    Contender("scipy", "scipy distance_transform_edt", lambda: R.scipy_edt(m, None)),
                    Contender("edt", f"edt.edt(parallel={threads})", lambda: R.edt_package(m, None, threads)),
                    Contender("radseg-chamfer", "radseg chamfer 3-4 (approximate)", lambda: R.radseg_chamfer(m, None)),
                ], [Bar(">= cv2 PRECISE speed", "cv2", 1.0), Bar(">= 8x scipy", "scipy", 8.0)])


def _edt3d(key, shape, bars, source, threads) -> Case:
    m, sp = C.mask_3d(source, shape)
    return Case(key, "edt", f"exact EDT 3D {_shape(shape)} anisotropic",
                f"{_origin(source)} organ union resampled (nearest); {m.mean():.1%} foreground; spacing {_spacing(sp)}",
                "distance", [
                    Contender("radseg", "radseg distance_transform", lambda: R.radseg_edt(m, sp)),
                    Contender("edt", f"edt.edt(anisotropy, parallel={threads})", lambda: R.edt_package(m, sp, threads)),
                    Contender("scipy", "scipy distance_transform_edt", lambda: R.scipy_edt(m, sp), slow=True),
                    Contender("radseg-chamfer", "radseg chamfer quasi (approximate)",
                              lambda: R.radseg_chamfer(m, sp, "quasi")),
                ], bars)


def edt3d_small(source, size, threads) -> Case:
    return _edt3d("edt3d-small", SIZES[size][1], [], source, threads)


def edt3d_large(source, size, threads) -> Case:
    bars = [Bar(">= edt speed", "edt", 1.0), Bar(">= 6x scipy", "scipy", 6.0)]
    return _edt3d("edt3d-large", SIZES[size][2], bars, source, threads)


def closing2d(source, size, threads) -> Case:
    side, r = SIZES[size][0], SIZES[size][3]
    m, _, where = C.mask_2d(source, side)
    return Case("closing2d", "closing", f"binary closing 2D {side}x{side}, disk r={r}",
                f"{_origin(source)} organ union, {where}; {m.mean():.1%} foreground", "mask", [
                    Contender("radseg", f"radseg binary_closing(r={r})", lambda: R.radseg_closing(m, r)),
                    Contender("cv2", "cv2.morphologyEx CLOSE, disk kernel", lambda: R.cv2_closing(m, r)),
                    Contender("scipy", "scipy dilation + erosion, disk", lambda: R.scipy_closing(m, r), slow=True),
                    Contender("skimage", "skimage closing, disk", lambda: R.skimage_closing(m, r), slow=True),
                    Contender("skimage-iso", "skimage isotropic_closing", lambda: R.skimage_isotropic_closing(m, r)),
                ], [Bar("<= 3 ms", max_ms=3.0), Bar("faster than cv2", "cv2", 1.0, strict=True),
                    Bar(">= 100x scipy", "scipy", 100.0)])


def closing3d(source, size, threads) -> Case:
    shape, r_mm = SIZES[size][1], 5.0
    m, sp = C.mask_3d(source, shape)
    return Case("closing3d", "closing", f"binary closing 3D {_shape(shape)}, ball r={r_mm:g} mm anisotropic",
                f"{_origin(source)} organ union resampled (nearest); {m.mean():.1%} foreground; spacing {_spacing(sp)}",
                "mask", [
                    Contender("radseg", f"radseg binary_closing(r={r_mm:g} mm)",
                              lambda: R.radseg_closing(m, r_mm, sp)),
                    Contender("scipy", "scipy dilation + erosion, same ellipsoid",
                              lambda: R.scipy_closing(m, r_mm, sp), slow=True),
                ])


def fill2d(source, size, threads) -> Case:
    side = SIZES[size][0]
    m, _, where = C.mask_2d(source, side)
    return Case("fill2d", "fill", f"fill holes 2D {side}x{side}",
                f"{_origin(source)} organ union, {where}; {m.mean():.1%} foreground", "mask", [
                    Contender("radseg", "radseg fill_holes", lambda: R.radseg_fill(m)),
                    Contender("cv2", "cv2.floodFill from corner (padded)", lambda: R.cv2_fill_recipe(m)),
                    Contender("scipy", "scipy binary_fill_holes", lambda: R.scipy_fill(m)),
                    Contender("fill_voids", "fill_voids.fill", lambda: R.fill_voids_fill(m)),
                ], [Bar("as fast as cv2 recipe", "cv2", 1.0)])


def fill3d(source, size, threads) -> Case:
    shape = SIZES[size][2]
    m, _ = C.mask_3d(source, shape)
    return Case("fill3d", "fill", f"fill holes 3D {_shape(shape)}",
                f"{_origin(source)} organ union resampled (nearest); {m.mean():.1%} foreground", "mask", [
                    Contender("radseg", "radseg fill_holes", lambda: R.radseg_fill(m)),
                    Contender("fill_voids", "fill_voids.fill", lambda: R.fill_voids_fill(m)),
                    Contender("scipy", "scipy binary_fill_holes", lambda: R.scipy_fill(m), slow=True),
                ], [Bar("as fast as fill_voids", "fill_voids", 1.0)])


def _surface(key, title, ref, sp, where, bars, source) -> Case:
    pred = C.perturbed_prediction(ref, sp)
    dice = 2 * np.count_nonzero(pred & ref) / max(1, np.count_nonzero(pred) + np.count_nonzero(ref))
    return Case(key, "surface", title,
                f"{_origin(source)} liver {where}; prediction = reference grown 2 mm and shifted (Dice {dice:.3f}); "
                f"spacing {_spacing(sp)}", "surface", [
                    Contender("radseg", "radseg surface_metrics (1 call)", lambda: R.radseg_surface(pred, ref, sp)),
                    Contender("surface-distance", "surface-distance (3 calls)",
                              lambda: R.deepmind_surface(pred, ref, sp)),
                    Contender("monai", "MONAI HD + HD95 + ASD (3 calls)", lambda: R.monai_surface(pred, ref, sp)),
                ], bars)


def surface2d(source, size, threads) -> Case:
    side = SIZES[size][0]
    ref, sp, where = C.mask_2d(source, side, C.LIVER)
    return _surface("surface2d", f"HD + HD95 + MSD 2D {side}x{side}", ref, sp, where,
                    [Bar(">= 5x surface-distance", "surface-distance", 5.0),
                     Bar(">= 10x MONAI (3 calls)", "monai", 10.0)],
                    source)


def surface3d(source, size, threads) -> Case:
    shape = SIZES[size][1]
    ref, sp = C.mask_3d(source, shape, C.LIVER)
    return _surface("surface3d", f"HD + HD95 + MSD 3D {_shape(shape)} anisotropic", ref, sp, "volume",
                    [Bar(">= 4x surface-distance", "surface-distance", 4.0),
                     Bar(">= 10x MONAI (3 calls)", "monai", 10.0)],
                    source)


def dice3d(source, size, threads) -> Case:
    shape = SIZES[size][2]
    ref, sp = C.mask_3d(source, shape, C.LIVER)
    pred = C.perturbed_prediction(ref, sp)
    return Case("dice3d", "dice", f"Dice 3D {_shape(shape)}", f"{_origin(source)} liver vs grown+shifted copy",
                "scalar", [
        Contender("radseg", "radseg metrics.dice", lambda: R.radseg_dice(pred, ref)),
        Contender("numpy", "numpy count_nonzero", lambda: R.numpy_dice(pred, ref)),
        Contender("monai", "MONAI compute_dice", lambda: R.monai_dice(pred, ref), slow=True),
    ])


BUILDERS = {"edt2d": edt2d, "edt3d-small": edt3d_small, "edt3d-large": edt3d_large, "closing2d": closing2d,
            "closing3d": closing3d,
            "fill2d": fill2d, "fill3d": fill3d, "surface2d": surface2d, "surface3d": surface3d, "dice3d": dice3d}


def group_of(key: str) -> str:
    return next(g for g in GROUPS if key.startswith(g))


def selected_keys(selected=None) -> list[str]:
    """Case keys matching `selected` (case keys, groups, or 'edt3d'); all of them for None."""
    if selected is None:
        return list(BUILDERS)
    return [k for k in BUILDERS if any(k == t or group_of(k) == t or k.startswith(t + "-") for t in selected)]


def build_cases(source: C.MaskSource, size: str, threads: int, selected=None) -> Iterator[Case]:
    """The selected cases with inputs prepared from `source`, one at a time (a generator: only one case's volumes
    are held in memory at once)."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}, got {size!r}")
    for key in selected_keys(selected):
        yield BUILDERS[key](source, size, threads)
