"""GPU check of radseg's TensorRT path: build, validate, time and compare, for a user with an NVIDIA GPU.

    .venv/bin/python benchmarks/gpu_tensorrt.py [--model click] [--repeat 200] [--data DIR] [--keep DIR] [--json F]

NOT YET VERIFIED ON HARDWARE: radseg's TensorRT code was written against the documented TensorRT 10 API on
machines without a GPU; this script is how it gets checked. Needs TensorRT 10+, cuda-python and a GPU
(``pip install tensorrt cuda-python``, and onnxruntime-gpu for the ONNX Runtime CUDA column); without them it
exits 2 with one line saying what is missing.

What it does:
  1. builds an fp32 and an fp16 engine of the model (`radseg.export.tensorrt.build_engine`; each is validated
     against ONNX Runtime CPU on real inputs and refused over its tolerance) into a temporary folder (or --keep);
  2. times the first click of a click session (``ClickSession.click``, end to end: crop, network, paste back)
     and its network pass alone (``last_timing["inference"]``), p50 and p99 over --repeat clicks, for TensorRT
     fp16, TensorRT fp32, ONNX Runtime CUDA (when onnxruntime-gpu takes it up) and ONNX Runtime CPU, interleaved
     round by round so that a slow phase of the machine hits all alike;
  3. prints the fp16 engine's mask Dice against the fp32 engine's: on the network's real inputs
     (`radseg.export.onnx_export.real_inputs`, per input, lowest and mean) and on the clicked slice.
Image: a held-out BTCV slice from ../shared/data (or --data) when present, else pydicom's CT_small.dcm.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys
import tempfile
import time

import numpy as np


def missing_requirement() -> str | None:
    """One line saying what this machine lacks for the check (tensorrt, cuda-python, a GPU), or None."""
    try:
        from radseg.backends.base import BackendUnavailable
        from radseg.backends.tensorrt import running_info
    except ImportError as exc:
        return f"radseg is not importable ({exc}); run this with the project's venv"
    try:
        running_info(0)
    except BackendUnavailable as exc:
        return str(exc)
    return None


def _pct(values, q) -> float:
    return 1e3 * float(np.percentile(values, q))


def _load(folder, backend):
    """(model, None) or (None, why it was refused)."""
    import radseg

    try:
        return radseg.load(folder, backend=backend), None
    except (RuntimeError, ValueError, OSError) as exc:
        return None, str(exc)


def run(model="click", repeat=200, data=None, keep=None) -> dict:
    from radseg.backends.select import available_names, register_backend
    from radseg.backends.tensorrt import tensorrt_factory
    from radseg.cli.segment import demo_image
    from radseg.export.onnx_export import real_inputs
    from radseg.export.tensorrt import build_engine, compare_logits
    from radseg.load import resolve_model_dir
    from radseg.manifest import ModelManifest
    from radseg.metrics import dice

    if "tensorrt" not in available_names():  # until radseg.backends.select registers it itself
        register_backend("tensorrt", tensorrt_factory, priority=300)
    src = resolve_model_dir(model)
    root = pathlib.Path(keep) if keep else pathlib.Path(tempfile.mkdtemp(prefix="radseg_trt_"))
    builds = {}
    for precision in ("fp32", "fp16"):
        t0 = time.perf_counter()
        builds[precision] = build_engine(src, root / precision, fp16=precision == "fp16",
                                         data=data or "../shared/data")
        builds[precision]["build_s"] = time.perf_counter() - t0
    contenders = [("tensorrt fp16", root / "fp16", "tensorrt"), ("tensorrt fp32", root / "fp32", "tensorrt"),
                  ("onnxruntime-cuda", src, "onnxruntime-cuda"), ("onnxruntime-cpu", src, "onnxruntime-cpu")]
    models, skipped = {}, {}
    for label, folder, backend in contenders:
        m, why = _load(folder, backend)
        if m is None:
            skipped[label] = why
        else:
            models[label] = m
    image, spacing, modality, desc, click, _ = demo_image(data)
    click = tuple(int(v) for v in click[:2])
    sessions = {k: m.start(image, spacing=spacing, modality=modality) for k, m in models.items()}
    masks = {}
    for k, s in sessions.items():  # warm-up: the first calls pay allocations and lazy initialisation
        for _ in range(10):
            s.reset()
            masks[k] = s.click(*click)
    total = {k: [] for k in sessions}
    infer = {k: [] for k in sessions}
    for _ in range(int(repeat)):
        for k, s in sessions.items():
            s.reset()
            t0 = time.perf_counter()
            s.click(*click)
            total[k].append(time.perf_counter() - t0)
            infer[k].append(s.last_timing["inference"])
    manifest = ModelManifest.from_json(src / "manifest.json")
    xs, source = real_inputs(manifest, data or "../shared/data", n=8)
    feeds = {manifest.input_name: xs}
    fp16_vs_fp32 = None
    if "tensorrt fp16" in models and "tensorrt fp32" in models:
        a = models["tensorrt fp32"].runtime.run(feeds)[manifest.output_name]
        b = models["tensorrt fp16"].runtime.run(feeds)[manifest.output_name]
        fp16_vs_fp32 = {**compare_logits(a, b), "inputs": source,
                        "click_mask_dice": dice(masks["tensorrt fp16"], masks["tensorrt fp32"])}
    return {
        "model": str(src), "image": desc, "click": list(click), "repeat": int(repeat), "engines": str(root),
        "machine": {k: builds["fp32"][k] for k in ("tensorrt_version", "gpu_name", "compute_capability")},
        "builds": {p: {"build_s": b["build_s"], "plan_mb": b["plan_mb"], "validation": b["validation"]}
                   for p, b in builds.items()},
        "latency_ms": {k: {"click_p50": _pct(total[k], 50), "click_p99": _pct(total[k], 99),
                           "network_p50": _pct(infer[k], 50), "network_p99": _pct(infer[k], 99)} for k in total},
        "skipped": skipped, "fp16_vs_fp32": fp16_vs_fp32,
    }


def print_report(r: dict) -> None:
    m = r["machine"]
    print(f"radseg TensorRT check: {r['model']} on {m['gpu_name']} (compute capability {m['compute_capability']}), "
          f"TensorRT {m['tensorrt_version']}; image {r['image']}; {r['repeat']} interleaved rounds")
    for p, b in r["builds"].items():
        v = b["validation"]
        print(f"  {p} engine: built in {b['build_s']:.1f} s, {b['plan_mb']:.2f} MB; vs ONNX Runtime CPU: max abs "
              f"logit diff {v['max_abs_logit_diff']:.2e}, lowest mask Dice {v['mask_dice_min']:.4f}")
    print(f"{'backend':>18s} {'click p50':>10s} {'click p99':>10s} {'net p50':>9s} {'net p99':>9s}  (ms)")
    for k, t in r["latency_ms"].items():
        print(f"{k:>18s} {t['click_p50']:10.2f} {t['click_p99']:10.2f} {t['network_p50']:9.2f} {t['network_p99']:9.2f}")
    for k, why in r["skipped"].items():
        print(f"{k:>18s} skipped: {why}")
    d = r["fp16_vs_fp32"]
    if d:
        print(f"fp16 vs fp32 engine: mask Dice lowest {d['mask_dice_min']:.4f}, mean {d['mask_dice_mean']:.4f} on "
              f"{d['inputs']}; clicked slice {d['click_mask_dice']:.4f}; max abs logit diff {d['max_abs_logit_diff']:.3g}")
    print(f"engines in {r['engines']}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="click", help="a bundled click model name or an exported click folder")
    p.add_argument("--repeat", type=int, default=200, help="timed clicks per backend (200)")
    p.add_argument("--data", default=None, help="the shared data folder (default: found automatically)")
    p.add_argument("--keep", default=None, metavar="DIR", help="build the engines here and keep them")
    p.add_argument("--json", default=None, help="also write the numbers here")
    a = p.parse_args(argv)
    why = missing_requirement()
    if why:
        print(f"gpu_tensorrt: cannot run here: {why}", file=sys.stderr)
        return 2
    r = run(a.model, a.repeat, a.data, a.keep)
    print_report(r)
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps(r, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
