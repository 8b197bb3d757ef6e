"""`radseg.batch.run_loop` (the batch without Ray) over a small archive of real and deliberately faulty series.

The archive is `radseg.bench.archive.build_archive(shared=None)` (pydicom's bundled CT_small and MR_small, with
fresh UIDs) plus `add_faults` (a truncated file, garbage after the DICM marker, two slices at one position, a
slice of another size, and a good series of a named patient). The batch runs once per module; reruns work on
copies of its output folder, so the tests do not depend on their order.
"""
from __future__ import annotations

import json
import os
import re
import shutil

import numpy as np
import pytest

pytest.importorskip("pydicom")
pytest.importorskip("onnxruntime")

import radseg.dicom as rd  # noqa: E402
from radseg.batch import BodyJob, SUMMARY_COLUMNS, read_summary, run_loop  # noqa: E402
from radseg.batch.listing import list_folder_series  # noqa: E402
from radseg.bench.archive import PATIENT_ID, PATIENT_NAME, add_faults, build_archive  # noqa: E402

OUTPUT_FILES = ("seg.dcm", "rtstruct.dcm", "body.ply", "montage.png", "result.json")
# The whole name and ID anywhere; each name part as a word of its own (letters on neither side: "Doe" in
# "Doe^Janine_truncated", not in "does").
PRIVATE = [re.compile(re.escape(w), re.IGNORECASE) for w in (PATIENT_NAME, PATIENT_ID)] + [
    re.compile(rf"(?<![a-z]){re.escape(p)}(?![a-z])", re.IGNORECASE) for p in re.split(r"[\^ ]+", PATIENT_NAME) if p]


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """(archive folder, {archive sub-folder: "done" or a word of the failure}, {key: sub-folder}, out, report)."""
    base = tmp_path_factory.mktemp("loop")
    root = base / "archive"
    expected = build_archive(root, shared=None)
    expected.update(add_faults(root))
    items, _ = list_folder_series(root, ["CT", "MR"])
    folders = {i["key"]: os.path.relpath(os.path.dirname(i["paths"][0]), root) for i in items}
    out = base / "out"
    report = run_loop(str(root), BodyJob(out=str(out), source_root=str(root)), progress=False)
    return root, expected, folders, out, report


def rows_by_folder(rows, folders) -> dict:
    return {folders[r["output"].split("/", 1)[1]]: r for r in rows}


def test_one_row_per_listed_series(batch):
    root, expected, folders, out, report = batch
    assert report.engine == "loop" and report.workers == 1
    assert report.listed == len(expected) == len(folders)
    assert report.already_done == 0 and report.lost == 0
    n_faults = sum(v != "done" for v in expected.values())
    assert 4 <= n_faults <= 5
    assert report.done == len(expected) - n_faults and report.failed == n_faults
    outputs = [r["output"] for r in report.rows]
    assert len(outputs) == len(set(outputs)) == report.listed
    assert set(rows_by_folder(report.rows, folders)) == set(expected)
    summary = read_summary(out)
    assert [r["output"] for r in summary] == outputs
    assert [r["status"] for r in summary] == [r["status"] for r in report.rows]
    assert tuple(summary[0]) == SUMMARY_COLUMNS
    assert (out / "summary.parquet").is_file() or not _has_pyarrow()


def _has_pyarrow() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ModuleNotFoundError:
        return False
    return True


def test_good_series_are_done_with_their_files(batch):
    root, expected, folders, out, report = batch
    by_folder = rows_by_folder(report.rows, folders)
    good = [f for f, want in expected.items() if want == "done"]
    assert len(good) >= 3
    for folder in good:
        row = by_folder[folder]
        assert row["status"] == "done" and not row["error"], (folder, row)
        series = out / row["output"]
        for name in OUTPUT_FILES:
            assert (series / name).is_file() and (series / name).stat().st_size > 0, (folder, name)
        assert not (series / "failed.json").exists()
        assert not list(series.glob(".radseg-*"))
        doc = json.loads((series / "result.json").read_text())
        assert doc["batch"]["status"] == "done" and doc["batch"]["body_ml"] == row["body_ml"]
        # The SEG maps back onto the source series, and its voxels are the body volume the row reports.
        vol = rd.read_series(root / folder)
        assert row["slices"] == vol.shape[0]
        masks = rd.read_seg(series / "seg.dcm", vol)
        assert len(masks) == 1
        mask = next(iter(masks.values()))
        assert mask.shape == tuple(vol.shape) and mask.any(), folder
        ml = np.count_nonzero(mask) * float(np.prod(vol.spacing)) / 1000.0
        assert abs(ml - row["body_ml"]) <= 0.1, (folder, ml, row["body_ml"])


