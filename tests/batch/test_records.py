"""`radseg.batch.records`: what a rerun counts as finished, and the summary files (CSV and Parquet)."""
from __future__ import annotations

import csv
import json

import pytest

from radseg.batch.records import (
    FAILED, RESULT, SUMMARY_COLUMNS, base_row, read_summary, series_dir, split_todo, write_summary,
)


def item(key: str, **extra) -> dict:
    return {"key": key, "series_uid": key, "study_uid": "1.2.3", "modality": "CT", "files": 3, "source": "folder",
            "paths": [], "private": [], **extra}


def record(out, key: str, name: str, text: str):
    folder = series_dir(out, key)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder


def done_doc(key: str) -> str:
    row = base_row(item(key))
    row.update(status="done", slices=3, body_ml=12.5, seconds=0.2, attempt=1)
    return json.dumps({"modality": "CT", "batch": row})


def failed_doc(key: str) -> str:
    row = base_row(item(key))
    row.update(status="failed", error="read: SeriesError: 2 slices at one position", attempt=1)
    return json.dumps(row)


# ---------------------------------------------------------------------------------------------- split_todo
def test_no_record_is_todo(tmp_path):
    items = [item("1.1"), item("1.2")]
    todo, finished = split_todo(tmp_path, items, retry_failed=False)
    assert [i["key"] for i in todo] == ["1.1", "1.2"] and finished == {}


def test_done_and_failed_are_finished(tmp_path):
    record(tmp_path, "1.1", RESULT, done_doc("1.1"))
    record(tmp_path, "1.2", FAILED, failed_doc("1.2"))
    todo, finished = split_todo(tmp_path, [item("1.1"), item("1.2"), item("1.3")], retry_failed=False)
    assert [i["key"] for i in todo] == ["1.3"]
    assert set(finished) == {"1.1", "1.2"}
    assert finished["1.1"]["status"] == "done" and finished["1.1"]["body_ml"] == 12.5
    assert finished["1.2"]["status"] == "failed" and "position" in finished["1.2"]["error"]


def test_retry_failed_redoes_failures_only(tmp_path):
    record(tmp_path, "1.1", RESULT, done_doc("1.1"))
    record(tmp_path, "1.2", FAILED, failed_doc("1.2"))
    todo, finished = split_todo(tmp_path, [item("1.1"), item("1.2")], retry_failed=True)
    assert [i["key"] for i in todo] == ["1.2"]
    assert set(finished) == {"1.1"}


@pytest.mark.parametrize("text", ['{"batch": {"status": "do', "", "not json", "[]", "null", '"done"',
                                  '{"batch": {"status": "pending"}}', '{"no_batch": 1}'])
def test_a_corrupt_or_unfinished_result_is_todo(tmp_path, text):
    record(tmp_path, "1.1", RESULT, text)
    todo, finished = split_todo(tmp_path, [item("1.1")], retry_failed=False)
    assert [i["key"] for i in todo] == ["1.1"] and finished == {}


def test_a_corrupt_failed_record_is_todo(tmp_path):
    record(tmp_path, "1.1", FAILED, '{"status": "fai')
    todo, _ = split_todo(tmp_path, [item("1.1")], retry_failed=False)
    assert [i["key"] for i in todo] == ["1.1"]


def test_temporary_files_of_a_series_to_redo_are_removed(tmp_path):
    folder = record(tmp_path, "1.1", ".radseg-abc123.dcm", "half a SEG")
    (folder / ".radseg-x.json").write_text("{")
    (folder / "attempts.json").write_text('{"attempts": 1}')
    failed = record(tmp_path, "1.2", FAILED, failed_doc("1.2"))
    (failed / ".radseg-y.png").write_text("half a montage")
    todo, _ = split_todo(tmp_path, [item("1.1"), item("1.2")], retry_failed=True)
    assert [i["key"] for i in todo] == ["1.1", "1.2"]
    assert sorted(p.name for p in folder.iterdir()) == ["attempts.json"]  # other files stay
    assert sorted(p.name for p in failed.iterdir()) == [FAILED]


# ------------------------------------------------------------------------------------------ summary files
def rows_for_summary() -> list[dict]:
    done = base_row(item("1.2.840.1"))
    done.update(status="done", slices=40, body_ml=1234.5, seconds=3.25, attempt=1, node="n1", worker_pid=4321,
                worker_peak_rss_mb=512.0, stowed=True)  # a key that is no column is left out
    failed = base_row(item("1.2.840.2", files=7))
    failed.update(status="failed", error='read: SeriesError: a "quoted", comma, text', seconds=0.01, attempt=2,
                  node="n2", worker_pid=99, worker_peak_rss_mb=300.5)
    pending = base_row(item("sha1-0123456789abcdef01234567", series_uid="", modality=""))
    return [done, failed, pending]


def test_write_summary_csv_header_and_rows(tmp_path):
    rows = rows_for_summary()
    paths = write_summary(tmp_path, rows)
    assert str(tmp_path / "summary.csv") in paths
    with open(tmp_path / "summary.csv", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        body = list(reader)
    assert tuple(header) == SUMMARY_COLUMNS
    assert len(body) == 3
    got = read_summary(tmp_path)
    assert [r["series_uid"] for r in got] == ["1.2.840.1", "1.2.840.2", ""]
    assert got[0]["slices"] == "40" and got[0]["body_ml"] == "1234.5" and got[0]["status"] == "done"
    assert got[1]["error"] == 'read: SeriesError: a "quoted", comma, text' and got[1]["files"] == "7"
    assert got[2]["status"] == "pending" and got[2]["slices"] == "" and got[2]["output"].startswith("series/sha1-")
    assert "stowed" not in got[0]
    assert not list(tmp_path.glob(".radseg-*"))  # written atomically: no temporary file left


def test_write_summary_parquet_has_the_same_rows_and_types(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rows = rows_for_summary()
    paths = write_summary(tmp_path, rows)
    assert str(tmp_path / "summary.parquet") in paths
    table = pq.read_table(tmp_path / "summary.parquet")
    assert tuple(table.column_names) == SUMMARY_COLUMNS
    assert table.schema.field("slices").type == pa.int64()
    assert table.schema.field("files").type == pa.int64()
    assert table.schema.field("body_ml").type == pa.float64()
    assert table.schema.field("seconds").type == pa.float64()
    assert table.schema.field("series_uid").type == pa.string()
    parquet_rows = table.to_pylist()
    assert parquet_rows[0]["slices"] == 40 and parquet_rows[0]["body_ml"] == 1234.5
    assert parquet_rows[2]["slices"] is None and parquet_rows[2]["body_ml"] is None
    csv_rows = read_summary(tmp_path)
    assert len(parquet_rows) == len(csv_rows)
    for p_row, c_row in zip(parquet_rows, csv_rows):
        assert {k: "" if v is None else str(v) for k, v in p_row.items()} == c_row


def test_write_summary_rewrites_and_handles_no_rows(tmp_path):
    write_summary(tmp_path, rows_for_summary())
    write_summary(tmp_path, [])
    assert read_summary(tmp_path) == []
    assert (tmp_path / "summary.csv").read_text().strip() == ",".join(SUMMARY_COLUMNS)


def test_read_summary_of_a_folder_without_one_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_summary(tmp_path)
