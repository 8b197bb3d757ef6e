"""Inference backends behind one small interface (`Backend.run(feeds) -> outputs`).

Automatic choice: ONNX Runtime CUDA > ONNX Runtime CPU; the chosen backend reports its ``name`` and, in
``refused``, why every better one was not used. Engine libraries are imported only when a backend is built.
"""
from .base import Backend, BackendUnavailable, ModelFileError
from .select import BackendRefusedError, UnknownBackendError, available_names, register_backend, select_backend

__all__ = ["Backend", "BackendUnavailable", "BackendRefusedError", "ModelFileError", "UnknownBackendError",
           "available_names", "register_backend", "select_backend"]
