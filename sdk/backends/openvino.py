"""OpenVINO backends (extra ``openvino``): the fp32 model (``openvino``) and the int8 variant (``openvino-int8``)
on OpenVINO's CPU plugin, compiled once per input shape (the SDK feeds a few fixed shapes: one crop for a click,
two for a propagation step, a batch of slices for the body outline).

Measured on this project's 2-core AVX-512 VNNI machine, one thread, the click network's pass: ONNX Runtime fp32
about 4.0 ms, OpenVINO fp32 about 2.0 ms, ONNX Runtime int8 about 1.8 ms, OpenVINO int8 about 1.4 ms
(`benchmarks/bench_backends.py` measures every backend side by side). The fp32 model runs at fp32 precision
(``INFERENCE_PRECISION_HINT`` f32: OpenVINO would otherwise pick bf16 on CPUs that have it, and the masks would
no longer be the exported model's); the int8 variant is the same QDQ file ONNX Runtime runs. Automatic selection takes
either only when the manifest records it validated on OpenVINO (``variants.openvino``, ``variants.int8.openvino``:
masks that agree with ONNX Runtime fp32 on held-out inputs, and faster), written by `radseg export --int8`.
"""
from __future__ import annotations

import json
import os
import pathlib
import threading
from typing import Dict, Mapping, Optional

import numpy as np

from .base import BackendUnavailable, ModelFileError, check_feeds
from .int8 import INT8_FILE, automatic_refusal, cpu_isa


def _import_openvino():
    try:
        import openvino
    except ModuleNotFoundError as exc:
        raise BackendUnavailable("openvino is not installed (pip install 'radseg[openvino]')") from exc
    return openvino


class OpenVinoBackend:
    """One ONNX file on OpenVINO's CPU plugin. `run` takes float32 [N, C, H, W] feeds by name.

    Raises:
        BackendUnavailable: openvino is missing or has no CPU device.
        ModelFileError: the file is missing or not a model OpenVINO can read.
    """

    def __init__(self, model_path, threads: Optional[int] = None, name: str = "openvino", precision: str = "f32"):
        from .onnxruntime import check_model_file

        ov = _import_openvino()
        self.name, self.refused, self.model_path = name, {}, os.fspath(model_path)
        check_model_file(self.model_path)
        self._core = ov.Core()
        if "CPU" not in self._core.available_devices:
            raise BackendUnavailable(f"OpenVINO finds no CPU device (devices: {self._core.available_devices})")
        try:
            # The ONNX frontend only: `Core.read_model` would try every frontend on a broken file, and the
            # TensorFlow one writes its parse errors straight to stderr.
            from openvino.frontend import FrontEndManager

            frontend = FrontEndManager().load_by_framework("onnx")
            self._model = frontend.convert(frontend.load(self.model_path))
        except Exception as exc:  # OpenVINO raises its own exception types with the parser's message
            why = [line for line in str(exc).splitlines() if line.strip()][-1:] or [type(exc).__name__]
            raise ModelFileError(f"{self.model_path} is not a loadable ONNX model (OpenVINO: {why[0].strip()[:160]}); "
                                 "re-export it with `radseg export CHECKPOINT --out DIR`") from exc
        self.input_names = tuple(p.get_any_name() for p in self._model.inputs)
        self.output_names = tuple(p.get_any_name() for p in self._model.outputs)
        self._config = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1, "INFERENCE_PRECISION_HINT": precision}
        if threads is not None:
            self._config["INFERENCE_NUM_THREADS"] = int(threads)
        self._compiled: Dict[tuple, object] = {}
        self._lock = threading.Lock()
        self._local = threading.local()  # one infer request per (thread, shape): requests are not thread-safe

    def _request(self, shapes: tuple):
        with self._lock:
            compiled = self._compiled.get(shapes)
            if compiled is None:
                model = self._model.clone()
                model.reshape({name: list(shape) for name, shape in zip(self.input_names, shapes)})
                compiled = self._core.compile_model(model, "CPU", self._config)
                self._compiled[shapes] = compiled
        requests = getattr(self._local, "requests", None)
        if requests is None:
            requests = self._local.requests = {}
        if shapes not in requests:
            requests[shapes] = compiled.create_infer_request()
        return requests[shapes]

    def run(self, feeds: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
        checked = check_feeds(feeds, self.input_names, self.name)
        request = self._request(tuple(checked[n].shape for n in self.input_names))
        result = request.infer({n: checked[n] for n in self.input_names})
        outputs = list(result.values())
        return {name: np.array(out, np.float32, copy=True) for name, out in zip(self.output_names, outputs)}

    def __repr__(self) -> str:
        return f"OpenVinoBackend({self.model_path!r}, name={self.name!r})"


def _variants(folder: str) -> dict:
    try:
        return json.loads(pathlib.Path(folder, "manifest.json").read_text()).get("variants") or {}
    except (OSError, ValueError, AttributeError):
        return {}


def fp32_refusal(entry: Optional[dict]) -> Optional[str]:
    """Why automatic selection must not take OpenVINO for the fp32 model, given the manifest's
    ``variants["openvino"]`` record; None when it may (validated: masks agree with ONNX Runtime, and faster)."""
    if not entry:
        return ("no OpenVINO record in the manifest (`radseg export MODEL --out DIR --int8` measures it when "
                "openvino is installed); name backend='openvino' to use it anyway")
    if not entry.get("validated"):
        return (f"OpenVINO was not validated for this model (mask Dice vs ONNX Runtime "
                f"{entry.get('agreement', {}).get('mask_dice_mean', '?')}, speed-up "
                f"{entry.get('speed', {}).get('speedup', '?')})")
    return None


def openvino_factory(model_dir, threads=None, automatic: bool = False) -> OpenVinoBackend:
    """The fp32 model.onnx on OpenVINO; automatically only where the manifest records it validated."""
    _import_openvino()
    folder = os.fspath(model_dir)
    if automatic:
        reason = fp32_refusal(_variants(folder).get("openvino"))
        if reason:
            raise BackendUnavailable(reason)
    return OpenVinoBackend(os.path.join(folder, "model.onnx"), threads=threads)


def openvino_int8_factory(model_dir, threads=None, automatic: bool = False) -> OpenVinoBackend:
    """The int8 variant on OpenVINO; automatically only when validated on OpenVINO on a CPU like the one measured."""
    _import_openvino()
    folder = os.fspath(model_dir)
    path = os.path.join(folder, INT8_FILE)
    if not os.path.isfile(path):
        raise BackendUnavailable(f"no {INT8_FILE} in {folder} (write one with `radseg export MODEL --out DIR --int8`)")
    if automatic:
        reason = automatic_refusal((_variants(folder).get("int8") or {}).get("openvino"), cpu_isa())
        if reason:
            raise BackendUnavailable(f"on OpenVINO: {reason}")
    # The QDQ graph's own (de)quantization decides the precision; the rest stays f32 as in ONNX Runtime.
    return OpenVinoBackend(path, threads=threads, name="openvino-int8")
