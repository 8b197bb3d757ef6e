"""Choosing a backend: TensorRT > ONNX Runtime CUDA > ONNX Runtime CPU, unless the caller names one.

Every backend is a factory ``factory(model_dir, threads) -> Backend`` registered under a name with a priority.
A factory raises `BackendUnavailable` when it cannot run here (the reason is recorded in ``backend.refused``) and
`ModelFileError` when the model file is broken (selection stops: no other backend would do better).

A TensorRT engine plugs in later by registering a real factory under "tensorrt" (the stub below only refuses).
"""
from __future__ import annotations

import importlib.util
import os
from typing import Callable, Dict, List, Optional, Tuple

from .base import Backend, BackendUnavailable

ONNX_FILE = "model.onnx"
TENSORRT_FILE = "model.plan"

Factory = Callable[..., Backend]
_REGISTRY: Dict[str, Tuple[int, Factory]] = {}


def register_backend(name: str, factory: Factory, priority: int) -> None:
    """Register (or replace) a backend factory. Higher priority is tried first in automatic selection."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"backend name must be a non-empty string, got {name!r}")
    if not callable(factory):
        raise TypeError(f"factory for backend {name!r} must be callable")
    _REGISTRY[name] = (int(priority), factory)


def available_names() -> List[str]:
    """Registered backend names, in automatic-selection order (best first)."""
    return [n for n, _ in sorted(_REGISTRY.items(), key=lambda kv: -kv[1][0])]


def select_backend(model_dir, backend: Optional[str] = None, threads: Optional[int] = None) -> Backend:
    """Load the model in `model_dir` on the best backend that works here, or on the one the caller names.

    Args:
        model_dir: an exported model folder (model.onnx, manifest.json, optionally model.plan).
        backend: None for automatic selection, or one of `available_names()`.
        threads: CPU threads for CPU backends (None: the library default).

    Returns:
        the backend; ``.name`` is what runs, ``.refused`` maps every better backend that was refused to why.

    Raises:
        ValueError: an unknown backend name.
        RuntimeError: the named backend (or, automatically, every backend) was refused; the message lists why.
        ModelFileError: the model file is missing or corrupt.
    """
    names = available_names()
    if backend is not None:
        if backend not in _REGISTRY:
            raise ValueError(f"backend must be None (automatic) or one of {names}, got {backend!r}")
        try:
            chosen = _REGISTRY[backend][1](model_dir, threads=threads)
        except BackendUnavailable as exc:
            raise RuntimeError(f"backend {backend!r} was refused: {exc}. Pass backend=None to pick one that works") from exc
        chosen.refused = {}
        return chosen
    refused: Dict[str, str] = {}
    for name in names:
        try:
            chosen = _REGISTRY[name][1](model_dir, threads=threads)
        except BackendUnavailable as exc:
            refused[name] = str(exc)
            continue
        chosen.refused = refused
        return chosen
    reasons = "; ".join(f"{n}: {r}" for n, r in refused.items())
    raise RuntimeError(f"no backend can run {model_dir}: {reasons}. Install the cpu extra: pip install 'radseg[cpu]'")


def _tensorrt(model_dir, threads=None) -> Backend:
    """Refusal stub until the TensorRT engine backend lands: says what is missing."""
    if importlib.util.find_spec("tensorrt") is None:
        raise BackendUnavailable("tensorrt not installed")
    if not os.path.isfile(os.path.join(os.fspath(model_dir), TENSORRT_FILE)):
        raise BackendUnavailable(f"no TensorRT engine ({TENSORRT_FILE}) in {model_dir}")
    raise BackendUnavailable("TensorRT engine loading is not implemented in this radseg version")


def _ort(device: str) -> Factory:
    def factory(model_dir, threads=None) -> Backend:
        from .onnxruntime import OnnxRuntimeBackend

        return OnnxRuntimeBackend(os.path.join(os.fspath(model_dir), ONNX_FILE), device=device, threads=threads)

    factory.__name__ = f"onnxruntime_{device}"
    return factory


register_backend("tensorrt", _tensorrt, priority=300)
register_backend("onnxruntime-cuda", _ort("cuda"), priority=200)
register_backend("onnxruntime-cpu", _ort("cpu"), priority=100)
