"""Rebuild a trainable `ClickUNet` from an exported click model folder (``model.onnx`` + ``manifest.json``).

Export folds every BatchNorm into the convolution before it (ONNX Runtime's graph optimisation, or torch's
constant folding), so the ONNX file holds, per block convolution, a weight W' and a bias b' instead of
(W, gamma, beta, mean, var). We put W' back into the convolution and make the BatchNorm an exact identity-plus-bias
in eval mode (running mean 0, running variance 1 - eps, gamma 1, beta b'). The rebuilt network reproduces the ONNX
logits to float precision (checked here on random inputs), but its BatchNorm statistics are gone: fine-tune it with
frozen BatchNorm (``TrainConfig.freeze_bn``; batch statistics would rescale every channel).

This is how the bundled model, which ships as ONNX only, is fine-tuned: ``radseg train click --init sdk/models/click``.
"""
from __future__ import annotations

import pathlib

import numpy as np
import torch
from torch import nn

from radseg.manifest import ModelManifest

from .model import ClickUNet


def _convs_in_forward_order(model: ClickUNet) -> list:
    """The plain Conv2d layers of `model` in the order its forward pass runs them, each with its BatchNorm (or
    None for the 1x1 head)."""
    out = []
    blocks = list(model.down) + [model.bottleneck] + list(model.up)
    for block in blocks:
        out += [(block[0], block[1]), (block[3], block[4])]
    out.append((model.head, None))
    return out


def state_from_onnx(onnx_path, manifest: ModelManifest) -> ClickUNet:
    """A `ClickUNet` (eval mode) whose eval-mode output equals the ONNX graph's logits.

    Args:
        onnx_path: an ONNX file written by `radseg export` (Conv, ConvTranspose, Relu, MaxPool, Concat nodes).
        manifest: the model's manifest (in_channels, model.width).
    Raises:
        ValueError when the graph does not have the ClickUNet's layer sequence or shapes.
    """
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(onnx_path)).graph
    inits = {t.name: np.array(numpy_helper.to_array(t)) for t in graph.initializer}  # writable copies
    width = int(manifest.model.get("width", 16))
    model = ClickUNet(manifest.in_channels, width)
    convs, upconvs = _convs_in_forward_order(model), list(model.upconv)
    conv_nodes = [n for n in graph.node if n.op_type == "Conv"]
    up_nodes = [n for n in graph.node if n.op_type == "ConvTranspose"]
    if len(conv_nodes) != len(convs) or len(up_nodes) != len(upconvs):
        raise ValueError(f"{onnx_path}: {len(conv_nodes)} Conv / {len(up_nodes)} ConvTranspose nodes, a ClickUNet of "
                         f"depth {model.depth} has {len(convs)} / {len(upconvs)}; not a radseg click model export")

    def weights(node, what):
        if len(node.input) < 3 or node.input[1] not in inits or node.input[2] not in inits:
            raise ValueError(f"{onnx_path}: {what} ({node.name}) lacks a constant weight and bias")
        return inits[node.input[1]], inits[node.input[2]]

    with torch.no_grad():
        for i, (node, (conv, bn)) in enumerate(zip(conv_nodes, convs)):
            w, b = weights(node, f"Conv {i}")
            if tuple(w.shape) != tuple(conv.weight.shape):
                raise ValueError(f"{onnx_path}: Conv {i} weight {w.shape}, expected {tuple(conv.weight.shape)} "
                                 f"(width {width} from the manifest)")
            conv.weight.copy_(torch.from_numpy(w))
            if bn is None:
                conv.bias.copy_(torch.from_numpy(b))
            else:
                bn.running_mean.zero_()
                bn.running_var.fill_(1.0 - bn.eps)  # sqrt(var + eps) == 1 exactly
                bn.weight.fill_(1.0)
                bn.bias.copy_(torch.from_numpy(b))
        for i, (node, up) in enumerate(zip(up_nodes, upconvs)):
            w, b = weights(node, f"ConvTranspose {i}")
            if tuple(w.shape) != tuple(up.weight.shape):
                raise ValueError(f"{onnx_path}: ConvTranspose {i} weight {w.shape}, expected {tuple(up.weight.shape)}")
            up.weight.copy_(torch.from_numpy(w))
            up.bias.copy_(torch.from_numpy(b))
    return model.eval()


def checkpoint_from_folder(folder, check: bool = True, tolerance: float = 1e-4) -> dict:
    """A checkpoint dict ({"model", "manifest", "step", "elapsed_s", "from_onnx"}) from an exported model folder.

    With `check`, the rebuilt network and ONNX Runtime are run on the same random inputs and a ValueError is raised
    when their logits differ by more than `tolerance`.
    """
    folder = pathlib.Path(folder)
    manifest = ModelManifest.from_json(folder / "manifest.json")
    onnx_path = folder / "model.onnx"
    if not onnx_path.is_file():
        raise FileNotFoundError(f"{folder}: no model.onnx; pass a folder written by `radseg export`")
    model = state_from_onnx(onnx_path, manifest)
    if check:
        diff = onnx_difference(model, onnx_path, manifest)
        if not diff <= tolerance:
            raise ValueError(f"{onnx_path}: the rebuilt network differs from the ONNX graph by {diff:.2e} "
                             f"(tolerance {tolerance:g}); the file is not a plain radseg ClickUNet export")
    training = manifest.training
    return {"model": model.state_dict(), "manifest": manifest.to_dict(), "step": training.get("steps"),
            "elapsed_s": 60.0 * float(training.get("wall_minutes", 0.0) or 0.0), "from_onnx": str(onnx_path)}


def onnx_difference(model: nn.Module, onnx_path, manifest: ModelManifest, n: int = 2, seed: int = 0) -> float:
    """Max |torch - ONNX Runtime| logit difference on `n` random inputs [n, C, S, S] (image in [0, 1], guidance
    maps with a few Gaussian-like peaks)."""
    import onnxruntime as ort

    rng = np.random.default_rng(seed)
    s, c = manifest.input_size, manifest.in_channels
    x = rng.random((n, c, s, s), dtype=np.float32)
    x[:, 1:] = (x[:, 1:] > 0.995).astype(np.float32)
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    ref = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    with torch.no_grad():
        got = model.eval()(torch.from_numpy(x)).numpy()
    return float(np.abs(got - ref).max())
