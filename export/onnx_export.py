"""Checkpoint -> ``model.onnx`` + ``manifest.json``, verified against torch with ONNX Runtime on real inputs.

The ONNX graph has a dynamic batch axis and dynamic height / width (multiples of 16: four 2x2 poolings), input
``manifest.input_name`` float32 [N, C, H, W] (C = manifest.in_channels: 3 for click, 2 for propagation), output ``manifest.output_name`` float32 [N, 1, H, W] logits.

Verification inputs are real: slices of a BTCV validation patient (``data``/btcv_sabs_ct, when present) or pydicom's
bundled test CT otherwise, normalised, clicked by the deterministic robot and cropped by the SDK's own
``make_input`` -- the same path the SDK takes. Export fails (``ExportError``) when the max abs logit difference
between torch and ONNX Runtime exceeds the tolerance.
"""
from __future__ import annotations

import json
import pathlib

import numpy as np


class ExportError(RuntimeError):
    """The exported model does not reproduce the checkpoint (or could not be written)."""


def real_inputs(manifest, data="../shared/data", n: int = 8) -> tuple[np.ndarray, str]:
    """Up to `n` network inputs [n, C, S, S] built by the SDK preprocessing from real CT slices, and their source:
    clicks for a click model, the neighbouring slice's mask as the prior for a propagation model."""
    if manifest.task == "propagation":
        return _propagation_inputs(manifest, data, n)
    if manifest.task == "body":
        return _body_inputs(manifest, data, n)
    from radseg.click.preprocess import logits_to_mask, make_input, normalize_intensity  # noqa: F401
    from radseg.click.robot import deterministic_click

    samples = []  # (hu image, gt mask, spacing)
    root = pathlib.Path(data) if data else None
    source = ""
    if root is not None and (root / "btcv_sabs_ct" / "images" / "sabs_02.nii.gz").is_file():
        from radseg.training.data import btcv

        vol = btcv.load(root, "sabs_02")
        ks = np.linspace(vol.image.shape[0] * 0.3, vol.image.shape[0] * 0.7, n).astype(int)
        for i, k in enumerate(ks):
            labels = [l for l in np.unique(vol.labels[k]) if l]
            if labels:
                samples.append((vol.image[k], vol.labels[k] == labels[i % len(labels)], vol.slice_spacing()))
        source = f"BTCV sabs_02 (a validation patient), {len(samples)} slices"
    if not samples:
        import pydicom
        from pydicom.data import get_testdata_file

        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        hu = ds.pixel_array.astype(np.float32) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        sp = tuple(float(v) for v in ds.PixelSpacing)
        rng = np.random.default_rng(0)
        for _ in range(n):
            gt = np.zeros(hu.shape, bool)
            r, c = rng.integers(20, hu.shape[0] - 20, 2)
            gt[r - 10:r + 10, c - 8:c + 12] = True
            samples.append((hu, gt, sp))
        source = f"pydicom test file CT_small.dcm ({n} click positions)"
    xs = []
    for hu, gt, sp in samples:
        norm = normalize_intensity(hu, "CT", manifest)
        click = deterministic_click(gt, np.zeros_like(gt))
        x, _ = make_input(norm, [click], None, sp, manifest)
        xs.append(x[0])
    return np.stack(xs).astype(np.float32), source


def _propagation_inputs(manifest, data, n: int) -> tuple[np.ndarray, str]:
    from radseg.intensity import normalize_intensity
    from radseg.propagation.preprocess import make_inputs

    root = pathlib.Path(data) if data else None
    if root is not None and (root / "btcv_sabs_ct" / "images" / "sabs_02.nii.gz").is_file():
        from radseg.training.data import btcv

        vol = btcv.load(root, "sabs_02")
        norm = normalize_intensity(vol.image, "CT", manifest, ndim=3)
        slices, priors = [], []
        for k in np.linspace(vol.image.shape[0] * 0.3, vol.image.shape[0] * 0.7, n).astype(int):
            labels = [l for l in np.unique(vol.labels[k]) if l and (vol.labels[k + 1] == l).any()]
            if labels:
                label = labels[len(slices) % len(labels)]
                slices.append(norm[k])
                priors.append(vol.labels[k + 1] == label)
        if slices:
            x, _ = make_inputs(slices, priors, vol.slice_spacing(), manifest)
            return x, f"BTCV sabs_02 (a validation patient), {len(slices)} slices with the next slice's mask as prior"
    import pydicom
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    hu = ds.pixel_array.astype(np.float32) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    norm = normalize_intensity(hu, "CT", manifest)
    rng = np.random.default_rng(0)
    priors = []
    for _ in range(n):
        prior = np.zeros(hu.shape, bool)
        r, c = rng.integers(20, hu.shape[0] - 20, 2)
        prior[r - 10:r + 10, c - 8:c + 12] = True
        priors.append(prior)
    x, _ = make_inputs([norm] * n, priors, tuple(float(v) for v in ds.PixelSpacing), manifest)
    return x, f"pydicom test file CT_small.dcm ({n} box priors)"


