"""`radseg batch body` as a user runs it: killed mid-run, rerun, finished; and no patient identifier anywhere.

The command starts its own local Ray instance (sessions in a private RAY_TMPDIR, searched afterwards for patient
identifiers in Ray's own logs too). Killing the command's whole process group is a crash (power cut, OOM kill of
the driver): nothing half-written may be left under a final name, and the rerun must finish the rest.
"""
from __future__ import annotations

import json
import pathlib
import shutil

import pytest

from tests.batch.conftest import (
    check_outcomes, kill_group, kill_leftovers, radseg_cli, results_written, short_tmpdir, wait_for,
)

pytest.importorskip("ray", reason="Ray is not installed (pip install 'radseg[batch]')")


def _complete(path: pathlib.Path) -> None:
    """Parse a finished output file fully (raises on a half-written one)."""
    if path.suffix == ".json":
        json.loads(path.read_text())
    elif path.suffix == ".dcm":
        import pydicom

        ds = pydicom.dcmread(path)
        ds.PixelData if "PixelData" in ds else ds.ROIContourSequence  # noqa: B018 - reads the whole dataset
    elif path.suffix == ".ply":
        from plyfile import PlyData

        PlyData.read(str(path))
    elif path.suffix == ".png":
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.read_bytes()[-8:-4] == b"IEND"


def test_crash_then_resume_and_no_patient_identifiers(batch_archive, tmp_path):
    from radseg.bench.archive import PATIENT_ID, PATIENT_NAME

    root, expected = batch_archive
    out = tmp_path / "out"
    ray_tmp = short_tmpdir()
    env = {"RAY_TMPDIR": ray_tmp}
    try:
        proc = radseg_cli("batch", "body", "--source", str(root), "--out", str(out), "--workers", "2",
                          env_extra=env)
        wait_for(lambda: results_written(out) >= 3, 180, "three series done", proc)
        kill_group(proc)
        kill_leftovers(ray_tmp)
        first = results_written(out)
        for path in out.glob("series/*/*"):
            if not path.name.startswith(".radseg-"):
                _complete(path)
        assert first < len(expected), "the run finished before it could be killed"

        proc = radseg_cli("batch", "body", "--source", str(root), "--out", str(out), "--json", env_extra=env)
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 1, stderr[-3000:]  # the faults fail: exit 1, the summary says which
        report = json.loads(stdout)
        assert report["already_done"] >= first and report["lost"] == 0
        assert report["already_done"] + report["done"] + report["failed"] == len(expected)
        assert not list(out.glob("series/*/.radseg-*")), "temporary files of the killed run were left"
        from radseg.batch import read_summary

        rows = read_summary(out)
        check_outcomes(rows, root, expected)
        assert "Traceback" not in stderr
        # No patient name, name part or ID in what the command printed, wrote, or Ray logged.
        texts = [stdout, stderr] + [p.read_text(errors="replace") for p in out.rglob("*")
                                    if p.is_file() and p.suffix in (".json", ".csv")]
        ray_logs = [p.read_bytes().decode("utf-8", "replace") for p in pathlib.Path(ray_tmp).rglob("*")
                    if p.is_file() and "logs" in p.parts and p.stat().st_size < 20_000_000]
        assert len(ray_logs) > 10, f"Ray's logs are not under RAY_TMPDIR {ray_tmp}"
        texts += ray_logs
        secrets = [PATIENT_ID, *PATIENT_NAME.split("^")]
        leaks = [(s, t[max(0, t.find(s) - 80): t.find(s) + 80]) for t in texts for s in secrets if s in t]
        assert not leaks, leaks[:3]
    finally:
        kill_leftovers(ray_tmp)
        shutil.rmtree(ray_tmp, ignore_errors=True)
