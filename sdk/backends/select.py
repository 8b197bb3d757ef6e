"""Choosing a backend: TensorRT (a model.plan built on this machine; not yet verified on hardware) > ONNX Runtime
CUDA > OpenVINO INT8 > ONNX Runtime CPU INT8 (the int8 variants only where the
manifest records them validated, on a CPU with the int8 instructions they were measured on) > OpenVINO fp32 >
ONNX Runtime CPU, unless the caller names one.

Every backend is a factory ``factory(model_dir, threads) -> Backend`` registered under a name with a priority.
A factory raises `BackendUnavailable` when it cannot run here (the reason is recorded in ``backend.refused``) and
`ModelFileError` when the model file is broken (selection stops: no other backend would do better). Another
engine plugs in by registering its factory with a higher priority (`register_backend`).
"""
from __future__ import annotations

import os
from typing import Callable, Dict, List, Optional, Tuple

from ..errors import RadsegError, UsageError
from .base import Backend, BackendUnavailable

ONNX_FILE = "model.onnx"


class UnknownBackendError(UsageError):
    """The caller named a backend that is not registered; ``names`` lists the registered ones, best first."""

    def __init__(self, backend, names: List[str]):
        self.backend, self.names = backend, list(names)
        super().__init__(f"unknown backend {backend!r}", f"name one of {self.names}, or pass backend=None to choose "
                                                        "automatically")


class BackendRefusedError(RadsegError, RuntimeError):
    """The named backend, or (automatic choice) every backend, cannot run here; ``reasons`` maps name -> why."""

    def __init__(self, backend: Optional[str], reasons: Dict[str, str], model_dir):
        self.backend, self.reasons, self.model_dir = backend, dict(reasons), os.fspath(model_dir)
        why = "; ".join(f"{n}: {r}" for n, r in self.reasons.items())
        if backend is not None:
            super().__init__(f"backend {backend!r} was refused ({why})",
                             "pass backend=None to pick one that works here")
        else:
            super().__init__(f"no backend can run {self.model_dir} ({why})",
                             "install the cpu extra: pip install 'radseg[cpu]'")

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


def select_backend(model_dir, backend: Optional[str] = None, threads: Optional[int] = None,
                   options: Optional[dict] = None) -> Backend:
    """Load the model in `model_dir` on the best backend that works here, or on the one the caller names.

    Args:
        model_dir: an exported model folder (model.onnx, manifest.json, optionally model.plan).
        backend: None for automatic selection, or one of `available_names()`.
        threads: CPU threads for CPU backends (None: the library default).
        options: keyword arguments for the named backend's factory (e.g. ``url=`` for a remote one); only with a
            named backend.

    Returns:
        the backend; ``.name`` is what runs, ``.refused`` maps every better backend that was refused to why.

    Raises:
        UnknownBackendError (a ValueError): an unknown backend name.
        BackendRefusedError (a RuntimeError): the named backend (or, automatically, every backend) was refused;
            ``reasons`` says why.
        ModelFileError: the model file is missing or corrupt.
    """
    names = available_names()
    options = dict(options or {})
    if options and backend is None:
        raise UsageError(f"backend options {sorted(options)} need a named backend",
                         "pass backend=NAME with them (e.g. backend='triton', url=...)")
    if backend is not None:
        if backend not in _REGISTRY:
            raise UnknownBackendError(backend, names)
        factory = _REGISTRY[backend][1]
        if options:
            import inspect

            params = inspect.signature(factory).parameters
            takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
            unknown = [k for k in options if k not in params and not takes_any]
            if unknown:
                raise UsageError(f"backend {backend!r} takes no option {', '.join(unknown)}",
                                 f"leave {', '.join(unknown)} out for this backend")
        try:
            chosen = factory(model_dir, threads=threads, **options)
        except BackendUnavailable as exc:
            raise BackendRefusedError(backend, {backend: str(exc)}, model_dir) from exc
        chosen.refused = {}
        return chosen
    refused: Dict[str, str] = {}
    for name in names:
        factory = _REGISTRY[name][1]
        # A factory that takes `automatic` applies stricter rules when not named (a variant only where validated).
        extra = {"automatic": True} if _accepts(factory, "automatic") else {}
        try:
            chosen = factory(model_dir, threads=threads, **extra)
        except BackendUnavailable as exc:
            refused[name] = str(exc)
            continue
        chosen.refused = refused
        return chosen
    raise BackendRefusedError(None, refused, model_dir)


def _accepts(factory: Factory, keyword: str) -> bool:
    import inspect

    try:
        return keyword in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False


def _int8(model_dir, threads=None, automatic: bool = False) -> Backend:
    from .int8 import int8_factory

    return int8_factory(model_dir, threads=threads, automatic=automatic)


def _openvino(model_dir, threads=None, automatic: bool = False) -> Backend:
    from .openvino import openvino_factory

    return openvino_factory(model_dir, threads=threads, automatic=automatic)


def _openvino_int8(model_dir, threads=None, automatic: bool = False) -> Backend:
    from .openvino import openvino_int8_factory

    return openvino_int8_factory(model_dir, threads=threads, automatic=automatic)


def _tensorrt(model_dir, threads=None, device: int = 0) -> Backend:
    from .tensorrt import tensorrt_factory

    return tensorrt_factory(model_dir, threads=threads, device=device)


def _ort(device: str) -> Factory:
    def factory(model_dir, threads=None) -> Backend:
        from .onnxruntime import OnnxRuntimeBackend

        return OnnxRuntimeBackend(os.path.join(os.fspath(model_dir), ONNX_FILE), device=device, threads=threads)

    factory.__name__ = f"onnxruntime_{device}"
    return factory


register_backend("tensorrt", _tensorrt, priority=300)
register_backend("onnxruntime-cuda", _ort("cuda"), priority=200)
register_backend("openvino-int8", _openvino_int8, priority=170)
register_backend("onnxruntime-cpu-int8", _int8, priority=150)
register_backend("openvino", _openvino, priority=120)
register_backend("onnxruntime-cpu", _ort("cpu"), priority=100)


def _triton(model_dir, threads=None, **options) -> Backend:
    from .triton import triton_factory

    return triton_factory(model_dir, threads=threads, **options)


register_backend("triton", _triton, priority=50)  # needs url=: refused (with the reason) in automatic selection
