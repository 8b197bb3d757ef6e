"""INT8 variants of exported models: ONNX Runtime static quantization (QDQ, per-channel int8 weights, uint8
activations) calibrated on the network inputs the SDK itself builds from real images, validated against fp32.

    report = quantize_model("models/click", data="../shared/data")
    # models/click/model.int8.onnx beside model.onnx; manifest.json gains
    # "variants": {"int8": {"file", "sha256", "calibration", "agreement", "speed", "validated"}}

Calibration and validation inputs come from the task's own session code on real data, recorded at the backend
(`RecordingRuntime`), so the quantizer sees exactly the crops, guidance maps and priors the SDK feeds at run time:

  click        the evaluation robot's clicks (first click with its refine pass, then corrections) on training
               patients' slices (BTCV CT, CHAOS MR); validated on the held-out patients of the manifest's split
  propagation  propagations from a reference slice through training volumes (batches of 2)
  body         every slice of the body-outline reference volumes (batches of 8)

Agreement is measured on held-out inputs the calibration never saw: the int8 and fp32 masks of each network pass
(Dice, after the sigmoid at 0.5) and the largest logit difference; for click models also the masks of whole
sessions, both variants given the same clicks, and for propagation models whole runs from the same seed. `validated` is true when the mean mask Dice is >= `min_dice` and
the int8 pass is faster on this CPU (`speed`, one thread, medians); `radseg.backends` takes the variant
automatically only then, and only on a CPU with the same int8 instructions (`cpu_isa`).
"""
from __future__ import annotations

import json
import os
import pathlib
import time
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from radseg.backends.base import sha256_file as sha256  # noqa: E402,F401  (one hash for every model file)
from radseg.backends.int8 import INT8_FILE  # noqa: E402  (one name for the file, SDK and export)
MIN_DICE = 0.99


class RecordingRuntime:
    """A backend that passes every call to `runtime` and keeps a copy of its input batches (up to `limit`)."""

    def __init__(self, runtime, input_name: str, limit: int = 10_000):
        self.runtime, self.input_name, self.limit = runtime, input_name, int(limit)
        self.name, self.input_names, self.output_names = runtime.name, runtime.input_names, runtime.output_names
        self.refused = getattr(runtime, "refused", {})
        self.inputs: List[np.ndarray] = []

    def run(self, feeds):
        if len(self.inputs) < self.limit:
            self.inputs.append(np.array(feeds[self.input_name], np.float32, copy=True))
        return self.runtime.run(feeds)


# ---- recording the SDK's own inputs ---------------------------------------------------------------------------
def record_inputs(model, drive: Callable[[object], None], limit: int) -> List[np.ndarray]:
    """Run `drive(model)` with `model`'s backend recorded; returns the input batches it fed (float32 [N, C, S, S])."""
    recorder = RecordingRuntime(model.runtime, model.manifest.input_name, limit)
    original, model.runtime = model.runtime, recorder
    try:
        drive(model)
    finally:
        model.runtime = original
    return recorder.inputs


def task_driver(task: str, data_root, patients: str, max_cases: int) -> Callable[[object], None]:
    """A function that drives a loaded model of `task` through real cases: `patients` "train" or "heldout"."""
    from .quantize_cases import body_driver, click_driver, propagation_driver

    drivers = {"click": click_driver, "propagation": propagation_driver, "body": body_driver}
    if task not in drivers:
        raise ValueError(f"no int8 calibration for {task!r} models; tasks: {', '.join(drivers)}")
    return drivers[task](data_root, patients, max_cases)


# ---- quantization and agreement -------------------------------------------------------------------------------
def quantize_onnx(src: str, dst: str, batches: List[np.ndarray], input_name: str, method: str = "MinMax",
                  keep_fp32: Sequence[str] = ()) -> None:
    """Static QDQ quantization of `src` into `dst`, calibrated on `batches` (each [N, C, S, S]) with `method`
    ("MinMax", "Percentile", "Entropy"); nodes named in `keep_fp32` stay in float."""
    import tempfile

    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._it = iter(batches)

        def get_next(self):
            x = next(self._it, None)
            return None if x is None else {input_name: x}

    with tempfile.TemporaryDirectory() as tmp:
        pre = os.path.join(tmp, "pre.onnx")
        # Symbolic shape inference stops at the dynamic batch axis of these graphs; ONNX's own inference suffices.
        quant_pre_process(src, pre, skip_symbolic_shape=True)
        tmp_out = os.path.join(tmp, "int8.onnx")
        quantize_static(pre, tmp_out, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=getattr(CalibrationMethod, method), nodes_to_exclude=list(keep_fp32),
                        extra_options={"CalibMovingAverage": False})
        _move(tmp_out, dst)


