"""What a batch works through: the image series of a folder tree or of a DICOMweb server, and reading one of them.

A series is a plain dict (a Ray Data row), so it travels between processes and machines as it is:

    {"key": folder name of its outputs, "series_uid", "study_uid", "modality", "files": int,
     "source": "folder" | "dicomweb", "paths": [file paths] (folder) | "url": DICOMweb root (dicomweb),
     "private": [patient name, patient ID] (kept out of logs and error texts, see `redact`)}

Folder listing reads only headers (pixel data deferred). Files are grouped by SeriesInstanceUID; files without one
(anonymised) are grouped by the folder that holds them, so two UID-less series in two folders stay two series.
Only the modalities the job segments are listed; `list_*` also return how many series of other modalities (the
SEG and RTSTRUCT a batch stored back, SR, PR, ...) were left out.
"""
from __future__ import annotations

import hashlib
import os
import re
from collections import defaultdict
from typing import Iterable, Optional

_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


def series_key(series_uid: str, fallback: str) -> str:
    """A file-system-safe, stable folder name for a series: its UID when it is a valid one, else a hash.

    `fallback` (e.g. the folder that holds a UID-less series) is hashed when the UID is empty or malformed.
    """
    uid = (series_uid or "").strip()
    if _UID.match(uid) and len(uid) <= 64:
        return uid
    return "sha1-" + hashlib.sha1((uid or fallback).encode("utf-8", "replace")).hexdigest()[:24]


def _private_values(ds) -> list[str]:
    """Patient name and ID of a header, as texts to redact (empty ones left out)."""
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
    return sorted(set(out), key=len, reverse=True)


def _sop_class(ds) -> str:
    meta = getattr(ds, "file_meta", None)
    return str(ds.get("SOPClassUID", "") or (meta.get("MediaStorageSOPClassUID", "") if meta is not None else ""))


def redact(text: str, private: Iterable[str]) -> str:
    """`text` with every patient name, name part and ID in `private` replaced by "<redacted>"."""
    for value in private:
        if value:
            text = re.sub(re.escape(value), "<redacted>", text, flags=re.IGNORECASE)
    return text


def list_folder_series(root, modalities: Iterable[str]) -> tuple[list[dict], dict]:
    """The image series under the folder `root`, searched recursively (hidden and tool folders skipped).

    Returns (series, left_out): series dicts (module docstring) sorted by key, and {modality: count} of the series
    of other modalities. Unreadable files are left to the read step, which reports them with their series.
    Raises radseg.dicom.DicomFileError when the folder holds no DICOM file at all.
    """
    from radseg.dicom._records import collect_files, is_image, read_header
    from radseg.dicom.errors import DicomFileError, require

    require("pydicom")
    root = os.fspath(root)
    wanted = {m.upper() for m in modalities}
    files, _ignored, _skipped = collect_files(root)
    groups: dict[str, dict] = {}
    unreadable: dict[str, list[str]] = defaultdict(list)
    non_image: dict[str, str] = {}  # series of SEG, RTSTRUCT, SR, ... files: {series UID or folder: modality}
    for path in files:
        try:
            ds = read_header(path)
        except DicomFileError:
            unreadable[os.path.dirname(path)].append(path)
            continue
        if not is_image(ds):
            if not _sop_class(ds) and "Modality" not in ds:  # no SOP class, no modality: a damaged file, not a SEG
                unreadable[os.path.dirname(path)].append(path)
            else:
                group = str(ds.get("SeriesInstanceUID", "") or "") or "folder:" + os.path.dirname(path)
                non_image[group] = str(ds.get("Modality", "") or "?").upper()
            continue
        uid = str(ds.get("SeriesInstanceUID", "") or "")
        folder = os.path.relpath(os.path.dirname(path), root)
        group_id = uid if uid else "folder:" + folder
        g = groups.get(group_id)
        if g is None:
            g = groups[group_id] = {
                "key": series_key(uid, "folder:" + folder), "series_uid": uid,
                "study_uid": str(ds.get("StudyInstanceUID", "") or ""),
                "modality": str(ds.get("Modality", "") or "").upper(), "source": "folder", "paths": [],
                "private": _private_values(ds)}
        g["paths"].append(path)
    # A file whose header cannot be read joins the series of its folder (or becomes one of its own), so the read
    # step reports it as that series' failure instead of it vanishing from the batch.
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


