"""What every batch run does around the work itself: plan (list, skip what is done), count, and close the books.

`run_loop` is the same work in a plain loop in this process (the baseline the benchmark compares Ray with, and a
way to batch without Ray). `radseg.batch.ray_pipeline.run_ray` runs it on Ray. Both return a `BatchReport` and
leave OUT/summary.csv (and .parquet) with one row per listed series.
"""
from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import platform
import time
from typing import Callable, Optional

from .jobs import BodyJob, process_series
from .records import base_row, read_record, split_todo, write_failed, write_summary
from .sources import is_url, list_series_source


@dataclasses.dataclass
class BatchReport:
    """The outcome of one run. rows: one summary row per listed series (also in OUT/summary.csv)."""

    listed: int
    already_done: int
    done: int
    failed: int
    lost: int
    left_out: dict
    rows: list
    summary: list
    seconds: float
    engine: str
    workers: int

    @property
    def series_per_minute(self) -> float:
        worked = self.done + self.failed
        return 60.0 * worked / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.pop("rows")
        d["series_per_minute"] = round(self.series_per_minute, 2)
        return d


@dataclasses.dataclass
class Plan:
    items: list
    todo: list
    finished: dict
    left_out: dict


def plan_batch(source, job: BodyJob, modalities, retry_failed: bool = False, lister=None) -> Plan:
    """List the series of `source` (folder or DICOMweb URL) and split off those a previous run finished.

    `lister(source, modalities)` -> (series, left_out) replaces `list_series_source` (Ray lists on the cluster).
    """
    if not is_url(source) and not os.path.isdir(os.fspath(source)):
        raise FileNotFoundError(f"--source {source}: not a folder (nor an http(s):// DICOMweb URL)")
    items, left_out = (lister or list_series_source)(source, modalities)
    todo, finished = split_todo(job.out, items, retry_failed)
    return Plan(items, todo, finished, left_out)


def attempt_number(out, key: str) -> int:
    """Count one more attempt at series `key` (attempts.json in its folder: the count, and the pid and host of the
    process now working on it); returns this attempt's number.

    Ray retries a series whose worker died without telling the worker, so the count is kept on disk.
    """
    from radseg._atomic import write_atomic

    folder = pathlib.Path(out) / "series" / key
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "attempts.json"
    try:
        n = int(json.loads(path.read_text()).get("attempts", 0)) + 1
    except (OSError, ValueError, AttributeError):
        n = 1
    text = json.dumps({"attempts": n, "pid": os.getpid(), "node": platform.node()}) + "\n"
    write_atomic(path, lambda tmp: pathlib.Path(tmp).write_text(text), suffix=".json")
    return n


def close_books(job: BodyJob, plan: Plan, seconds: float, engine: str, workers: int,
                lost_reason: str = "") -> BatchReport:
    """Build the report from what is on disk (the source of truth), record lost series, write the summary.

    A series of this run with no record at all was lost (its worker died on every retry, or the run was cut
    short): it is recorded as failed with `lost_reason`, so it is never silently missing from the summary.
    """
    rows, done, failed, lost = [], 0, 0, 0
    todo_keys = {item["key"] for item in plan.todo}
    for item in plan.items:
        row = read_record(job.out, item["key"])
        if row is None and item["key"] in todo_keys and lost_reason:
            row = base_row(item)
            row.update(status="failed", error=lost_reason)
            write_failed(job.out, item["key"], row)
            lost += 1
        elif row is None:
            row = base_row(item)
        if item["key"] in todo_keys:
            done += row.get("status") == "done"
            failed += row.get("status") == "failed"
        rows.append(row)
    summary = [str(p) for p in write_summary(job.out, rows)]
    return BatchReport(listed=len(plan.items), already_done=len(plan.finished), done=done, failed=failed, lost=lost,
                       left_out=plan.left_out, rows=rows, summary=summary, seconds=round(seconds, 3), engine=engine,
                       workers=workers)


def progress_bar(total: int, desc: str, enabled: bool):
    from radseg._progress import progress

    return progress(total=total, unit="series", desc=desc, disable=not enabled)


def count_row(bar, counts: dict, row: dict) -> None:
    """Advance the bar by one finished series and show done / failed / left."""
    counts[row.get("status", "failed")] = counts.get(row.get("status", "failed"), 0) + 1
    left = bar.total - bar.n - 1
    bar.set_postfix_str(f"{counts.get('done', 0)} done, {counts.get('failed', 0)} failed, {left} left", refresh=False)
    bar.update(1)


def run_loop(source, job: BodyJob, retry_failed: bool = False, progress: bool = True,
             on_row: Optional[Callable[[dict], None]] = None) -> BatchReport:
    """Every series of `source`, one after another, in this process (one model, `job.threads` threads)."""
    t0 = time.perf_counter()
    started = job.start()
    plan = plan_batch(source, job, started.modalities, retry_failed)
    bar, counts = progress_bar(len(plan.todo), f"batch {job.name}", progress), {}
    try:
        for item in plan.todo:
            row = process_series(item, started, attempt=attempt_number(job.out, item["key"]))
            count_row(bar, counts, row)
            if on_row is not None:
                on_row(row)
    finally:
        bar.close()
    return close_books(job, plan, time.perf_counter() - t0, "loop", 1)