def end_convolutions(path: str) -> List[str]:
    """The names of the graph's first and last convolutions: kept in float, they cost little time and hold most
    of the int8 error (the raw image and guidance in, the logits out; measured on the click model's held-out
    sessions: mask Dice vs fp32 0.986 with every convolution in int8, 0.994 with these two in float, same speed)."""
    import onnx

    convs = [n.name for n in onnx.load(path, load_external_data=False).graph.node
             if n.op_type in ("Conv", "ConvTranspose")]
    return sorted({convs[0], convs[-1]}) if convs else []


def _move(src: str, dst: str) -> None:
    import shutil

    part = dst + ".part"
    shutil.copyfile(src, part)
    os.replace(part, dst)


def agreement(fp32_session, int8_session, batches: List[np.ndarray], input_name: str) -> dict:
    """Per network pass on `batches`: mask Dice (sigmoid > 0.5, i.e. logit > 0) int8 vs fp32 and logit error.
    The sessions are ONNX Runtime sessions or radseg backends (anything with ``run``)."""
    dices, worst = [], 0.0
    for x in batches:
        a, b = _logits(fp32_session, input_name, x), _logits(int8_session, input_name, x)
        worst = max(worst, float(np.max(np.abs(a - b))))
        for ma, mb in zip(a > 0, b > 0):
            total = int(ma.sum()) + int(mb.sum())
            dices.append(1.0 if total == 0 else 2.0 * int((ma & mb).sum()) / total)
    d = np.asarray(dices)
    return {"passes": int(len(d)), "mask_dice_mean": round(float(d.mean()), 5), "mask_dice_min": round(float(d.min()), 5),
            "mask_dice_p5": round(float(np.percentile(d, 5)), 5), "max_abs_logit": round(worst, 4)}


def _logits(session, input_name: str, x: np.ndarray) -> np.ndarray:
    if hasattr(session, "get_inputs"):  # an ONNX Runtime InferenceSession
        return session.run(None, {input_name: x})[0]
    return next(iter(session.run({input_name: x}).values()))


def openvino_entry(path: str, fp32_session, held: List[np.ndarray], input_name: str, min_dice: float,
                   fp32_ms: float, precision: str = "int8") -> Optional[dict]:
    """`path` (the int8 variant, or the fp32 model with precision "fp32") on OpenVINO, when it is installed:
    agreement with ONNX Runtime fp32 on `held` and one-thread speed against `fp32_ms`; None without OpenVINO."""
    try:
        from radseg.backends.openvino import OpenVinoBackend
        from radseg.backends.base import BackendUnavailable

        backend = OpenVinoBackend(path, threads=1, name="openvino" if precision == "fp32" else "openvino-int8")
    except (ImportError, BackendUnavailable):
        return None
    from radseg.backends.int8 import cpu_isa, cpu_name

    agree = agreement(fp32_session, backend, held, input_name)
    x = held[0][:1]
    for _ in range(5):
        backend.run({input_name: x})
    times = []
    for _ in range(60):
        t = time.perf_counter()
        backend.run({input_name: x})
        times.append(time.perf_counter() - t)
    ms = round(float(np.median(times) * 1e3), 3)
    speed = {"cpu": cpu_name(), "isa": cpu_isa(), "threads": 1, "batch": 1, "onnxruntime_fp32_pass_ms": fp32_ms,
             f"{precision}_pass_ms": ms, "speedup": round(fp32_ms / ms, 3)}
    return {"agreement": dict(agree, versus="onnxruntime fp32"), "speed": speed,
            "validated": bool(agree["mask_dice_mean"] >= min_dice and speed["speedup"] > 1.0)}


def pass_speed(path: str, x: np.ndarray, input_name: str, threads: int = 1, repeat: int = 60) -> float:
    """Median ms of one network pass on `x` at `threads` intra-op threads (the SDK's session options)."""
    import onnxruntime as ort

    from radseg.backends.onnxruntime import session_options

    sess = ort.InferenceSession(path, session_options(threads), providers=["CPUExecutionProvider"])
    for _ in range(5):
        sess.run(None, {input_name: x})
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        sess.run(None, {input_name: x})
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1e3)


