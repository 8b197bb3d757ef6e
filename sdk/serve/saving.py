"""Saving a viewer session's result: a DICOM SEG of the structure (and the body outline, when made) written under
the server's output folder and, when asked, stored to the PACS the series came from (STOW-RS).

    out = save_seg(editing, "liver", "labels/", image_id, stow_url=None)
    out["path"]         # labels/<image id>/seg-20261202-211500-123.dcm
    out["series_uid"]   # the SEG's SeriesInstanceUID
"""
from __future__ import annotations

import os
import pathlib
import time
from typing import Optional


class SaveError(RuntimeError):
    """The result cannot be saved (nothing segmented, an image without DICOM sources, a PACS that refused)."""

    def __init__(self, message: str, status: int = 409):
        super().__init__(message)
        self.status = status


def save_seg(editing, name: str, out_dir, image_id: str, stow_url: Optional[str] = None) -> dict:
    """Write `editing`'s masks as one SEG (segment `name` for the structure, "body" for the outline) under
    `out_dir`/`image_id`/; with `stow_url`, store it there too. Returns {"path", "file", "series_uid",
    "segments", "stored"}; raises SaveError (status 409 / 502) when it cannot."""
    import pydicom

    import radseg.dicom as rd
    from radseg.dicom.errors import DicomError

    masks = editing.masks()
    if not masks:
        raise SaveError("nothing to save yet: click on a structure (or outline the body) first")
    name = name.strip()
    if not name or name.lower() == "body":
        raise SaveError(f"the structure's name {name!r} cannot be used: give it a name other than 'body'", 422)
    if "structure" in masks:
        masks = {name: masks["structure"], **{k: v for k, v in masks.items() if k != "structure"}}
    if not editing.volume.source_headers:
        raise SaveError("this image was read from NIfTI: a DICOM SEG must reference DICOM images; open a DICOM "
                        "series to save a SEG")
    folder = pathlib.Path(out_dir) / image_id
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S") + f"-{time.time_ns() // 1_000_000 % 1000:03d}"
    path = folder / f"seg-{stamp}.dcm"
    try:
        rd.write_seg(editing.volume, masks, path, series_description="radseg serve")
    except DicomError as exc:
        raise SaveError(f"the SEG cannot be written: {exc}") from exc
    stored = False
    if stow_url is not None:
        from radseg.batch.jobs import stow

        try:
            stow(stow_url, [path])
        except Exception as exc:  # requests' errors, an HTTP error from the PACS: the file stays written
            raise SaveError(f"the PACS did not store the SEG ({type(exc).__name__}: {exc}); it is saved as "
                            f"{os.path.relpath(path, out_dir)} under the server's output folder", 502) from exc
        stored = True
    uid = str(pydicom.dcmread(path, stop_before_pixels=True).SeriesInstanceUID)
    return {"path": str(path), "file": os.path.relpath(path, out_dir), "series_uid": uid,
            "segments": list(masks), "stored": stored}
