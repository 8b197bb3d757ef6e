"""What every loaded model has in common: the backend that runs it, its manifest and folder, a BLAS cap.

`radseg.load` builds the task's model class (`radseg.click.session.ClickModel`, `radseg.propagation.session.
PropagationModel`) over this base; the subclasses add the task's sessions.
"""
from __future__ import annotations

import pathlib
from typing import Dict, List, Optional

from ._blas import blas_limiter
from .manifest import ModelManifest


class LoadedModel:
    """A network on a backend, with the manifest that parameterises its pre- and post-processing.

    Attributes:
        backend: name of the backend in use ("onnxruntime-cpu", "onnxruntime-cuda").
        refused: better backends that were refused, name -> reason.
        manifest: the `ModelManifest` stored with the model; its ``task`` must be the subclass's ``task``.
        path: the model folder.
        runtime: the backend object (``runtime.run(feeds) -> outputs``).
    """

    task = ""

    def __init__(self, runtime, manifest: ModelManifest, path=None, blas_threads: Optional[int] = 1):
        if not isinstance(manifest, ModelManifest):
            raise TypeError(f"manifest must be a ModelManifest, got {type(manifest).__name__}")
        if manifest.task != self.task:
            raise ValueError(f"{type(self).__name__} needs a {self.task} manifest, got task {manifest.task!r}")
        self.runtime, self.manifest = runtime, manifest
        self.path = pathlib.Path(path) if path is not None else None
        self._blas_limit = blas_limiter(blas_threads)  # small matrix products in pre/post-processing: one thread

    @property
    def backend(self) -> str:
        return self.runtime.name

    @property
    def refused(self) -> Dict[str, str]:
        return dict(getattr(self.runtime, "refused", {}))

    @property
    def modalities(self) -> List[str]:
        return sorted(self.manifest.intensity)
