"""`radseg body`: the body outline of a series.

    radseg body points SERIES --out body.ply [--mask MASK [--roi NAME]] [--model body] [--series-uid UID]

`points` writes the outline pixels of every slice (foreground pixels with a 4-neighbour in the background or at
the image edge) as a PLY point cloud in patient coordinates (DICOM LPS, mm), through the series' own geometry
(pixel spacing, slice positions, oblique orientation). The outline is MASK when given: a NIfTI on the series'
grid (nonzero = body), or a DICOM SEG or RTSTRUCT of the series (the structure named by --roi; by default the only
one, or the one named BODY or EXTERNAL). Without --mask the body model segments the series. Needs the ``dicom``
extra; segmenting also the ``cpu`` extra.
"""
from __future__ import annotations

_BODY_NAMES = ("body", "external")


def register(sub) -> None:
    import argparse

    p = sub.add_parser("body", help="the body's outline points in patient coordinates, as PLY",
                       description=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="body_command", metavar="ACTION")
    pts = actions.add_parser("points", help="write the body outline of every slice as a PLY point cloud (LPS mm)")
    pts.add_argument("series", metavar="SERIES", help="DICOM series: a folder or one of its files")
    pts.add_argument("--out", required=True, metavar="PLY", help="the point cloud to write (.ply)")
    pts.add_argument("--mask", default=None, metavar="MASK",
                     help="the outline to use: NIfTI on the series' grid, or a DICOM SEG / RTSTRUCT of the series "
                          "(default: segment with --model)")
    pts.add_argument("--roi", default=None, metavar="NAME",
                     help="the segment (SEG) or ROI (RTSTRUCT) of --mask to use (default: the only one, or BODY / "
                          "EXTERNAL)")
    pts.add_argument("--model", default="body", help="body model, bundled name or folder, used without --mask "
                                                     "(default: body)")
    pts.add_argument("--series-uid", default=None, metavar="UID", help="SeriesInstanceUID when SERIES holds several")
    pts.set_defaults(func=run_points)
    from radseg.cli._common import requires_action

    p.set_defaults(func=requires_action(p))


def run_points(args) -> int:
    import warnings

    import numpy as np

    from radseg.body.points import outline_points, write_ply
    from radseg.cli._common import input_path, output_file
    from radseg.errors import RadsegWarning, UsageError

    input_path(args.series, "SERIES", kind="path")
    if args.mask is not None:
        input_path(args.mask, "--mask", kind="file")
    elif args.roi is not None:
        raise UsageError("--roi chooses a structure of --mask", "give --mask too, or leave out --roi")
    out = output_file(args.out, "--out", suffixes=(".ply",))
    volume = _read_series(args.series, args.series_uid)
    mask = _mask_from_file(args.mask, args.roi, volume) if args.mask else _segment(args.model, volume)
    points = outline_points(volume, mask)
    slices = int(np.count_nonzero(mask.reshape(mask.shape[0], -1).any(axis=1)))
    if not slices:
        warnings.warn("the body mask is empty on every slice: the point cloud has no points", RadsegWarning)
    source = f"series {volume.series_instance_uid or '(no UID)'}; outline from " + (
        f"mask {args.mask}" if args.mask else f"model {args.model}")
    write_ply(out, points, comment=source if source.isascii() else None)  # PLY headers are ASCII
    print(f"wrote {out}: {len(points)} outline points on {slices} of {volume.shape[0]} slices "
          "(DICOM LPS, mm)")
    return 0


def _read_series(path, series_uid):
    """read_series, with its series errors said in terms of SERIES and --series-uid."""
    import radseg.dicom as rd
    from radseg.errors import InputError

    try:
        return rd.read_series(path, series_uid=series_uid)
    except rd.MultipleSeriesError as exc:
        uids = ", ".join(s["series_uid"] or "(no UID)" for s in exc.series)
        raise InputError(f"SERIES {path} holds {len(exc.series)} image series ({uids})",
                         "choose one with --series-uid UID") from exc
    except rd.SeriesError as exc:
        raise InputError(f"SERIES {path}: {exc}".replace("series_uid ", "--series-uid ")) from exc


