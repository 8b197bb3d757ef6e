"""Fixtures of the batch tests: a test archive of real and faulty series, and how to run `radseg batch` for real.

The archive holds pydicom's bundled CT and MR always, and, when ../shared/data is there, its real DICOM series
and two CHAOS MR volumes written as DICOM (`radseg.bench.archive`); plus the faulty series of `add_faults`.
"""
from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from tests.conftest import REPO, SHARED_DATA


@pytest.fixture(scope="session")
def batch_archive(tmp_path_factory):
    """(folder, {sub-folder: expected status or failure word}) of a small mixed archive."""
    from radseg.bench.archive import add_faults, build_archive

    root = tmp_path_factory.mktemp("archive")
    expected = {k: "done" for k in build_archive(root, shared=SHARED_DATA if SHARED_DATA.is_dir() else None,
                                                 copies=1, chaos=2)}
    expected.update(add_faults(root))
    return root, expected


def folder_of_keys(root) -> dict:
    """{series key: the archive sub-folder that holds it}."""
    from radseg.batch.listing import list_folder_series

    items, _ = list_folder_series(root, ["CT", "MR"])
    return {item["key"]: os.path.relpath(os.path.dirname(item["paths"][0]), root) for item in items}


def check_outcomes(rows, root, expected) -> None:
    """One row per listed series; each good folder done with its files, each fault failed naming its cause."""
    keys = folder_of_keys(root)
    outputs = [r["output"] for r in rows]
    assert len(outputs) == len(set(outputs)) == len(expected), (len(outputs), len(expected))
    by_folder = {keys[r["output"].split("/", 1)[1]]: r for r in rows}
    assert set(by_folder) == set(expected)
    for folder, want in expected.items():
        row = by_folder[folder]
        if want == "done":
            assert row["status"] == "done", (folder, row)
            assert not row.get("error")
        else:
            assert row["status"] == "failed", (folder, row)
            assert want.lower() in row["error"].lower(), (folder, want, row["error"])


def short_tmpdir() -> str:
    """A short folder under /tmp for a Ray session (its Unix socket paths must stay under 107 characters)."""
    return tempfile.mkdtemp(prefix="rsray-", dir="/tmp")


def radseg_cli(*args, env_extra=None, **popen):
    """Start `radseg ...` (this interpreter) in its own process group; returns the Popen."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", **(env_extra or {}))
    return subprocess.Popen([sys.executable, "-m", "radseg", *args], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, **popen)


def kill_group(proc) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=60)


def kill_leftovers(marker: str) -> list[int]:
    """Kill processes whose command line names `marker` (a Ray session folder); returns their pids."""
    killed = []
    for d in pathlib.Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if marker in cmd:
            try:
                os.kill(int(d.name), signal.SIGKILL)
                killed.append(int(d.name))
            except ProcessLookupError:
                pass
    return killed


def wait_for(predicate, timeout: float, what: str, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the command ended (exit {proc.returncode}) before {what}:\n{out}\n{err[-3000:]}")
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def results_written(out) -> int:
    return len(list(pathlib.Path(out).glob("series/*/result.json")))
