"""Where a batch keeps its results, and how a rerun knows what is done.

    OUT/series/<key>/result.json    done: written last, after seg.dcm, rtstruct.dcm, body.ply, montage.png
    OUT/series/<key>/failed.json    failed with its cause (removed when a later run succeeds)
    OUT/summary.csv, summary.parquet  one row per listed series (`SUMMARY_COLUMNS`), rewritten at the end of a run

Every file is written atomically (temporary name, then rename), so a killed run leaves complete files or none;
a folder without result.json is redone by the next run. The record of a series is its summary row, kept under
the "batch" key of result.json (or as failed.json), so the summary can always be rebuilt from the folders.
"""
from __future__ import annotations

import csv
import io
import json
import os
import pathlib
from typing import Iterable, Optional

SUMMARY_COLUMNS = ("series_uid", "study_uid", "modality", "slices", "files", "body_ml", "seconds", "cpu_seconds", "status",
                   "error",
                   "attempt", "node", "worker_pid", "worker_peak_rss_mb", "output")
RESULT = "result.json"
FAILED = "failed.json"


def series_dir(out, key: str) -> pathlib.Path:
    return pathlib.Path(out) / "series" / key


def base_row(item: dict) -> dict:
    """A summary row with what the listing knows of a series; the rest empty."""
    row = {c: None for c in SUMMARY_COLUMNS}
    row.update(series_uid=item.get("series_uid", ""), study_uid=item.get("study_uid", ""),
               modality=item.get("modality", ""), files=item.get("files"), output=f"series/{item['key']}",
               status="pending", error="")
    return row


def read_record(out, key: str) -> Optional[dict]:
    """The row of a finished series (status "done" or "failed"), or None when it has not finished.

    A result.json that cannot be parsed counts as not finished (it cannot be: it is written atomically; but a
    person may have edited it), so the series is redone.
    """
    folder = series_dir(out, key)
    for name in (RESULT, FAILED):
        path = folder / name
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError:
            continue
        except (OSError, ValueError):
            return None
        if name == RESULT and not isinstance(doc, dict):  # valid JSON, but not a record (edited): redo
            return None
        row = doc.get("batch") if name == RESULT else doc
        if isinstance(row, dict) and row.get("status") in ("done", "failed"):
            return row
    return None


def write_failed(out, key: str, row: dict) -> None:
    """Record a failed series (atomically). A stale result.json stays only if the series had succeeded before."""
    from radseg._atomic import write_atomic

    folder = series_dir(out, key)
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(row, indent=2, default=str) + "\n"
    write_atomic(folder / FAILED, lambda tmp: pathlib.Path(tmp).write_text(text), suffix=".json")


def clear_failed(out, key: str) -> None:
    """Forget an earlier failure of a series that has now succeeded."""
    try:
        os.unlink(series_dir(out, key) / FAILED)
    except FileNotFoundError:
        pass


def remove_partial_files(out, key: str) -> int:
    """Delete the temporary files a killed run left in a series folder (``.radseg-*``); returns how many."""
    folder = series_dir(out, key)
    n = 0
    for path in folder.glob(".radseg-*") if folder.is_dir() else ():
        try:
            path.unlink()
            n += 1
        except FileNotFoundError:
            pass
    return n


def split_todo(out, items: Iterable[dict], retry_failed: bool) -> tuple[list[dict], dict]:
    """(items still to do, {key: row} of those finished before). Failed ones are redone when `retry_failed`.

    The folders of the series to redo are cleared of the temporary files an interrupted run left behind.
    """
    todo, finished = [], {}
    for item in items:
        row = read_record(out, item["key"])
        if row is None or (retry_failed and row.get("status") == "failed"):
            remove_partial_files(out, item["key"])
            todo.append(item)
        else:
            finished[item["key"]] = row
    return todo, finished


def write_summary(out, rows: list[dict]) -> list[str]:
    """Write summary.csv (always) and summary.parquet (when pyarrow is installed), atomically; returns the paths."""
    from radseg._atomic import write_atomic

    out = pathlib.Path(out)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=SUMMARY_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in SUMMARY_COLUMNS})
    text = buffer.getvalue()
    paths = [write_atomic(out / "summary.csv", lambda tmp: pathlib.Path(tmp).write_text(text), suffix=".csv")]
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ModuleNotFoundError:
        return paths
    types = {"slices": pa.int64(), "files": pa.int64(), "attempt": pa.int64(), "worker_pid": pa.int64(),
             "body_ml": pa.float64(), "seconds": pa.float64(), "cpu_seconds": pa.float64(), "worker_peak_rss_mb": pa.float64()}
    columns = {c: pa.array([r.get(c) for r in rows], type=types.get(c, pa.string())) for c in SUMMARY_COLUMNS}
    table = pa.table(columns)
    paths.append(write_atomic(out / "summary.parquet", lambda tmp: pq.write_table(table, tmp), suffix=".parquet"))
    return paths


def read_summary(out) -> list[dict]:
    """The rows of OUT/summary.csv as dicts of strings (for tests and scripts; parquet keeps the types)."""
    with open(pathlib.Path(out) / "summary.csv", newline="") as f:
        return list(csv.DictReader(f))
