"""The contenders: zero-argument callables over prepared inputs, for radseg and each reference library.

Every ``make_*`` function takes ready inputs (C-contiguous bool masks, spacing tuples in the array's axis order)
and returns a zero-argument callable that does exactly the work a user of that library would do, nothing more:
input conversions a caller would do once (bool -> uint8 views, torch tensors for MONAI, structuring elements) are
done here, outside the timed call. Imports happen here, so a missing library raises ImportError at build time,
which the runner reports as "n/a (not installed)".

Surface-metric callables return ``{"hausdorff", "hausdorff_percentile", "mean_surface_distance"}`` in mm.
"""
from __future__ import annotations

from typing import Callable

import numpy as np


class NotBuiltYet(LookupError):
    """The radseg function under test does not exist (yet) in this build."""


def radseg_function(module: str, name: str) -> Callable:
    """``radseg.<module>.<name>``, or NotBuiltYet when this build does not have it."""
    import importlib

    fn = getattr(importlib.import_module(f"radseg.{module}"), name, None)
    if fn is None:
        raise NotBuiltYet(f"radseg.{module}.{name}")
    return fn


def disk(radius: int) -> np.ndarray:
    """uint8 [2r+1, 2r+1] disk: every offset (dr, dc) with dr^2 + dc^2 <= r^2 (skimage.morphology.disk's set)."""
    r = np.arange(-radius, radius + 1)
    return (r[:, None] ** 2 + r[None, :] ** 2 <= radius * radius).astype(np.uint8)


# ---- distance transforms ----------------------------------------------------------------------------------------
def radseg_edt(mask, spacing):
    fn = radseg_function("geometry", "distance_transform")
    return lambda: fn(mask, spacing=spacing)


def radseg_chamfer(mask, spacing, kind="3-4"):
    fn = radseg_function("geometry", "chamfer_distance_transform")
    return lambda: fn(mask, spacing=spacing, kind=kind)


