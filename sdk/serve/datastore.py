"""The images `radseg serve` offers: every CT / MR DICOM series and NIfTI volume of one folder, or every CT / MR
series of a DICOMweb server (QIDO-RS listing, WADO-RS retrieval), by id.

Ids are the series' keys (`radseg.batch.sources.series_key`: the SeriesInstanceUID) for DICOM and
"nifti-<sha1>" for NIfTI files; a request names an id, never a path, so nothing outside the folder can be
reached. Volumes load on first use and stay in a cache bounded in bytes (least recently used out first).
"""
from __future__ import annotations

import collections
import hashlib
import os
import pathlib
import threading

MODALITIES = ("CT", "MR")


class Datastore:
    """The images of `folder`, or of the DICOMweb root `dicomweb` (listed once, at start); `volume(id)` ->
    `radseg.dicom.Volume` (cached)."""

    def __init__(self, folder=None, cache_bytes: int = 2 << 30, dicomweb: str = None):
        if (folder is None) == (dicomweb is None):
            raise ValueError("give one of folder or dicomweb")
        self.cache_bytes = int(cache_bytes)
        self.images: dict[str, dict] = {}
        self.dicomweb = dicomweb
        self._cache: collections.OrderedDict = collections.OrderedDict()
        self._lock = threading.Lock()
        if dicomweb is not None:
            self.folder = None
            self._list_dicomweb(dicomweb)
        else:
            self._list_folder(folder)

    def _list_dicomweb(self, url: str) -> None:
        from radseg.batch.sources import list_dicomweb_series

        series, _ = list_dicomweb_series(url, MODALITIES)
        for item in series:
            self.images[item["key"]] = {"kind": "dicomweb", "item": item, "modality": item["modality"],
                                        "name": f"{item['modality']} series {item['series_uid'][-12:]}"}

    def _list_folder(self, folder) -> None:
        from radseg.batch.listing import list_folder_series
        from radseg.dicom.errors import DicomFileError

        self.folder = pathlib.Path(folder).resolve()
        if not self.folder.is_dir():
            raise FileNotFoundError(f"--data {folder}: not a folder")
        try:
            series, _ = list_folder_series(self.folder, MODALITIES)
        except DicomFileError:
            series = []
        for item in series:
            self.images[item["key"]] = {"kind": "dicom", "paths": item["paths"], "modality": item["modality"],
                                        "name": os.path.relpath(os.path.dirname(item["paths"][0]), self.folder)}
        for path in sorted(self.folder.rglob("*.nii*")):
            if path.name.endswith((".nii", ".nii.gz")) and not any(p.startswith(".") for p in path.parts):
                rel = str(path.relative_to(self.folder))
                key = "nifti-" + hashlib.sha1(rel.encode()).hexdigest()[:20]
                self.images[key] = {"kind": "nifti", "paths": [str(path)], "modality": "", "name": rel}

    def __contains__(self, image_id) -> bool:
        return image_id in self.images

    def volume(self, image_id: str):
        """The Volume of `image_id` (KeyError for an unknown id); array [slices, rows, cols], CT in HU."""
        entry = self.images[image_id]
        with self._lock:
            if image_id in self._cache:
                self._cache.move_to_end(image_id)
                return self._cache[image_id]
        import radseg.dicom as rd

        if entry["kind"] == "dicomweb":
            from radseg.batch.sources import read_item

            vol = read_item(entry["item"])
        elif entry["kind"] == "dicom":
            vol = rd.read_series(entry["paths"])
        else:
            vol = rd.read_nifti(entry["paths"][0])
        with self._lock:
            self._cache[image_id] = vol
            while len(self._cache) > 1 and self.cached_bytes() > self.cache_bytes:
                self._cache.popitem(last=False)
        return vol

    def cached_bytes(self) -> int:
        import numpy as np

        return sum(int(np.asarray(v.array).nbytes) for v in self._cache.values())

    def listing(self) -> dict:
        """What MONAI Label's ``GET /datastore/?output=all`` returns: {"total", "completed", "objects"}."""
        objects = {key: {"image": {"ext": ".nii.gz" if e["kind"] == "nifti" else ".dcm",
                                   "info": {"name": e["name"], "modality": e["modality"]}},
                         "labels": {}} for key, e in self.images.items()}
        return {"name": "radseg", "total": len(objects), "completed": 0, "objects": objects}
