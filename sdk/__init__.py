"""radseg: interactive segmentation of CT and MR images, deployable without PyTorch.

`import radseg` needs numpy and the native extension only; ONNX Runtime, pydicom, highdicom, OpenCV and
torch are imported where they are used (a test guards this).

Conventions: arrays are [slices, rows, cols]; points are (row, col) in 2D and (slice, row, col) in 3D, in voxels;
spacing follows the same order in mm; patient coordinates are DICOM LPS in mm.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

from . import _native  # noqa: F401  (fail at import if the extension was not built)
from . import geometry, metrics  # noqa: E402
from .errors import RadsegWarning  # noqa: E402
from .load import load  # noqa: E402  (radseg.load("click"); binds the function over the submodule's name)

# Submodules that pull optional dependencies load on first attribute access (PEP 562).
_LAZY = {"dicom": ".dicom", "workflow": ".workflow", "montage": ".montage"}


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name], __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'radseg' has no attribute {name!r}")


__all__ = ["geometry", "metrics", "load", "RadsegWarning", "__version__"]