def dicomweb_session():
    """A requests Session that ignores proxy settings of the environment (a PACS is usually on the LAN)."""
    import requests

    session = requests.Session()
    session.trust_env = False
    return session


def dicomweb_client(url: str, timeout: float = 120.0):
    """A `dicomweb_client.DICOMwebClient` for the DICOMweb root `url`."""
    from radseg.dicom.errors import require

    require("dicomweb_client")
    from dicomweb_client import DICOMwebClient

    return DICOMwebClient(url, session=dicomweb_session(), timeout=timeout)


def list_dicomweb_series(url: str, modalities: Iterable[str], page: int = 500) -> tuple[list[dict], dict]:
    """The series on a DICOMweb server (QIDO-RS ``/series``, paged), as `list_folder_series` returns them."""
    client = dicomweb_client(url)
    wanted = {m.upper() for m in modalities}
    series, left_out, offset = [], defaultdict(int), 0
    fields = ["StudyInstanceUID", "SeriesInstanceUID", "Modality", "NumberOfSeriesRelatedInstances", "PatientID",
              "PatientName"]
    while True:
        found = client.search_for_series(fields=fields, limit=page, offset=offset)
        for item in found:
            uid = _qido_value(item, "0020000E")
            modality = _qido_value(item, "00080060").upper()
            if modality not in wanted:
                left_out[modality or "?"] += 1
                continue
            private = [v for v in (_qido_value(item, "00100020"), _qido_value(item, "00100010")) if len(v) >= 2]
            series.append({"key": series_key(uid, uid), "series_uid": uid,
                           "study_uid": _qido_value(item, "0020000D"), "modality": modality,
                           "files": int(_qido_value(item, "00201209") or 0), "source": "dicomweb", "url": url,
                           "private": sorted(set(private), key=len, reverse=True)})
        if len(found) < page:
            break
        offset += len(found)
    return sorted(series, key=lambda s: s["key"]), dict(left_out)


def _qido_value(item: dict, tag: str) -> str:
    """The first value of `tag` in a QIDO-RS JSON result ("" when absent); person names as their alphabetic form."""
    values = (item.get(tag) or {}).get("Value") or [""]
    v = values[0]
    if isinstance(v, dict):
        v = v.get("Alphabetic", "")
    return str(v)


def list_series_source(source: str, modalities: Iterable[str]) -> tuple[list[dict], dict]:
    """`list_dicomweb_series` for an http(s) URL, else `list_folder_series`."""
    if is_url(source):
        return list_dicomweb_series(source, modalities)
    return list_folder_series(source, modalities)


def is_url(source) -> bool:
    return isinstance(source, str) and source.lower().startswith(("http://", "https://"))


def read_item(item: dict):
    """Read the series `item` describes into a `radseg.dicom.Volume` (pixels decoded, HU for CT).

    Raises whatever `radseg.dicom.read_series` raises for a bad series (DicomError and subclasses), and
    requests' errors for a DICOMweb server that does not answer.
    """
    import radseg.dicom as rd

    if item["source"] == "dicomweb":
        # Accept the stored transfer syntax ("*"): the default asks for Explicit VR Little Endian, which makes the
        # PACS transcode, and Orthanc cannot transcode JPEG 2000, for one (HTTP 500); radseg decodes them itself.
        datasets = dicomweb_client(item["url"]).retrieve_series(item["study_uid"], item["series_uid"],
                                                                media_types=(("application/dicom", "*"),))
        return rd.read_series(datasets)
    return rd.read_series(item["paths"])


def relative_paths(text: str, root: Optional[str]) -> str:
    """`text` with the absolute `root` folder shortened to "<source>" (error texts name files under it)."""
    if root:
        text = text.replace(os.path.abspath(os.fspath(root)).rstrip(os.sep) + os.sep, "<source>/")
    return text
