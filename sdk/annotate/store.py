"""The annotation dataset: one folder that the annotator (or a scripted rater) writes and the trainer reads.

    DATASET/
      decisions.jsonl      one JSON object per decision, appended, flushed and fsynced before the next picture
      accepted/<id>.npz    per accepted decision: image float32 [rows, cols], mask bool [rows, cols], meta
      .lock                held (flock) by the one writer; a second writer on the same folder is refused

A decision line::

    {"id": "000017", "item": "img-3f9c...", "candidate": "msk-a81e...", "accepted": true, "seconds": 4.21,
     "time": "2025-01-31T10:22:03Z", "names": ["M1(2)", "M1(3)"], "source": "ct.nii.gz", "slice": 40}

``item`` identifies the image (a hash of its pixels, see `radseg.annotate.queue`), ``candidate`` the mask shown
(a hash of its pixels), so a resumed session skips exactly the pairs already decided, wherever the data moved.
When a pair is decided twice the later line wins. The accepted image is written (atomically) before its line,
so a line never points at a missing file; a crash loses at most the decision in progress: a truncated last line
is dropped with a `radseg.RadsegWarning` (and cut off the file when a writer opens it).
"""
from __future__ import annotations

import datetime
import json
import os
import pathlib
import statistics
import warnings
from typing import Iterator, Optional

import numpy as np

from radseg._atomic import write_atomic
from radseg.errors import InputError, OutputError, RadsegWarning

DECISIONS = "decisions.jsonl"
ACCEPTED = "accepted"
LOCK = ".lock"
#: The paper's rater needed about this many seconds per image (seed 000, sec. 3.2); used when nothing is timed yet.
PAPER_SECONDS_PER_DECISION = 5.0


class DatasetLockedError(OutputError):
    """Another process is writing to the same annotation dataset."""