def test_faults_fail_naming_their_cause(batch):
    root, expected, folders, out, report = batch
    by_folder = rows_by_folder(report.rows, folders)
    for folder, word in expected.items():
        if word == "done":
            continue
        row = by_folder[folder]
        assert row["status"] == "failed", (folder, row)
        assert word.lower() in row["error"].lower(), (folder, word, row["error"])
        assert "\n" not in row["error"]
        assert str(root) not in row["error"]  # the source folder is shortened to <source>
        series = out / row["output"]
        assert not (series / "result.json").exists() and not (series / "seg.dcm").exists()
        doc = json.loads((series / "failed.json").read_text())
        assert doc["status"] == "failed" and doc["error"] == row["error"]


def test_no_patient_name_or_id_in_errors_failed_json_or_summary(batch):
    root, expected, folders, out, report = batch
    texts = [r["error"] or "" for r in report.rows]
    texts += [p.read_text() for p in out.glob("series/*/failed.json")]
    texts.append((out / "summary.csv").read_text())
    if _has_pyarrow():
        import pyarrow.parquet as pq

        texts.append(json.dumps(pq.read_table(out / "summary.parquet").to_pylist()))
    assert len(texts) > report.failed
    for text in texts:
        for pattern in PRIVATE:
            assert not pattern.search(text), (pattern.pattern, text[:300])
    # The truncated series of the named patient is in a folder named after them: its error names the file.
    assert any("<redacted>" in t for t in texts)


def copy_out(batch, tmp_path):
    root, expected, folders, out, report = batch
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    return root, expected, folders, copy, report


def test_a_rerun_skips_what_is_finished(batch, tmp_path):
    root, expected, folders, out, first = copy_out(batch, tmp_path)
    before = {p: p.stat().st_mtime_ns for p in out.glob("series/*/*.json") if p.name != "attempts.json"}
    report = run_loop(str(root), BodyJob(out=str(out), source_root=str(root)), progress=False)
    assert report.listed == first.listed
    assert report.already_done == report.listed
    assert report.done == 0 and report.failed == 0 and report.lost == 0
    assert [r["status"] for r in report.rows] == [r["status"] for r in first.rows]
    assert {p: p.stat().st_mtime_ns for p in before} == before  # no record rewritten
    assert [r["output"] for r in read_summary(out)] == [r["output"] for r in first.rows]


def test_retry_failed_redoes_the_failures(batch, tmp_path):
    root, expected, folders, out, first = copy_out(batch, tmp_path)
    report = run_loop(str(root), BodyJob(out=str(out), source_root=str(root)), retry_failed=True, progress=False)
    n_faults = sum(v != "done" for v in expected.values())
    assert report.listed == first.listed
    assert report.already_done == report.listed - n_faults
    assert report.done == 0 and report.failed == n_faults and report.lost == 0
    by_folder = rows_by_folder(report.rows, folders)
    for folder, word in expected.items():
        row = by_folder[folder]
        if word == "done":
            assert row["status"] == "done" and row["attempt"] == 1
        else:
            assert row["status"] == "failed" and word.lower() in row["error"].lower()
            assert row["attempt"] == 2, (folder, row)  # redone: a second attempt
    summary = read_summary(out)
    assert sum(r["status"] == "failed" for r in summary) == n_faults


def test_a_failed_stow_leaves_the_series_not_done(tmp_path):
    # The PACS refuses the connection (nothing listens on the port): the series is recorded as failed at the
    # "stow" step, with no result.json, so a rerun redoes it.
    from radseg.batch import BodyJob, run_loop
    from radseg.bench.archive import build_archive

    archive = tmp_path / "archive"
    build_archive(archive, shared=None)
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    job = BodyJob(out=str(tmp_path / "out"), source_root=str(archive), stow_url=f"http://127.0.0.1:{port}/dicom-web")
    report = run_loop(str(archive), job, progress=False)
    assert report.failed == report.listed == 2 and report.done == 0
    for row in report.rows:
        assert row["error"].startswith("stow: ") and "ConnectionError" in row["error"], row["error"]
        folder = tmp_path / "out" / row["output"]
        assert (folder / "seg.dcm").exists() and not (folder / "result.json").exists()
