"""`radseg.load`: open a bundled model by name, or an exported model folder by path, on the best backend.

A model folder holds ``model.onnx`` and ``manifest.json`` (written by `radseg export CHECKPOINT --out DIR`).
Bundled models live in ``radseg/models/<name>/``.
"""
from __future__ import annotations

import os
import pathlib
from typing import Optional, Union

from .backends.select import ONNX_FILE
from .errors import RadsegError

MANIFEST_FILE = "manifest.json"
BUNDLED_DIR = pathlib.Path(__file__).resolve().parent / "models"

# task in the manifest -> "module:Class" of the model object that serves it
_TASKS = {"click": ("radseg.click.session", "ClickModel"),
          "propagation": ("radseg.propagation.session", "PropagationModel"),
          "body": ("radseg.body.model", "BodyModel")}


class ModelNotFoundError(RadsegError, FileNotFoundError):
    """Neither a bundled model name nor an existing folder; ``name`` is what was asked, ``bundled`` what exists."""

    def __init__(self, name: str, bundled: list):
        self.name, self.bundled = name, list(bundled)
        super().__init__(f"load: {name!r} is neither a bundled model (bundled: {', '.join(self.bundled) or 'none'}) "
                         "nor an existing model folder", "pass a folder written by `radseg export CHECKPOINT --out DIR`")


def bundled_names() -> list:
    """Names of the models bundled with this radseg (folders under radseg/models with a manifest)."""
    if not BUNDLED_DIR.is_dir():
        return []
    return sorted(p.name for p in BUNDLED_DIR.iterdir() if (p / MANIFEST_FILE).is_file())


def resolve_model_dir(name_or_path: Union[str, os.PathLike]) -> pathlib.Path:
    """Map a bundled model name or a path (the folder, or its model.onnx / manifest.json) to the model folder.

    Raises:
        TypeError: not a string or path.
        ModelNotFoundError (a FileNotFoundError): no such bundled model or folder; it lists the bundled names.
    """
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise TypeError(f"load: name_or_path must be a bundled model name or a folder path, got {type(name_or_path).__name__}")
    text = os.fspath(name_or_path)
    path = pathlib.Path(text).expanduser()
    if path.exists():
        folder = path.parent if path.is_file() else path
        return folder.resolve()
    looks_like_name = text and os.sep not in text and "/" not in text and not text.startswith(".")
    if looks_like_name and (BUNDLED_DIR / text).is_dir():
        return BUNDLED_DIR / text
    raise ModelNotFoundError(text, bundled_names())


def load(name_or_path: Union[str, os.PathLike] = "click", backend: Optional[str] = None, threads: Optional[int] = None,
         **backend_options):
    """Load a model for inference.

    Args:
        name_or_path: a bundled model name ("click") or a path to an exported model folder (model.onnx +
            manifest.json); a path to either file inside it works too.
        backend: None picks ONNX Runtime CUDA > ONNX Runtime CPU (the first that works here); or name
            one of `radseg.backends.available_names()`.
        threads: CPU threads for CPU backends (None: the runtime's default).
        backend_options: passed to the named backend (only with `backend`), e.g. a remote backend's ``url``.

    Returns:
        the task's model object, e.g. `radseg.click.session.ClickModel` for a click model; ``.backend`` names the
        backend in use and ``.refused`` says why better ones were not used.

    Raises:
        FileNotFoundError: unknown name, missing folder, missing manifest.json or model.onnx.
        ValueError: a manifest of another format_version or corrupt JSON, a corrupt ONNX file
            (`radseg.backends.ModelFileError`), a manifest that does not match the ONNX graph, an unknown task.
        RuntimeError: the named backend (or every backend) was refused, with the reasons.
    """
    import importlib

    from .backends.select import select_backend
    from .manifest import ModelManifest

    folder = resolve_model_dir(name_or_path)
    manifest = ModelManifest.from_json(folder / MANIFEST_FILE)
    onnx_path = folder / ONNX_FILE
    if not onnx_path.is_file():
        raise FileNotFoundError(
            f"load: {onnx_path} is missing; a model folder needs {ONNX_FILE} beside {MANIFEST_FILE} "
            f"(write both with `radseg export CHECKPOINT --out DIR`)"
        )
    if manifest.task not in _TASKS:
        raise ValueError(f"load: {folder} holds a {manifest.task!r} model; this radseg serves {sorted(_TASKS)}")
    runtime = select_backend(folder, backend=backend, threads=threads, options=backend_options)
    if manifest.input_name not in runtime.input_names or manifest.output_name not in runtime.output_names:
        raise ValueError(
            f"load: {folder}: manifest names input {manifest.input_name!r} / output {manifest.output_name!r} but "
            f"{ONNX_FILE} has inputs {list(runtime.input_names)} and outputs {list(runtime.output_names)}; the two "
            f"files come from different exports, re-export the model"
        )
    module, cls = _TASKS[manifest.task]
    model = getattr(importlib.import_module(module), cls)(runtime, manifest, folder)
    try:
        model.warmup()  # one pass on zeros: also proves the graph takes the manifest's input shape
    except Exception as exc:  # backends raise their own types (ORT: InvalidArgument, Fail)
        s, c = manifest.input_size, manifest.in_channels
        raise ValueError(
            f"load: {folder}: {ONNX_FILE} does not run on the input [N, {c}, {s}, {s}] that {MANIFEST_FILE} "
            f"describes ({type(exc).__name__}: {str(exc).strip()[:200]}); the two files come from different "
            f"exports, re-export the model"
        ) from exc
    return model
