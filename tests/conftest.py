"""Shared fixtures: where the real data lives, and a skip with a reason when it is absent."""
from __future__ import annotations

import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def shared_data(*parts: str) -> pathlib.Path:
    """Path under ../shared/data, skipping the calling test with a clear reason when it is not there."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path} is absent (it ships beside the repo as ../shared/data)")
    return path


def orthanc_example():
    """examples/orthanc.py (a private Orthanc on loopback) with Orthanc installed, or a skip saying why not."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("radseg_example_orthanc", REPO / "examples" / "orthanc.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        module.ensure_orthanc(timeout=900)
    except module.OrthancUnavailable as exc:
        pytest.skip(f"Orthanc cannot be installed on this machine: {exc}")
    return module
