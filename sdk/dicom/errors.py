"""Errors raised by `radseg.dicom`, and the import helper for its optional dependencies.

Every error that concerns one file names it (`DicomFileError.path`), so a caller reading a folder can report the
file, move it aside, and read the rest (or pass ``errors="skip"`` to `read_series`).
"""
from __future__ import annotations

import importlib
import os
from typing import Sequence

INSTALL_HINT = "pip install 'radseg[dicom]'"


class MissingDependencyError(ModuleNotFoundError):
    """An optional package of the ``dicom`` extra is not installed."""


def require(module: str):
    """Import `module` (pydicom, highdicom, nibabel, dicomweb_client, ...) or raise `MissingDependencyError`."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        top = module.split(".")[0]
        if exc.name is not None and exc.name.split(".")[0] != top:
            raise
        err = MissingDependencyError(
            f"radseg.dicom needs the optional package {top!r}, which is not installed: {INSTALL_HINT}"
        )
        err.name = top
        raise err from exc


class DicomError(ValueError):
    """Base class: the input cannot be turned into a volume or a segmentation."""


class DicomFileError(DicomError):
    """One file is unusable (not DICOM, truncated, no pixel data, missing geometry, undecodable pixels)."""

    def __init__(self, path, problem: str):
        self.path = os.fspath(path) if path is not None else None
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


class SeriesError(DicomError):
    """The files do not form one consistent volume (several series, mixed sizes, duplicate or missing slices)."""


class MultipleSeriesError(SeriesError):
    """A folder holds several image series and none was chosen; `series` lists them."""

    def __init__(self, series: Sequence[dict]):
        self.series = list(series)
        lines = [
            f"  {s['series_uid']}  modality={s.get('modality') or '?'}  files={s['files']}  "
            f"description={s.get('description') or ''!r}"
            for s in self.series
        ]
        super().__init__(
            f"found {len(self.series)} image series; choose one with read_series(..., series_uid=UID):\n"
            + "\n".join(lines)
        )


class SegError(DicomError):
    """A DICOM SEG cannot be written for, or read onto, the given volume."""


class RtstructError(DicomError):
    """An RT Structure Set cannot be written for, or read onto, the given volume."""
