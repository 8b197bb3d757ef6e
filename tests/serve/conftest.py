"""Shared by the serve tests: the real `radseg serve` command on a free loopback port."""
from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(*args: str, port=None, token=None):
    """Start ``radseg serve ARGS --port PORT``; returns (process, base URL) once GET /info/ answers."""
    import requests

    port = port or free_port()
    cmd = [sys.executable, "-m", "radseg", "serve", *args, "--port", str(port)]
    if token is not None:
        cmd += ["--token", token]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"radseg serve exited {proc.returncode}: {proc.stderr.read()[-2000:]}")
        try:
            requests.get(url + "/info/", timeout=1, headers=headers)
            return proc, url
        except requests.ConnectionError:
            time.sleep(0.2)
    proc.kill()
    pytest.fail("radseg serve did not answer within 90 s")


def stop_server(proc) -> str:
    """Stop the server; returns what it wrote to stderr (its log)."""
    proc.terminate()
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return err


@pytest.fixture(scope="module")
def chaos_folder(tmp_path_factory):
    """A folder holding the first CHAOS T2 MR volume as a DICOM series (real images, written by
    `radseg.bench.archive.write_chaos_series`) and the same volume as NIfTI; skips without ../shared/data."""
    import shutil

    from radseg.bench.archive import write_chaos_series
    from tests.conftest import SHARED_DATA, shared_data

    images = shared_data("chaos_t2_mri", "images")
    root = tmp_path_factory.mktemp("serve_chaos")
    write_chaos_series(SHARED_DATA, root / "dicom", 1)
    first = sorted(images.glob("*.nii.gz"))[0]
    shutil.copy(first, root / "nifti.nii.gz")
    return root


def liver_point(shared_label_name: str = "chaos_t2_01.nii.gz"):
    """(slice, row, col) deep inside the liver (label 1) of a CHAOS volume: on the slice where the liver is
    largest, the liver pixel farthest from its edge; indices of the volume [slices, rows, cols]."""
    import nibabel as nib
    import numpy as np
    from scipy import ndimage

    from tests.conftest import shared_data

    label = np.asarray(nib.load(str(shared_data("chaos_t2_mri", "labels", shared_label_name))).dataobj)
    liver = np.transpose(label, (2, 1, 0)) == 1  # (x, y, z) -> [slices, rows, cols], as write_chaos_series
    k = int(np.argmax(liver.reshape(liver.shape[0], -1).sum(axis=1)))
    depth = ndimage.distance_transform_edt(liver[k])
    r, c = np.unravel_index(int(np.argmax(depth)), depth.shape)
    return k, int(r), int(c)