class AnnotationStore:
    """Decisions of a rater on (image, candidate mask) pairs, in `folder` (created).

    Args:
        folder: the dataset folder.
        readonly: read the decisions only (no lock, no folder created, a truncated last line is not cut off); the
            trainer's view while an annotator may still be writing.
    Raises:
        InputError: decisions.jsonl holds a damaged line other than the last one (names the line).
        OutputError: the folder cannot be created or written; DatasetLockedError: another writer holds it.
    """

    def __init__(self, folder, readonly: bool = False):
        self.folder = pathlib.Path(folder)
        self.decisions_path = self.folder / DECISIONS
        self.accepted_dir = self.folder / ACCEPTED
        self.readonly = bool(readonly)
        self._lock_file = None
        self._file = None
        if self.readonly:
            if not self.folder.is_dir():
                raise InputError(f"{folder}: no annotation dataset here (not a folder)",
                                 "give the folder that `radseg annotate --out` wrote")
        else:
            self._open_for_writing()
        self._latest: dict = {}  # (item, candidate) -> record (the later line wins)
        self._count = 0  # lines read or written, also the next id
        for record in _read_lines(self.decisions_path, repair=not self.readonly):
            self._remember(record)

    # ------------------------------------------------------------------------------------------ reading
    def decided(self, item_key: str, candidate_key: str) -> bool:
        """True when the pair (item, candidate) has a decision."""
        return (str(item_key), str(candidate_key)) in self._latest

    def decisions(self) -> list:
        """The latest decision per pair (dicts as in decisions.jsonl), in the order they were made."""
        return sorted(self._latest.values(), key=lambda r: r["id"])

    def __len__(self) -> int:
        return len(self._latest)

    def summary(self, remaining: Optional[int] = None) -> dict:
        """Counts and timing: decisions, accepted, discarded, images, images with an accepted mask, seconds per
        decision (mean, median, total) and the human time they add up to; with `remaining` (pairs still to
        decide) also the estimated time left at the median pace (the paper's 5 s when nothing is timed yet)."""
        records = self.decisions()
        seconds = [float(r["seconds"]) for r in records if r.get("seconds") is not None]
        accepted = [r for r in records if r["accepted"]]
        out = {
            "dataset": str(self.folder),
            "decisions": len(records),
            "accepted": len(accepted),
            "discarded": len(records) - len(accepted),
            "images": len({r["item"] for r in records}),
            "images_with_accepted": len({r["item"] for r in accepted}),
            "seconds_mean": round(statistics.fmean(seconds), 3) if seconds else None,
            "seconds_median": round(statistics.median(seconds), 3) if seconds else None,
            "seconds_total": round(sum(seconds), 3),
            "human_hours": round(sum(seconds) / 3600.0, 4),
        }
        if remaining is not None:
            pace = out["seconds_median"] or PAPER_SECONDS_PER_DECISION
            out["remaining"] = int(remaining)
            out["estimated_hours_left"] = round(int(remaining) * pace / 3600.0, 4)
        return out

    def read_accepted(self) -> Iterator:
        """Yield (image float32 [rows, cols], mask bool [rows, cols], meta dict) per accepted pair; see
        `read_accepted`."""
        for record in self.decisions():
            if record["accepted"]:
                yield _load_accepted(self.accepted_dir, record)

    # ------------------------------------------------------------------------------------------ writing
    def record(self, item_key: str, candidate_key: str, accepted: bool, seconds: float, image=None, mask=None,
               meta: Optional[dict] = None) -> dict:
        """Append one decision and return its record.

        Args:
            item_key, candidate_key: the pair (strings; see `radseg.annotate.queue` for the keys it uses).
            accepted: the rater kept the candidate.
            seconds: time from showing the picture to the key press (>= 0).
            image: float [rows, cols], required when accepted (stored as float32).
            mask: bool [rows, cols] (anything nonzero is foreground), required when accepted.
            meta: JSON-able extras kept in the line and the .npz, e.g. {"names": [...], "source": ..., "slice": k}.
        Raises:
            ValueError: an accepted decision without image/mask, mismatched shapes, negative or non-finite seconds.
            OutputError: the store is read-only or the disk refused the write.
        """
        if self.readonly or self._file is None:
            raise OutputError(f"{self.folder}: this AnnotationStore is read-only or closed",
                              "open it with AnnotationStore(folder) to record decisions")
        seconds = float(seconds)
        if not (np.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"record: seconds must be a finite number >= 0, got {seconds}")
        meta = dict(meta or {})
        record = {"id": f"{self._count:06d}", "item": str(item_key), "candidate": str(candidate_key),
                  "accepted": bool(accepted), "seconds": round(seconds, 4),
                  "time": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
        for key, value in meta.items():
            record.setdefault(key, value)
        line = json.dumps(record, default=_json_default)  # fails before anything is written when meta is not JSON-able
        if accepted:
            if image is None or mask is None:
                raise ValueError("record: an accepted decision needs image and mask (the trainer reads them)")
            image = np.asarray(image, dtype=np.float32)
            mask = np.asarray(mask).astype(bool)
            if image.ndim != 2 or image.shape != mask.shape:
                raise ValueError(f"record: image and mask must be 2D [rows, cols] of one shape, got {image.shape} "
                                 f"and {mask.shape}")
            self._write_npz(record, image, mask)
        try:
            self._file.write(line + "\n")
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as exc:
            raise OutputError(f"{self.decisions_path}: cannot append the decision ({exc.strerror or exc})",
                              "free disk space or check the folder's permissions, then rerun to resume") from exc
        self._remember(record)
        return record

    def close(self) -> None:
        """Close the decisions file and release the writer's lock (also on garbage collection / `with`)."""
        for f in (self._file, self._lock_file):
            if f is not None:
                f.close()
        self._file = self._lock_file = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001  (interpreter shutdown)
            pass

    # ------------------------------------------------------------------------------------------ internals
    def _remember(self, record: dict) -> None:
        self._latest[(record["item"], record["candidate"])] = record
        rid = str(record.get("id", ""))
        self._count = max(self._count, int(rid) + 1) if rid.isdigit() else self._count + 1

    def _open_for_writing(self) -> None:
        try:
            self.accepted_dir.mkdir(parents=True, exist_ok=True)
            self._lock_file = open(self.folder / LOCK, "a+")
        except OSError as exc:
            raise OutputError(f"{self.folder}: cannot create the annotation dataset ({exc.strerror or exc})",
                              "give a folder you can write to") from exc
        try:
            import fcntl

            fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # not POSIX: no lock
            pass
        except OSError:
            self._lock_file.close()
            self._lock_file = None
            raise DatasetLockedError(f"{self.folder}: another annotator is writing to this dataset",
                                     "finish or quit that session first, or give another folder") from None
        # Repair a crash's truncated last line before appending after it (else the next line would join it).
        list(_read_lines(self.decisions_path, repair=True))
        self._file = open(self.decisions_path, "a", encoding="utf-8")

    def _write_npz(self, record: dict, image: np.ndarray, mask: np.ndarray) -> None:
        names = record.get("names") or []
        payload = dict(image=image, mask=mask, names=np.asarray([str(n) for n in names], dtype=str),
                       source=np.asarray(str(record.get("source") or "")),
                       slice=np.asarray(-1 if record.get("slice") is None else int(record["slice"])),
                       item=np.asarray(record["item"]), candidate=np.asarray(record["candidate"]),
                       meta=np.asarray(json.dumps(record, default=_json_default)))

        def write(tmp):
            with open(tmp, "wb") as f:
                np.savez_compressed(f, **payload)
                f.flush()
                os.fsync(f.fileno())

        try:
            write_atomic(self.accepted_dir / f"{record['id']}.npz", write, suffix=".npz")
        except OSError as exc:
            raise OutputError(f"{self.accepted_dir}: cannot write the accepted mask ({exc.strerror or exc})",
                              "free disk space or check the folder's permissions, then rerun to resume") from exc


def read_accepted(folder) -> Iterator:
    """The trainer's view of a dataset: yield (image float32 [rows, cols], mask bool [rows, cols], meta) for every
    pair whose latest decision is "keep", in decision order. `meta` is the decision line (id, item, candidate,
    names, source, slice, seconds, ...). Read-only: safe while an annotator is still writing.

    Raises InputError when `folder` is no dataset or an accepted file is missing or unreadable (names it).
    """
    store = AnnotationStore(folder, readonly=True)
    return store.read_accepted()


def _load_accepted(accepted_dir: pathlib.Path, record: dict):
    path = accepted_dir / f"{record['id']}.npz"
    try:
        with np.load(path, allow_pickle=False) as z:
            image = np.asarray(z["image"], dtype=np.float32)
            mask = np.asarray(z["mask"], dtype=bool)
    except FileNotFoundError:
        raise InputError(f"{path}: missing, though decision {record['id']} accepted it",
                         "restore the file, or delete that line from decisions.jsonl") from None
    except (OSError, ValueError, KeyError, EOFError) as exc:
        raise InputError(f"{path}: unreadable accepted mask ({type(exc).__name__}: {exc})",
                         "delete the file and its line in decisions.jsonl, then annotate that pair again") from None
    return image, mask, dict(record)


def _read_lines(path: pathlib.Path, repair: bool) -> Iterator:
    """Yield the decision dicts of decisions.jsonl; a truncated last line is skipped with a warning and, with
    `repair`, cut off the file. A damaged line elsewhere raises InputError naming it."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise InputError(f"{path}: cannot read the decisions ({exc.strerror or exc})", "check its permissions") from exc
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline
    records = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        records.append(_parse(raw, path, number))
    if tail.strip():
        try:
            records.append(_parse(tail, path, len(lines) + 1))  # whole but unterminated: keep it
            if repair:
                with open(path, "ab") as f:
                    f.write(b"\n")
        except InputError:
            warnings.warn(f"{path}: the last line ({len(tail)} bytes) is truncated, left by an interrupted session; "
                          "that decision is dropped and its pair will be shown again", RadsegWarning, stacklevel=3)
            if repair:
                with open(path, "r+b") as f:
                    f.truncate(len(data) - len(tail))
                    f.flush()
                    os.fsync(f.fileno())
    yield from records


def _parse(raw: bytes, path: pathlib.Path, number: int) -> dict:
    try:
        record = json.loads(raw.decode("utf-8"))
        if not (isinstance(record, dict) and {"item", "candidate", "accepted"} <= set(record)):
            raise ValueError("not a decision object")
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: line {number} is not a decision ({exc})",
                         f"repair or delete line {number}; only a truncated last line is dropped on its own") from None
    return record


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, pathlib.PurePath):
        return str(value)
    raise TypeError(f"record: meta value {value!r} ({type(value).__name__}) is not JSON-able; pass str, numbers, "
                    "lists or dicts")
