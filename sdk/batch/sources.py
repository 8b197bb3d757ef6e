"""What a batch works through: the image series of a folder tree or of a DICOMweb server, and reading one of them.

A series is a plain dict (a Ray Data row), so it travels between processes and machines as it is:

    {"key": folder name of its outputs, "series_uid", "study_uid", "modality", "files": int,
     "source": "folder" | "dicomweb", "paths": [file paths] (folder) | "url": DICOMweb root (dicomweb),
     "private": [patient name, patient ID] (kept out of logs and error texts, see `redact`)}

Folder listing (`radseg.batch.listing`) reads only headers (pixel data deferred). Only the modalities the job
segments are listed; the listings also return how many series of other modalities (the SEG and RTSTRUCT a batch
stored back, SR, PR, ...) were left out.
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


def redact(text: str, private: Iterable[str]) -> str:
    """`text` with every patient name, name part and ID in `private` replaced by "<redacted>"."""
    for value in private:
        if value:
            text = re.sub(re.escape(value), "<redacted>", text, flags=re.IGNORECASE)
    return text


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

    client = DICOMwebClient(url, session=dicomweb_session(), timeout=timeout)
    # Three tries 0.5 s and 1 s apart (the library's default, five tries up to 16 s apart, holds a worker for half a
    # minute per series while a PACS is down); a series that still fails is recorded and redone by a rerun.
    client.set_http_retry_params(retry=True, max_attempts=3, wait_exponential_multiplier=500)
    return client


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
                           "private": sorted(set(private), key=lambda v: (-len(v), v))})
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
    from .listing import list_folder_series

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