def quantize_model(model_dir, data="../shared/data", calibration_cases: int = 48, validation_cases: int = 32,
                   min_dice: float = MIN_DICE, progress: Optional[Callable[[str], None]] = None) -> Dict:
    """Write `model_dir`/model.int8.onnx and record it in `model_dir`/manifest.json (see the module docstring).

    Returns the manifest's new ``variants["int8"]`` entry. Raises FileNotFoundError without real data (int8
    calibrated on anything else would be tuned to the wrong inputs).
    """
    import onnxruntime as ort

    import radseg
    from radseg.backends.int8 import cpu_isa, cpu_name
    from radseg.backends.onnxruntime import session_options
    from radseg.eval.datasets import find_data_root
    from radseg.manifest import ModelManifest

    say = progress or (lambda text: None)
    folder = pathlib.Path(model_dir)
    root = find_data_root(data)
    model = radseg.load(folder, backend="onnxruntime-cpu", threads=1)
    task, name = model.manifest.task, model.manifest.input_name
    say(f"recording {task} inputs on training cases of {root}")
    calib = record_inputs(model, task_driver(task, root, "train", calibration_cases), limit=4000)
    say(f"recording {task} inputs on held-out cases")
    held = record_inputs(model, task_driver(task, root, "heldout", validation_cases), limit=4000)
    if not calib or not held:
        raise FileNotFoundError(f"no {task} calibration or validation inputs could be built from {root}")
    src, dst = str(folder / "model.onnx"), str(folder / INT8_FILE)
    say(f"quantizing on {len(calib)} calibration batches")
    keep = end_convolutions(src)
    quantize_onnx(src, dst, calib, name, keep_fp32=keep)
    fp32 = ort.InferenceSession(src, session_options(1), providers=["CPUExecutionProvider"])
    int8 = ort.InferenceSession(dst, session_options(1), providers=["CPUExecutionProvider"])
    agree = agreement(fp32, int8, held, name)
    probe = held[0][:1]
    speed = {"cpu": cpu_name(), "isa": cpu_isa(), "threads": 1, "batch": 1,
             "fp32_pass_ms": round(pass_speed(src, probe, name), 3), "int8_pass_ms": round(pass_speed(dst, probe, name), 3)}
    speed["speedup"] = round(speed["fp32_pass_ms"] / speed["int8_pass_ms"], 3)
    entry = {"file": INT8_FILE, "sha256": sha256(dst), "format": "onnx-qdq (int8 per-channel weights, uint8 activations)",
             "calibration": {"batches": len(calib), "method": "MinMax", "cases": f"training patients of {task} data",
                             "max_cases": calibration_cases, "float_nodes": keep},
             "agreement": dict(agree, cases="held-out patients", min_dice=min_dice), "speed": speed,
             "validated": bool(agree["mask_dice_mean"] >= min_dice and speed["speedup"] > 1.0)}
    if task == "click":
        from .quantize_cases import click_session_agreement

        entry["agreement"]["sessions"] = click_session_agreement(folder, root, validation_cases)
        entry["validated"] = bool(entry["validated"] and
                                  entry["agreement"]["sessions"]["mask_dice_mean"] >= min_dice)
    if task == "propagation":
        from .quantize_cases import propagation_run_agreement

        entry["agreement"]["runs"] = propagation_run_agreement(folder, root, 8)
        entry["validated"] = bool(entry["validated"] and entry["agreement"]["runs"]["mask_dice_mean"] >= min_dice)
    on_openvino = openvino_entry(dst, fp32, held, name, min_dice, speed["fp32_pass_ms"])
    if on_openvino is not None:
        if task in ("click", "propagation"):  # the whole-session / whole-run check decides for both engines
            on_openvino["validated"] = bool(on_openvino["validated"] and entry["validated"])
        entry["openvino"] = on_openvino
    ov_fp32 = openvino_entry(src, fp32, held, name, min_dice, speed["fp32_pass_ms"], precision="fp32")
    manifest_path = folder / "manifest.json"
    d = json.loads(manifest_path.read_text())
    if ov_fp32 is not None:
        d.setdefault("variants", {})["openvino"] = dict(ov_fp32, file="model.onnx", precision="f32")
    d.setdefault("variants", {})["int8"] = entry
    ModelManifest.from_dict(d)  # still a valid manifest
    part = manifest_path.with_suffix(".json.part")
    part.write_text(json.dumps(d, indent=2) + "\n")
    os.replace(part, manifest_path)
    return entry
