"""The work a batch does to one series, the same in a Ray actor and in a plain loop.

A job is a picklable spec (`BodyJob`) that a worker turns into a loaded model once (`BodyJob.start`) and then
applies to series after series (`StartedBodyJob.run`). `process_series` wraps one series' read and run and turns
any exception into a "failed" row naming its cause, so one bad series never stops a batch. Any model with an
automatic ``segment(volume, spacing=, modality=)`` plugs in the same way; "body" is the one radseg ships.

A row (see `radseg.batch.records.SUMMARY_COLUMNS`) names no patient: error texts have the patient's name and ID
redacted and the source folder shortened to "<source>".
"""
from __future__ import annotations

import dataclasses
import os
import platform
import resource
import time
import warnings
from typing import Optional

from .records import base_row, clear_failed, series_dir, write_failed
from .sources import read_item, redact, relative_paths

BATCH_FORMATS = ("seg", "rtstruct", "ply", "montage")


@dataclasses.dataclass(frozen=True)
class BodyJob:
    """Outline the body of every slice; write seg.dcm, rtstruct.dcm, body.ply, montage.png and result.json.

    model: bundled name or exported folder; backend / threads: as `radseg.load` (threads per worker);
    fill_missing_uids: generate the UIDs anonymised series lack (else such a series fails, saying so);
    stow_url: a DICOMweb root to store seg.dcm and rtstruct.dcm to (STOW-RS), None for files only;
    source_root: the source folder, shortened to "<source>" in error texts.
    """

    out: str
    model: str = "body"
    backend: Optional[str] = None
    threads: int = 1
    fill_missing_uids: bool = False
    stow_url: Optional[str] = None
    source_root: Optional[str] = None
    name: str = "body"

    def start(self) -> "StartedBodyJob":
        import radseg

        return StartedBodyJob(self, radseg.load(self.model, backend=self.backend, threads=self.threads))


def peak_rss_mb() -> float:
    """This process's peak resident memory in MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class StartedBodyJob:
    """A `BodyJob` with its model loaded: call `run` per series (thread-compatible, not thread-safe)."""

    def __init__(self, job: BodyJob, model):
        self.job, self.model = job, model
        self.modalities = [m.upper() for m in model.modalities]

    def run(self, item: dict, vol, timings: dict, row: dict, t0: float, cpu0: float, stage: dict) -> None:
        """Segment the Volume `vol` of series `item` and write its folder, result.json (with `row`, completed
        here: status, seconds since `t0` plus the read, CPU seconds of this process since `cpu0` plus the read's)
        last. ``stage["name"]`` says what it is doing (segment, write, stow), for the error of a failure.
        Raises on any failure."""
        import numpy as np

        from radseg.body.outputs import body_volume_ml, write_body_outputs
        from radseg.dicom.uids import seg_uid_problem

        modality = (vol.modality or item.get("modality") or "").upper()
        if modality not in self.modalities:
            raise ValueError(f"modality {modality or 'missing'}: the {self.job.name} model segments "
                             f"{'/'.join(self.modalities)}")
        problem = seg_uid_problem(vol.source_headers, self.job.fill_missing_uids)
        if problem:
            raise ValueError(f"{problem[0]}; {problem[1]}")
        stage["name"] = "segment"
        t = time.perf_counter()
        mask = self.model.segment(np.asarray(vol.array), spacing=vol.spacing, modality=modality)
        timings["segment"] = round((time.perf_counter() - t) * 1e3, 1)
        folder = series_dir(self.job.out, item["key"])
        folder.mkdir(parents=True, exist_ok=True)
        row.update(modality=modality, slices=int(vol.shape[0]), body_ml=round(body_volume_ml(mask, vol.spacing), 1))

        def finish(written: dict) -> dict:
            if self.job.stow_url is not None:  # before result.json: a series is done once it is in the PACS
                stage["name"] = "stow"
                stow(self.job.stow_url, [written[k] for k in ("seg", "rtstruct") if k in written])
                row["stowed"] = True
            row.update(status="done", seconds=round(time.perf_counter() - t0 + timings["read"] / 1e3, 3),
                       cpu_seconds=round(time.process_time() - cpu0, 3),
                       worker_peak_rss_mb=round(peak_rss_mb(), 1))
            return {"batch": row}

        stage["name"] = "write"
        write_body_outputs(vol, mask, folder, self.model, modality, True, self.job.fill_missing_uids, timings,
                           item["key"], formats=BATCH_FORMATS, before_result=finish)


def stow(url: str, paths: list) -> None:
    """Store the DICOM files `paths` to the DICOMweb server at `url` (STOW-RS)."""
    import pydicom

    from .sources import dicomweb_client

    if paths:
        dicomweb_client(url).store_instances([pydicom.dcmread(p) for p in paths])


def process_series(item: dict, started: StartedBodyJob, vol=None, read_s: float = 0.0,
                   read_error: Optional[str] = None, attempt: int = 1, read_cpu_s: float = 0.0) -> dict:
    """Read (unless `vol` is given), segment and write one series; returns its summary row, never raises.

    `read_cpu_s`: CPU seconds the read took elsewhere (a Ray read task), counted in the row's cpu_seconds.
    `read_error`: the read already failed elsewhere (a Ray read task) with this text. A failed series is recorded
    in its folder's failed.json; a done one in result.json (under "batch").
    """
    t0 = time.perf_counter()  # for a failure's seconds; run() times the work after the read itself
    cpu0 = time.process_time() - read_cpu_s
    read_before = read_s if vol is not None else 0.0
    row = base_row(item)
    row.update(attempt=attempt, node=platform.node(), worker_pid=os.getpid())
    stage = {"name": "read"}
    try:
        if read_error is not None:
            raise _ReadFailed(read_error)
        with warnings.catch_warnings():
            # Warnings of the readers and writers can quote header values; the row keeps what matters.
            warnings.simplefilter("ignore")
            if vol is None:
                t = time.perf_counter()
                vol = read_item(item)
                read_s = time.perf_counter() - t
            stage["name"] = "check"
            started.run(item, vol, {"read": round(read_s * 1e3, 1)}, row, time.perf_counter(), cpu0, stage)
        clear_failed(started.job.out, item["key"])
        return row
    except Exception as exc:  # noqa: BLE001 - a batch records every failure of a series and goes on
        text = str(exc) if isinstance(exc, _ReadFailed) else f"{stage['name']}: {type(exc).__name__}: {exc}"
        row.update(status="failed", seconds=round(read_before + time.perf_counter() - t0, 3),
                   error=clean_error(text, item, started.job.source_root),
                   worker_peak_rss_mb=round(peak_rss_mb(), 1))
        write_failed(started.job.out, item["key"], row)
        return row


class _ReadFailed(Exception):
    """A read that failed in another process; its text is already worded."""


def clean_error(text: str, item: dict, source_root: Optional[str]) -> str:
    """One line, no patient name or ID, the source folder shortened."""
    text = " ".join(str(text).split())
    text = relative_paths(text, source_root)
    text = redact(text, item.get("private") or [])
    return text[:2000]
