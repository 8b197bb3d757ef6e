"""The files of one body outline: DICOM SEG, RTSTRUCT, point cloud, label map, montage, and result.json last.

One implementation for `radseg segment --series DIR --body` and for `radseg batch body`, so a series outlined one
at a time and one outlined in an archive batch give the same files. Each file is written atomically (a temporary
name in the same folder, then a rename), and ``result.json`` comes last: a folder with a ``result.json`` is complete,
one without it was interrupted and is redone.
"""
from __future__ import annotations

import pathlib
import time

BODY_NAME = "BODY"
SEGMENT_NAME = "body"
# Every kind of file `write_body_outputs` can write; "result" is always written.
FORMATS = ("seg", "rtstruct", "ply", "labels", "montage")


def body_volume_ml(mask, spacing) -> float:
    """Body volume in mL of a bool mask [slices, rows, cols] with `spacing` (slice, row, col) mm."""
    import numpy as np

    return float(np.count_nonzero(mask)) * float(np.prod(spacing)) / 1000.0


def write_body_outputs(vol, mask, out, model, modality: str, dicom_in: bool, fill_missing_uids: bool,
                       timings: dict, input_path: str, formats=FORMATS, before_result=None) -> dict:
    """Write the body outline's files into the folder `out`; returns {kind: path}. result.json is written last.

    Args:
        vol: the `radseg.dicom.Volume` the mask belongs to. mask: bool [slices, rows, cols] on its grid.
        model: the `BodyModel` that made it (its path and backend are recorded). modality: "CT" or "MR".
        dicom_in: the volume came from DICOM files (SEG and RTSTRUCT need their headers; skipped otherwise, and
            also when the mask is empty: a SEG cannot hold an empty segment).
        fill_missing_uids: generate the UIDs anonymised images lack (see `radseg.dicom.write_seg`).
        timings: milliseconds so far (read, segment, ...), stored in result.json beside the write times.
        input_path: how result.json names the input. formats: a subset of `FORMATS`.
        before_result: called as ``before_result(written)`` ({kind: path}) once the other files are written and
            before result.json; returns more keys for result.json (a batch stores the series there, and its row).
    Raises:
        radseg.errors.InputError: the DICOM outputs cannot be written (e.g. UIDs missing), saying why.
    """
    import numpy as np

    import radseg.dicom as rd
    from radseg._atomic import write_atomic
    from radseg.body.points import outline_points, write_ply
    from radseg.errors import InputError
    from radseg.workflow import describe_input, dumps

    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise ValueError(f"unknown output formats {sorted(unknown)}; known: {FORMATS}")
    out = pathlib.Path(out)
    written, ms = {}, {}

    def timed(key, fn):
        t = time.perf_counter()
        written[key] = str(fn())
        ms[f"write_{key}"] = round((time.perf_counter() - t) * 1e3, 1)

    if dicom_in and mask.any():
        try:
            if "seg" in formats:
                timed("seg", lambda: rd.write_seg(vol, {SEGMENT_NAME: mask}, out / "seg.dcm",
                                                  fill_missing_uids=fill_missing_uids))
            if "rtstruct" in formats:
                timed("rtstruct", lambda: rd.write_rtstruct(vol, {BODY_NAME: mask}, out / "rtstruct.dcm"))
        except (rd.SegError, rd.RtstructError) as exc:
            raise InputError(f"cannot write the DICOM outputs: {exc}",
                             "add --fill-missing-uids when the images lack UIDs") from None
    points = outline_points(vol, mask)
    if "ply" in formats:
        timed("ply", lambda: write_ply(out / "body.ply", points, comment="radseg body outline, LPS mm"))
    if "labels" in formats:
        from radseg.workflow import write_labels

        timed("labels", lambda: write_labels(vol, mask.astype(np.uint8), out / "labels.nii.gz"))
    if "montage" in formats:
        from radseg.montage import make_montage, write_montage

        m = make_montage(np.asarray(vol.array), [mask], names=[SEGMENT_NAME], clicks=[[]], modality=modality)
        timed("montage", lambda: write_montage(out / "montage.png", m))
    doc = {"input": describe_input(vol, input_path), "modality": modality,
           "body": {"volume_ml": round(body_volume_ml(mask, vol.spacing), 1), "voxels": int(mask.sum()),
                    "slices_with_body": int(mask.any(axis=(1, 2)).sum()), "points": int(len(points))},
           "model": {"path": str(model.path), "backend": model.backend},
           "outputs": {k: pathlib.Path(v).name for k, v in written.items()},
           "timings_ms": {**timings, **ms}}
    if before_result is not None:
        doc.update(before_result(dict(written)))
    text = dumps(doc) + "\n"
    written["result"] = str(write_atomic(out / "result.json", lambda tmp: pathlib.Path(tmp).write_text(text),
                                         suffix=".json"))
    return written
