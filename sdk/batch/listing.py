"""Listing the series of a folder tree: a header scan (here, or spread over a Ray cluster) and one grouping step.

    files = walk_files(root)                          # every file under root (hidden / tool folders skipped)
    records = scan_headers(files)                     # one small tuple per DICOM file; run anywhere, in chunks
    series, left_out = group_records(root, records, ["CT", "MR"])

`list_folder_series` does all three in this process. An archive of millions of files spends most of its listing
time opening files (the DICM marker, then the header), so `radseg.batch.ray_pipeline` hands chunks of
`walk_files` to Ray tasks when there are many, and groups their records in the driver: the same records, the
same grouping, the same series either way.

Grouping: by SeriesInstanceUID; files without one (anonymised) by the folder that holds them, so two UID-less
series in two folders stay two series. A file whose header cannot be read (or that has neither SOP class nor
modality) joins the one series of its folder, or becomes a series of its own, so that the read step reports it
instead of it vanishing. Series of modalities not wanted (the SEG and RTSTRUCT a batch stored, SR, PR, ...) are
counted in `left_out`.
"""
from __future__ import annotations

import os
import re
from collections import defaultdict
from typing import Iterable, Sequence

from .sources import series_key


def _private_values(ds) -> list[str]:
    """Patient name, its parts and IDs of a header, as texts `radseg.batch.sources.redact` removes."""
    out = []
    for keyword in ("PatientName", "PatientID", "OtherPatientIDs", "PatientBirthName"):
        value = ds.get(keyword)
        if value is None:
            continue
        values = value if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue" else [value]
        for v in values:
            text = str(v).strip()
            if len(text) >= 2:
                out.append(text)
                out.extend(part for part in re.split(r"[\^ ]+", text) if len(part) >= 3)
    return sorted(set(out), key=lambda v: (-len(v), v))  # longest first: parts after the whole


def walk_files(root) -> list[str]:
    """Every file under `root`, sorted per folder, without entering the folders a DICOM scan skips."""
    from radseg.dicom._records import skip_folder

    found = []
    for dirpath, dirnames, filenames in os.walk(os.fspath(root)):
        dirnames[:] = [d for d in sorted(dirnames) if not skip_folder(os.path.join(dirpath, d))]
        found.extend(os.path.join(dirpath, name) for name in sorted(filenames))
    return found


def scan_headers(paths: Sequence[str], check_marker: bool = True) -> list[tuple]:
    """One record per DICOM file of `paths` (files without the DICM marker left out when `check_marker`):

    ("image", path, series_uid, study_uid, modality, private) for an image, ("other", path, series_uid, modality)
    for a non-image (SEG, RTSTRUCT, ...), ("unreadable", path) for a file whose header is damaged.
    """
    from radseg.dicom._headers import meta_value
    from radseg.dicom._records import has_dicom_magic, is_image, read_header
    from radseg.dicom.errors import DicomFileError, require

    require("pydicom")
    records = []
    for path in paths:
        if check_marker and not has_dicom_magic(path):
            continue
        try:
            ds = read_header(path)
        except DicomFileError:
            records.append(("unreadable", path))
            continue
        uid = str(ds.get("SeriesInstanceUID", "") or "")
        modality = str(ds.get("Modality", "") or "").upper()
        if is_image(ds):
            records.append(("image", path, uid, str(ds.get("StudyInstanceUID", "") or ""), modality,
                            _private_values(ds)))
        elif not meta_value(ds, "SOPClassUID") and "Modality" not in ds:  # no SOP class, no modality: damaged, not a SEG
            records.append(("unreadable", path))
        else:
            records.append(("other", path, uid, modality or "?"))
    return records


def group_records(root, records: Iterable[tuple], modalities: Iterable[str]) -> tuple[list[dict], dict]:
    """(series sorted by key, {modality: count} left out) from `scan_headers` records (module docstring)."""
    root = os.fspath(root)
    wanted = {m.upper() for m in modalities}
    groups: dict[str, dict] = {}
    unreadable: dict[str, list[str]] = defaultdict(list)
    non_image: dict[str, str] = {}  # {series UID or folder: modality}
    for rec in records:
        kind, path = rec[0], rec[1]
        if kind == "unreadable":
            unreadable[os.path.dirname(path)].append(path)
            continue
        if kind == "other":
            non_image[rec[2] or "folder:" + os.path.dirname(path)] = rec[3]
            continue
        _, _, uid, study, modality, private = rec
        folder = os.path.relpath(os.path.dirname(path), root)
        group_id = uid if uid else "folder:" + folder
        g = groups.get(group_id)
        if g is None:
            g = groups[group_id] = {"key": series_key(uid, "folder:" + folder), "series_uid": uid,
                                    "study_uid": study, "modality": modality, "source": "folder", "paths": [],
                                    "private": list(private)}
        g["paths"].append(path)
    by_folder = defaultdict(list)
    for g in groups.values():
        by_folder[os.path.dirname(g["paths"][0])].append(g)
    for folder, paths in unreadable.items():
        owners = by_folder.get(folder)
        if owners and len(owners) == 1:
            owners[0]["paths"].extend(paths)
        else:
            rel = os.path.relpath(folder, root)
            groups["unreadable:" + rel] = {"key": series_key("", "unreadable:" + rel), "series_uid": "",
                                          "study_uid": "", "modality": "", "source": "folder", "paths": paths,
                                          "private": []}
    series, left_out = [], defaultdict(int)
    for modality in non_image.values():
        left_out[modality] += 1
    for g in groups.values():
        if g["modality"] and g["modality"] not in wanted:
            left_out[g["modality"]] += 1
            continue
        g["files"] = len(g["paths"])
        series.append(g)
    return sorted(series, key=lambda s: s["key"]), dict(left_out)


def no_dicom_error(root):
    """The error for a folder without a single DICOM file."""
    from radseg.dicom.errors import DicomFileError

    return DicomFileError(os.fspath(root), "no DICOM files in this folder")


def list_folder_series(root, modalities: Iterable[str]) -> tuple[list[dict], dict]:
    """The image series under the folder `root`, searched recursively, scanned in this process.

    Returns (series, left_out): series dicts (`radseg.batch.sources`) sorted by key, and {modality: count} of the
    series of other modalities. Raises radseg.dicom.DicomFileError when the folder holds no DICOM file at all.
    """
    from radseg.dicom._records import collect_files

    files, _ignored, _skipped = collect_files(os.fspath(root))  # raises when no file has the DICM marker
    return group_records(root, scan_headers(files, check_marker=False), modalities)
