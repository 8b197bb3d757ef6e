"""Inference backends behind one small interface (`Backend.run(feeds) -> outputs`).

Automatic choice: TensorRT > ONNX Runtime CUDA > ONNX Runtime CPU; the chosen backend reports its ``name`` and, in
``refused``, why every better one was not used. Engine libraries are imported only when a backend is built.
"""
from .base import Backend, BackendUnavailable, ModelFileError
from .select import available_names, register_backend, select_backend

__all__ = ["Backend", "BackendUnavailable", "ModelFileError", "available_names", "register_backend", "select_backend"]
