"""The images `radseg serve` offers: every CT / MR DICOM series and NIfTI volume of one folder, by id.

Ids are the series' folder keys (`radseg.batch.sources.series_key`: the SeriesInstanceUID) for DICOM and
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
    """The images of `folder` (listed once, at start); `volume(id)` -> `radseg.dicom.Volume` (cached)."""

    def __init__(self, folder, cache_bytes: int = 2 << 30):
        from radseg.batch.listing import list_folder_series
        from radseg.dicom.errors import DicomFileError

        self.folder = pathlib.Path(folder).resolve()
        if not self.folder.is_dir():
            raise FileNotFoundError(f"--data {folder}: not a folder")
        self.cache_bytes = int(cache_bytes)
        self.images: dict[str, dict] = {}
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
        self._cache: collections.OrderedDict = collections.OrderedDict()
        self._lock = threading.Lock()

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

        if entry["kind"] == "dicom":
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
        objects = {key: {"image": {"ext": ".dcm" if e["kind"] == "dicom" else ".nii.gz",
                                   "info": {"name": e["name"], "modality": e["modality"]}},
                         "labels": {}} for key, e in self.images.items()}
        return {"name": "radseg", "total": len(objects), "completed": 0, "objects": objects}