def _body_inputs(manifest, data, n: int) -> tuple[np.ndarray, str]:
    """Whole slices through the body model's own preprocessing: TotalSegmentator's CT (when `data` has it) or
    pydicom's bundled CT and MR."""
    from radseg.body.preprocess import make_inputs

    root = pathlib.Path(data) if data else None
    path = root / "totalseg" / "example_ct.nii.gz" if root is not None else None
    if path is not None and path.is_file():
        from radseg.training.data.volumes import load_display

        img, spacing = load_display(path, dtype=np.float32)
        ks = np.linspace(img.shape[0] * 0.2, img.shape[0] * 0.8, n).astype(int)
        x, _ = make_inputs([img[k] for k in ks], "CT", spacing[1:], manifest)
        return x, f"TotalSegmentator example CT, {len(ks)} slices"
    import pydicom
    from pydicom.data import get_testdata_file

    xs = []
    for name, modality in (("CT_small.dcm", "CT"), ("MR_small.dcm", "MR")):
        ds = pydicom.dcmread(get_testdata_file(name))
        im = ds.pixel_array.astype(np.float32) * float(getattr(ds, "RescaleSlope", 1)) + float(
            getattr(ds, "RescaleIntercept", 0))
        x, _ = make_inputs([im], modality, tuple(float(v) for v in ds.PixelSpacing), manifest)
        xs.append(x)
    x = np.concatenate(xs)
    return np.concatenate([x] * max(1, n // 2))[:n], "pydicom test files CT_small.dcm and MR_small.dcm"


def export_model(model, manifest, onnx_path, opset: int = 17) -> pathlib.Path:
    """Write `model` (eval mode) to ONNX with dynamic batch and spatial axes."""
    import torch

    onnx_path = pathlib.Path(onnx_path)
    model = model.eval().to(memory_format=torch.contiguous_format)
    s = int(manifest.input_size)
    dummy = torch.zeros(1, int(manifest.in_channels), s, s)
    axes = {0: "batch", 2: "height", 3: "width"}
    kwargs = dict(input_names=[manifest.input_name], output_names=[manifest.output_name], opset_version=opset,
                  dynamic_axes={manifest.input_name: axes, manifest.output_name: axes}, do_constant_folding=True)
    import warnings

    with warnings.catch_warnings():
        # The TorchScript exporter is chosen on purpose (stable output for this plain conv net); silence its notice.
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            torch.onnx.export(model, (dummy,), str(onnx_path), dynamo=False, **kwargs)
        except TypeError:  # older torch without the dynamo argument
            torch.onnx.export(model, (dummy,), str(onnx_path), **kwargs)
    return onnx_path


def compare(model, onnx_path, manifest, xs: np.ndarray) -> float:
    """Max abs difference between torch and ONNX Runtime (CPU) logits on `xs` [N, C, H, W]."""
    import onnxruntime as ort
    import torch

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    got = sess.run([manifest.output_name], {manifest.input_name: xs})[0]
    with torch.no_grad():
        want = model.eval()(torch.from_numpy(xs)).numpy()
    if got.shape != want.shape:
        raise ExportError(f"ONNX output shape {got.shape} differs from torch's {want.shape}")
    return float(np.abs(got - want).max())


#: Manifest parameters `export_checkpoint` may override, per manifest section.
CROP_KEYS = frozenset({"expand", "min_size_mm", "min_size_px", "initial_size_mm", "refine_first_click"})
POSTPROCESS_KEYS = frozenset({"keep_clicked_components", "keep_prior_components", "reach_mm", "fill_holes",
                              "min_thickness_mm", "ct_min_median_hu"})
STOPPING_KEYS = frozenset({"min_area_mm2", "max_growth", "growth_floor_mm2", "converge_dice", "min_confidence",
                           "uncertain_steps"})


def _override(manifest, section: str, values: dict | None, known) -> tuple:
    """(manifest with `values` merged into its `section` dict, {key: {"checkpoint": old, "exported": new}});
    ValueError for keys outside `known`. The manifest validates the new values."""
    if not values:
        return manifest, {}
    unknown = set(values) - set(known)
    if unknown:
        from radseg.errors import UsageError

        raise UsageError(f"unknown {section} parameter(s) {sorted(unknown)}", f"known: {', '.join(sorted(known))}")
    old = getattr(manifest, section)
    record = {k: {"checkpoint": old.get(k), "exported": v} for k, v in values.items()}
    return manifest.replace(**{section: {**old, **values}}), record


def metrics_from_eval(d: dict) -> dict:
    """An ``eval.json`` written by `radseg eval click` (keys "meta", "summary", ...) -> {"evaluation": {...}}, the
    manifest's metrics entry (the per-case records are left out); any other JSON object is returned as it is."""
    if not ("meta" in d and "summary" in d):
        return d
    meta, summary = d["meta"], d["summary"]
    return {"evaluation": {
        "command": meta.get("command"), "protocol": meta.get("protocol"),
        "max_slices_per_structure": meta.get("max_slices"), "cases": meta.get("cases"),
        "patients": meta.get("patients"), "groups": summary.get("groups", {}),
        "structures": summary.get("structures", {}), "paper": d.get("paper"), "comparison": d.get("comparison")}}


#: The documentation of a model folder that a re-export into another folder carries over.
MODEL_CARD = "MODEL_CARD.md"


def keep_model_card(source, out: pathlib.Path):
    """Copy `source`'s MODEL_CARD.md into `out` when `source` is an exported model folder; returns the new path or
    None. The card describes the weights, which a re-export (other manifest parameters) does not change."""
    src = pathlib.Path(source)
    card = (src if src.is_dir() else src.parent) / MODEL_CARD
    if not src.is_dir() or not card.is_file():
        return None
    target = out / MODEL_CARD
    if target.exists() and target.resolve() == card.resolve():
        return str(target)
    from radseg._atomic import write_atomic

    text = card.read_bytes()
    return write_atomic(target, lambda tmp: pathlib.Path(tmp).write_bytes(text), suffix=".md")


def export_checkpoint(checkpoint, out_dir, opset: int = 17, tolerance: float = 1e-3, data="../shared/data",
                      metrics_json=None, crop: dict | None = None, postprocess: dict | None = None,
                      stopping: dict | None = None) -> dict:
    """Export `checkpoint` (a ``.pt`` file, or an exported model folder) into `out_dir` (model.onnx +
    manifest.json) and verify it; returns a report dict.

    `crop` overrides entries of the manifest's crop dict (e.g. {"initial_size_mm": 192}), `postprocess` those of
    its postprocess dict (e.g. {"keep_clicked_components": True}); the manifest validates them and records the
    checkpoint's values under extra["export"]["crop_overrides"] / ["postprocess_overrides"]; `stopping` those of a
    propagation model's stopping dict (e.g. {"min_confidence": 0.8}), recorded under ["stopping_overrides"].
    """
    import onnx

    from radseg.training.click.train import load_checkpoint, model_from_checkpoint

    if not (tolerance > 0):
        raise ValueError(f"tolerance must be positive, got {tolerance}")
    ckpt = load_checkpoint(checkpoint)
    model, manifest = model_from_checkpoint(ckpt)
    if metrics_json:
        extra = json.loads(pathlib.Path(metrics_json).read_text())
        if not isinstance(extra, dict):
            raise ValueError(f"{metrics_json}: metrics must be a JSON object")
        extra = metrics_from_eval(extra)
        manifest = manifest.replace(metrics={**manifest.metrics, **extra})
    manifest, overrides = _override(manifest, "crop", crop, CROP_KEYS)
    manifest, post_overrides = _override(manifest, "postprocess", postprocess, POSTPROCESS_KEYS)
    manifest, stop_overrides = _override(manifest, "stopping", stopping, STOPPING_KEYS)
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    onnx_path = export_model(model, manifest, out / "model.onnx", opset=opset)
    onnx.checker.check_model(str(onnx_path))
    xs, source = real_inputs(manifest, data)
    diff = compare(model, onnx_path, manifest, xs)
    # Dynamic axes: a different batch size and a larger spatial size must run and agree too.
    s2 = int(manifest.input_size) + 32
    xs2 = np.ascontiguousarray(np.pad(xs[:3], ((0, 0), (0, 0), (16, 16), (16, 16))))
    assert xs2.shape[-1] == s2
    diff = max(diff, compare(model, onnx_path, manifest, xs2))
    if not diff <= tolerance:
        raise ExportError(f"ONNX Runtime and torch disagree: max abs logit difference {diff:.3e} > tolerance "
                          f"{tolerance:g}; the ONNX file at {onnx_path} should not be used")
    manifest = manifest.replace(extra={**manifest.extra, "export": {
        "opset": opset, "max_abs_logit_diff_vs_torch": diff, "verified_on": source,
        "dynamic_axes": "batch, height, width (multiples of 16)", "crop_overrides": overrides,
        "postprocess_overrides": post_overrides, "stopping_overrides": stop_overrides}})
    manifest_path = manifest.to_json(out / "manifest.json")
    card = keep_model_card(checkpoint, out)
    return {"model_card": card, "onnx": str(onnx_path), "manifest": str(manifest_path), "max_abs_diff": diff,
            "inputs": f"{len(xs)} at {xs.shape[-1]}x{xs.shape[-1]} + 3 zero-padded to {s2}x{s2}", "source": source, "onnx_mb": onnx_path.stat().st_size / 2 ** 20}
