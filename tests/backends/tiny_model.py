"""A tiny, hand-weighted click network exported with torch.onnx into a folder: real ONNX, real ONNX Runtime.

The network computes ``logits = 4 * (fg - bg) + 0.1 * image - 1`` with one 1x1 convolution, so its answer is known
in closed form: a disc around every foreground click (where the foreground Gaussian exceeds ~0.25), cut by
background clicks. Tests use it before (and independently of) the trained bundled model.
"""
from __future__ import annotations

import pathlib
import warnings

INPUT_NAME, OUTPUT_NAME = "image_guidance", "logits"
WEIGHTS = (0.1, 4.0, -4.0)
BIAS = -1.0


def export_tiny_onnx(path, size: int = 64) -> pathlib.Path:
    """Export the tiny net to `path` (an .onnx file) with dynamic batch and spatial axes; returns the path."""
    import torch

    net = torch.nn.Conv2d(3, 1, kernel_size=1)
    with torch.no_grad():
        net.weight[:] = torch.tensor(WEIGHTS).reshape(1, 3, 1, 1)
        net.bias[:] = BIAS
    net.eval()
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    x = torch.zeros(1, 3, size, size)
    axes = {0: "batch", 2: "rows", 3: "cols"}
    with warnings.catch_warnings():  # the TorchScript exporter's deprecation notice
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net, (x,), str(path), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: axes}, opset_version=17, dynamo=False,
        )
    return path


def reference_logits(x):
    """The tiny net in numpy: x float32 [N, 3, H, W] -> [N, 1, H, W]."""
    import numpy as np

    w = np.asarray(WEIGHTS, dtype=np.float32).reshape(1, 3, 1, 1)
    return (x * w).sum(axis=1, keepdims=True) + np.float32(BIAS)


def make_tiny_model_dir(folder, size: int = 64, refine_first_click: bool = False):
    """An exported click-model folder (model.onnx + manifest.json) around the tiny net; returns the folder.

    The first click's second pass is off by default, so that a first click's disc has the closed-form size of the
    initial box; tests of the refinement turn it on.
    """
    from radseg.manifest import default_click_manifest

    folder = pathlib.Path(folder)
    export_tiny_onnx(folder / "model.onnx", size=size)
    m = default_click_manifest(input_size=size, input_name=INPUT_NAME, output_name=OUTPUT_NAME)
    m = m.replace(crop={**m.crop, "refine_first_click": bool(refine_first_click)})
    m.to_json(folder / "manifest.json")
    return folder
