"""radseg's warning class and the typed errors its command line turns into one-line messages.

Library code raises ordinary Python exceptions (ValueError, FileNotFoundError, ...) whose messages name the
argument at fault. Where the command line needs more (which flag, which exit code, how to fix it), library code
raises one of the subclasses below; they stay ordinary exceptions for Python callers (a `UsageError` is a
ValueError, a `MissingExtraError` a ModuleNotFoundError), so ``except ValueError`` keeps working.

`RadsegWarning` marks an assumption radseg made on the caller's behalf (1 mm spacing, CT, generated UIDs, a
generic anatomy code): results are produced, but the caller should know. The CLI prints each as one line
``radseg <command>: warning: ...``; a Python caller can silence or escalate them with the ``warnings`` module::

    warnings.simplefilter("error", radseg.RadsegWarning)   # make every assumption an error
"""
from __future__ import annotations

from typing import Optional

#: Exit codes of every `radseg` subcommand (documented in `radseg --help` and README.md).
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_MISSING_EXTRA = 3
EXIT_INTERRUPTED = 130


class RadsegWarning(UserWarning):
    """radseg assumed something on the caller's behalf, or left something out; the message says what and why."""


class RadsegError(Exception):
    """Base of the typed errors: ``what`` is wrong, ``fix`` says how to put it right (may be empty).

    ``str(error)`` is ``"what; fix"``, so the message reads whole where the error is printed by other code.
    """

    exit_code = EXIT_FAILURE

    def __init__(self, what: str, fix: Optional[str] = None):
        self.what = str(what).strip()
        self.fix = (fix or "").strip()
        super().__init__(f"{self.what}; {self.fix}" if self.fix else self.what)


class UsageError(RadsegError, ValueError):
    """The caller asked for something that cannot be done as asked: a bad value, a missing argument (exit 2)."""

    exit_code = EXIT_USAGE


class InputError(RadsegError, ValueError):
    """An input file or folder exists but cannot be used: wrong type, corrupt, unreadable (exit 1)."""


class OutputError(RadsegError, OSError):
    """An output cannot be written: the folder is not writable, is a file, or the disk is full (exit 1)."""


class MissingExtraError(RadsegError, ModuleNotFoundError):
    """An optional package is missing; ``extra`` names the radseg extra that brings it (exit 3)."""

    exit_code = EXIT_MISSING_EXTRA

    def __init__(self, module: str, extra: Optional[str] = None):
        self.extra = extra
        fix = f"install it with: pip install 'radseg[{extra}]'" if extra else f"install it with: pip install {module}"
        super().__init__(f"the optional package {module!r} is not installed", fix)
        self.name = module


#: Top-level module -> the radseg extra that installs it.
EXTRAS = {
    "onnxruntime": "cpu", "threadpoolctl": "cpu", "torch": "train", "onnx": "train", "matplotlib": "train",
    "tqdm": "train", "scipy": "train", "PIL": "train", "pydicom": "dicom", "highdicom": "dicom",
    "nibabel": "dicom", "dicomweb_client": "dicom", "pylibjpeg": "dicom", "cv2": "test", "skimage": "test",
    "ray": "batch", "pyarrow": "batch", "openvino": "openvino", "tritonclient": "triton", "tensorrt": "tensorrt", "fastapi": "serve", "uvicorn": "serve", "multipart": "serve", "edt": "bench", "fill_voids": "bench", "monai": "bench", "surface_distance": "bench",
}


def extra_for(module: Optional[str]) -> Optional[str]:
    """The radseg extra that installs `module` (a dotted name is reduced to its top level), or None."""
    return EXTRAS.get((module or "").split(".")[0])
