"""A tiny, hand-weighted propagation network exported with torch.onnx into a folder: real ONNX, real ONNX Runtime.

One 1x1 convolution: ``logits = 8 * prior + 8 * image - 10``. On a bright structure (normalised image 1) the
prior's soft edge is kept down to 0.25, so the mask follows the structure; on a dark background (image 0) nothing
survives. A bright blob in air is therefore followed slice by slice, and the mask vanishes where the blob ends: a
known answer for the engine and session tests.
"""
from __future__ import annotations

import pathlib
import warnings

INPUT_NAME, OUTPUT_NAME = "image_prior", "logits"
WEIGHTS = (8.0, 8.0)
BIAS = -10.0


def export_tiny_onnx(path, size: int = 64) -> pathlib.Path:
    import torch

    net = torch.nn.Conv2d(2, 1, kernel_size=1)
    with torch.no_grad():
        net.weight[:] = torch.tensor(WEIGHTS).reshape(1, 2, 1, 1)
        net.bias[:] = BIAS
    net.eval()
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    axes = {0: "batch", 2: "rows", 3: "cols"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(1, 2, size, size),), str(path), input_names=[INPUT_NAME],
                          output_names=[OUTPUT_NAME], dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: axes},
                          opset_version=17, dynamo=False)
    return path


def make_tiny_propagation_dir(folder, size: int = 64, **manifest_changes):
    """An exported propagation-model folder (model.onnx + manifest.json) around the tiny net; returns the folder.
    CT intensity is the window [0, 100] HU here, so a 100 HU blob in air reads as image 1 on image 0."""
    from radseg.manifest import default_propagation_manifest

    folder = pathlib.Path(folder)
    export_tiny_onnx(folder / "model.onnx", size=size)
    m = default_propagation_manifest(input_size=size, input_name=INPUT_NAME, output_name=OUTPUT_NAME)
    m = m.replace(intensity={"CT": {"method": "window", "low": 0.0, "high": 100.0},
                             "MR": {"method": "percentile", "low": 0.5, "high": 99.5}}, **manifest_changes)
    m.to_json(folder / "manifest.json")
    return folder


def blob_volume(slices: int = 40, size: int = 96, first: int = 8, last: int = 31, radius_mm: float = 18.0,
                spacing=(2.0, 0.8, 0.8)):
    """float32 [slices, size, size] of air (-1000 HU) with a 100 HU ellipsoid-ish blob on slices first..last (a disc whose radius
    swells towards the middle), and the true mask; spacing (slice_mm, row_mm, col_mm)."""
    import numpy as np

    vol = np.full((slices, size, size), -1000.0, np.float32)
    gt = np.zeros(vol.shape, bool)
    rr, cc = np.mgrid[:size, :size]
    mid = (first + last) / 2
    for k in range(first, last + 1):
        r_mm = radius_mm * (0.55 + 0.45 * (1 - abs(k - mid) / max(mid - first, 1)))
        disc = ((rr - size / 2) * spacing[1]) ** 2 + ((cc - size / 2 + (k - mid) * 0.4) * spacing[2]) ** 2 <= r_mm ** 2
        gt[k] = disc
    vol[gt] = 100.0
    return vol, gt, spacing