def _mask_from_file(path, roi, volume):
    """bool [slices, rows, cols] on `volume`'s grid from a NIfTI, DICOM SEG or RTSTRUCT file."""
    import radseg.dicom as rd
    from radseg.errors import InputError, UsageError

    name = str(path).lower()
    try:
        if name.endswith((".nii", ".nii.gz")):
            if roi is not None:
                raise UsageError("--roi chooses a structure of a SEG or RTSTRUCT", "leave it out for a NIfTI mask")
            return rd.read_nifti_onto(path, volume) != 0
        kind = _dicom_kind(path)
        if kind == "SEG":
            masks = rd.read_seg(path, volume)
        elif kind == "RTSTRUCT":
            masks = rd.read_rtstruct(path, volume)
        else:
            raise InputError(f"--mask {path}: a DICOM {kind or 'file without a Modality'}, not a SEG or RTSTRUCT",
                             "give a NIfTI mask (.nii, .nii.gz), a DICOM SEG or an RTSTRUCT of the series")
    except rd.DicomError as exc:
        text = str(exc)
        text = text[len(f"{path}: "):] if text.startswith(f"{path}: ") else text
        # The library's way out of a frame-of-reference mismatch is a Python keyword; here the fix is the file.
        text = text.replace("; give it the series it was drawn on, or pass check_frame_of_reference=False if the two "
                            "are known to share patient coordinates", "; give --mask the RTSTRUCT or SEG of SERIES")
        raise InputError(f"--mask {path}: {text}") from exc
    return _choose(masks, roi, path)


def _dicom_kind(path) -> str:
    """The Modality of a DICOM file ('' when it has none); InputError when it is not DICOM."""
    from radseg.dicom.errors import require
    from radseg.errors import InputError

    pydicom = require("pydicom")
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["Modality"])
    except (pydicom.errors.InvalidDicomError, EOFError, ValueError) as exc:
        raise InputError(f"--mask {path}: neither NIfTI (.nii, .nii.gz) nor DICOM ({exc})",
                         "give a NIfTI mask, a DICOM SEG or an RTSTRUCT of the series") from exc
    return str(ds.get("Modality", "") or "").strip().upper()


def _choose(masks: dict, roi, path):
    from radseg.errors import InputError, UsageError

    names = list(masks)
    if roi is not None:
        if roi not in masks:
            raise UsageError(f"--roi {roi}: --mask {path} has no structure of that name ({', '.join(names)})",
                             "give one of those names to --roi")
        return masks[roi]
    if len(names) == 1:
        return masks[names[0]]
    body = [n for n in names if n.strip().lower() in _BODY_NAMES]
    if len(body) == 1:
        return masks[body[0]]
    if not names:
        raise InputError(f"--mask {path}: holds no structure", "give a mask file with the body outline in it")
    raise UsageError(f"--mask {path} holds {len(names)} structures ({', '.join(names)}) and none is named BODY or "
                     "EXTERNAL", "choose one with --roi NAME")


def _segment(model_name, volume):
    """The body model's mask of every slice: bool [slices, rows, cols]."""
    import numpy as np

    from radseg.cli._common import load_model
    from radseg.errors import InputError

    model = load_model(model_name)
    if getattr(model, "task", None) != "body" or not callable(getattr(model, "segment", None)):
        raise InputError(f"--model {model_name}: a {getattr(model, 'task', '?')} model, not a body model",
                         "give --model body or a folder exported from a body checkpoint")
    modality = volume.modality.upper() if volume.modality.upper() in ("CT", "MR") else None
    mask = np.asarray(model.segment(volume.array, spacing=volume.spacing, modality=modality), dtype=bool)
    if mask.shape != volume.shape:
        raise InputError(f"--model {model_name}: returned a mask of shape {mask.shape} for a volume of "
                         f"{volume.shape}", "check the model folder")
    return mask
