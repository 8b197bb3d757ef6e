"""Fixtures for driving `radseg annotate` as a person would: the console script, real slices, and tools that are
installed with apt-get when missing (root), as tests/dicom/test_pacs.py does for Orthanc."""
from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO, SHARED_DATA

CHAOS = SHARED_DATA / "chaos_t2_mri" / "images" / "chaos_t2_01.nii.gz"


def radseg_script() -> str:
    script = pathlib.Path(sys.executable).with_name("radseg")
    found = str(script) if script.is_file() else shutil.which("radseg")
    if not found:
        pytest.fail("the radseg console script is not installed beside this Python; install with pip install -e .")
    return found


@pytest.fixture(scope="session")
def real_source() -> list:
    """SOURCE arguments for a few real slices: 4 slices of a CHAOS T2 MR volume (every 12th) from ../shared/data,
    else pydicom's bundled CT_small.dcm (one CT slice) so the test runs on a fresh clone."""
    if CHAOS.is_file():
        return [str(CHAOS), "--every", "12"]
    pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    return [get_testdata_file("CT_small.dcm")]


def ensure_tools(*binaries: str, packages=()) -> None:
    """Skip (saying why) unless every binary is on PATH, installing `packages` with apt-get first when missing and
    running as root."""
    missing = [b for b in binaries if shutil.which(b) is None]
    if not missing:
        return
    apt = shutil.which("apt-get")
    if apt is None or not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip(f"{', '.join(missing)} not installed, and installing them needs root and apt-get "
                    f"(apt-get install {' '.join(packages)})")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in ([apt, "install", "-y", "--no-install-recommends", *packages], [apt, "update"],
                [apt, "install", "-y", "--no-install-recommends", *packages]):
        try:
            subprocess.run(cmd, env=env, capture_output=True, timeout=600)
        except subprocess.TimeoutExpired:
            pytest.skip(f"{' '.join(cmd)} timed out")
        if all(shutil.which(b) for b in binaries):
            return
    pytest.skip(f"apt-get could not install {' '.join(packages)} ({', '.join(missing)} still missing)")


def decisions(folder) -> list:
    path = pathlib.Path(folder) / "decisions.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def subprocess_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("RADSEG_DEBUG", "DISPLAY")}
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=str(REPO), **extra)
    return env