def cv2_edt_precise(mask, spacing):
    import cv2

    if spacing is not None and len(set(spacing)) > 1:
        raise ValueError("cv2.distanceTransform has no anisotropic spacing")
    u8 = mask.view(np.uint8)
    scale = 1.0 if spacing is None else float(spacing[0])
    if scale == 1.0:
        return lambda: cv2.distanceTransform(u8, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return lambda: cv2.distanceTransform(u8, cv2.DIST_L2, cv2.DIST_MASK_PRECISE) * scale


def scipy_edt(mask, spacing):
    from scipy import ndimage

    return lambda: ndimage.distance_transform_edt(mask, sampling=spacing)


def edt_package(mask, spacing, threads: int):
    import edt

    anisotropy = tuple(spacing) if spacing is not None else (1.0,) * mask.ndim
    # edt's anisotropy follows the numpy axis order for C-contiguous input (checked against scipy in tests/bench).
    return lambda: edt.edt(mask, anisotropy=anisotropy, black_border=False, parallel=threads)


# ---- morphology -----------------------------------------------------------------------------------------------
def ellipsoid(radius_mm: float, spacing) -> np.ndarray:
    """bool structuring element: every offset d (voxels) with |d * spacing| <= radius_mm (radseg's ball/disk)."""
    half = [int(np.floor(radius_mm / s + 1e-9)) for s in spacing]
    grids = np.ogrid[tuple(slice(-h, h + 1) for h in half)]
    return sum((g * s) ** 2 for g, s in zip(grids, spacing)) <= radius_mm ** 2 + 1e-9


def radseg_closing(mask, radius, spacing=None):
    fn = radseg_function("geometry", "binary_closing")
    return lambda: fn(mask, radius, spacing=spacing)


def cv2_closing(mask, radius):
    import cv2

    u8, kernel = mask.view(np.uint8), disk(radius)
    return lambda: cv2.morphologyEx(u8, cv2.MORPH_CLOSE, kernel)


def scipy_closing(mask, radius, spacing=None):
    from scipy import ndimage

    structure = disk(radius).astype(bool) if spacing is None else ellipsoid(radius, spacing)
    # binary_closing's erosion sees background outside the array; radseg (like OpenCV) sees foreground there, so
    # that closing never removes pixels. Same two passes, with the matching border, give identical masks.
    return lambda: ndimage.binary_erosion(ndimage.binary_dilation(mask, structure), structure, border_value=1)


def skimage_closing(mask, radius):
    from skimage import morphology

    footprint = morphology.disk(radius)
    return lambda: morphology.closing(mask, footprint)


def skimage_isotropic_closing(mask, radius):
    from skimage import morphology

    return lambda: morphology.isotropic_closing(mask, radius)


# ---- hole filling ---------------------------------------------------------------------------------------------
def radseg_fill(mask):
    fn = radseg_function("geometry", "fill_holes")
    return lambda: fn(mask)


def cv2_fill_recipe(mask):
    """The usual OpenCV recipe: flood the background from a corner, holes are what the flood did not reach.

    The mask is padded by one background pixel first, so that background touching any border (not only the
    top-left corner) is reached; 4-connected flood (face connectivity for the background).
    """
    import cv2

    if mask.ndim != 2:
        raise ValueError("cv2.floodFill is 2D only")
    u8 = mask.view(np.uint8)
    h, w = mask.shape

    def run():
        padded = cv2.copyMakeBorder(u8, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
        cv2.floodFill(padded, np.zeros((h + 4, w + 4), np.uint8), (0, 0), 2)  # outside background -> 2
        return padded[1:-1, 1:-1] != 2

    return run


def scipy_fill(mask):
    from scipy import ndimage

    return lambda: ndimage.binary_fill_holes(mask)


def fill_voids_fill(mask):
    import fill_voids

    return lambda: fill_voids.fill(mask, in_place=False)


# ---- metrics --------------------------------------------------------------------------------------------------
def radseg_surface(pred, ref, spacing, percentile=95):
    fn = radseg_function("metrics", "surface_metrics")

    def run():
        m = fn(pred, ref, spacing=spacing, percentile=percentile)
        return {"hausdorff": float(m.hausdorff), "hausdorff_percentile": float(m.hausdorff_percentile),
                "mean_surface_distance": float(m.mean_surface_distance)}

    return run


def deepmind_surface(pred, ref, spacing, percentile=95):
    """DeepMind surface-distance: surfel-area weighted; MSD = mean of its two directed averages."""
    import surface_distance as sd

    def run():
        d = sd.compute_surface_distances(ref, pred, spacing)
        gt_to_pred, pred_to_gt = sd.compute_average_surface_distance(d)
        return {"hausdorff": float(sd.compute_robust_hausdorff(d, 100)),
                "hausdorff_percentile": float(sd.compute_robust_hausdorff(d, percentile)),
                "mean_surface_distance": float((gt_to_pred + pred_to_gt) / 2)}

    return run


def monai_surface(pred, ref, spacing, percentile=95):
    """MONAI: three calls (HD, HD at `percentile`, symmetric average surface distance) on float32 [1, 1, *spatial]
    tensors built once, outside the timed call."""
    import torch
    from monai.metrics import compute_average_surface_distance, compute_hausdorff_distance

    p = torch.from_numpy(pred[None, None].astype(np.float32))  # float one-hot: MONAI's usual input, and its
    r = torch.from_numpy(ref[None, None].astype(np.float32))  # fastest (uint8 is ~1.7x slower in 3D here)
    sp = [float(s) for s in spacing]

    def run():
        hd = compute_hausdorff_distance(p, r, include_background=True, spacing=sp)
        hdp = compute_hausdorff_distance(p, r, include_background=True, percentile=percentile, spacing=sp)
        msd = compute_average_surface_distance(p, r, include_background=True, symmetric=True, spacing=sp)
        return {"hausdorff": float(hd.item()), "hausdorff_percentile": float(hdp.item()),
                "mean_surface_distance": float(msd.item())}

    return run


def radseg_dice(pred, ref):
    fn = radseg_function("metrics", "dice")
    return lambda: float(fn(pred, ref))


def numpy_dice(pred, ref):
    def run():
        inter = np.count_nonzero(pred & ref)
        total = np.count_nonzero(pred) + np.count_nonzero(ref)
        return 1.0 if total == 0 else 2.0 * inter / total

    return run


def monai_dice(pred, ref):
    import torch
    from monai.metrics import compute_dice

    p = torch.from_numpy(pred[None, None].astype(np.float32))
    r = torch.from_numpy(ref[None, None].astype(np.float32))
    return lambda: float(compute_dice(p, r, include_background=True).item())
