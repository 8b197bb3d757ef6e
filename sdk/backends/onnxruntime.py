"""ONNX Runtime backends: CPU, and CUDA when the CUDA execution provider is actually taken up.

`onnxruntime` is imported inside the functions, so `import radseg` stays free of it (SPEC layout rule).
"""
from __future__ import annotations

import os
from typing import Dict, Mapping, Optional

import numpy as np

from .base import BackendUnavailable, ModelFileError, check_feeds

_PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}


def _import_ort():
    try:
        import onnxruntime
    except ModuleNotFoundError as exc:
        raise BackendUnavailable("onnxruntime not installed (pip install 'radseg[cpu]')") from exc
    return onnxruntime


def session_options(threads: Optional[int] = None):
    """ORT session options for low-latency single-request inference.

    Args:
        threads: intra-op threads (None: ORT's default, one per physical core). Inter-op parallelism is off: a
            small U-Net is a chain of ops, and a second pool only adds wake-up latency.
    """
    ort = _import_ort()
    if threads is not None and (not isinstance(threads, (int, np.integer)) or isinstance(threads, bool) or threads < 1):
        raise ValueError(f"threads must be a positive integer or None, got {threads!r}")
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.inter_op_num_threads = 1
    if threads is not None:
        opts.intra_op_num_threads = int(threads)
    opts.log_severity_level = 3  # errors only: provider fallbacks are reported through `refused`, not stderr
    # Idle intra-op threads sleep instead of spinning between runs: a click session sits in an application whose
    # own threads (UI, numpy pre/post-processing) need the cores between network passes. On this project's 2-core
    # machine, spinning ORT workers made the numpy crop/paste of the next click up to 20x slower.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts


class OnnxRuntimeBackend:
    """One ONNX model on one ONNX Runtime execution provider.

    Args:
        model_path: path to model.onnx.
        device: "cpu" or "cuda".
        threads: intra-op threads (see `session_options`).

    Raises:
        BackendUnavailable: onnxruntime is missing, or (device "cuda") the CUDA provider is not available or was
            not taken up by the session (ORT silently falls back to CPU; we check `get_providers()`).
        ModelFileError: the file is missing, empty or not a loadable ONNX model.
    """

    def __init__(self, model_path, device: str = "cpu", threads: Optional[int] = None):
        if device not in _PROVIDERS:
            raise ValueError(f"device must be one of {sorted(_PROVIDERS)}, got {device!r}")
        self.name = f"onnxruntime-{device}"
        self.refused: Dict[str, str] = {}
        self.model_path = os.fspath(model_path)
        ort = _import_ort()
        provider = _PROVIDERS[device]
        if provider not in ort.get_available_providers():
            hint = " (install onnxruntime-gpu: pip install 'radseg[gpu]')" if device == "cuda" else ""
            raise BackendUnavailable(f"{provider} is not available in this onnxruntime build{hint}")
        check_model_file(self.model_path)
        providers = [provider] if device == "cpu" else [provider, "CPUExecutionProvider"]
        try:
            self.session = ort.InferenceSession(self.model_path, sess_options=session_options(threads), providers=providers)
        except Exception as exc:  # ORT raises its own pybind exception types (InvalidProtobuf, Fail, ...)
            if device == "cuda" and "CUDA" in str(exc):
                raise BackendUnavailable(f"CUDA provider failed to start: {exc}") from exc
            raise ModelFileError(
                f"{self.model_path} is not a loadable ONNX model ({type(exc).__name__}: {str(exc).strip()[:300]}); "
                "re-export it with `radseg export CHECKPOINT --out DIR`"
            ) from exc
        in_use = self.session.get_providers()
        if not in_use or in_use[0] != provider:
            raise BackendUnavailable(f"{provider} was requested but the session runs on {in_use}")
        self.providers = tuple(in_use)
        self.input_names = tuple(i.name for i in self.session.get_inputs())
        self.output_names = tuple(o.name for o in self.session.get_outputs())
        self.input_shapes = {i.name: tuple(i.shape) for i in self.session.get_inputs()}

    def run(self, feeds: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """Run the model. feeds: input name -> array (cast to float32). Returns output name -> float32 array."""
        checked = check_feeds(feeds, self.input_names, self.name)
        outputs = self.session.run(list(self.output_names), checked)
        return dict(zip(self.output_names, outputs))

    def __repr__(self) -> str:
        return f"OnnxRuntimeBackend({self.model_path!r}, name={self.name!r}, providers={list(self.providers)})"


def check_model_file(path: str) -> None:
    """Raise ModelFileError when `path` is not a non-empty file (cheap checks before ORT parses it)."""
    if not os.path.exists(path):
        raise ModelFileError(f"model file {path} is missing; export one with `radseg export CHECKPOINT --out DIR`")
    if not os.path.isfile(path):
        raise ModelFileError(f"model file {path} is not a file")
    if os.path.getsize(path) == 0:
        raise ModelFileError(f"model file {path} is empty (an interrupted copy?); re-export or re-copy it")
