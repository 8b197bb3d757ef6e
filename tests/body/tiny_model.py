"""A tiny, hand-weighted body network exported with torch.onnx: ``logits = 20 * (x - 0.3)`` (one 1x1 conv), so
its outline is known in closed form: the pixels whose normalised intensity exceeds 0.3, holes filled. Tests of
the body workflow use it before (and independently of) the trained bundled model."""
from __future__ import annotations

import pathlib
import warnings

GAIN, CUT = 20.0, 0.3


def make_tiny_body_dir(folder, size: int = 64) -> pathlib.Path:
    """An exported body-model folder (model.onnx + manifest.json) around the tiny net; returns the folder."""
    import torch

    from radseg.manifest import default_body_manifest

    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    net = torch.nn.Conv2d(1, 1, kernel_size=1)
    with torch.no_grad():
        net.weight[:] = GAIN
        net.bias[:] = -GAIN * CUT
    axes = {0: "batch", 2: "rows", 3: "cols"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net.eval(), (torch.zeros(1, 1, size, size),), str(folder / "model.onnx"),
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": axes, "logits": axes}, opset_version=17, dynamo=False)
    default_body_manifest(size).to_json(folder / "manifest.json")
    return folder
