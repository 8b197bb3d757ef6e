"""`radseg dicom`: look at DICOM series and convert them.

    radseg dicom info PATH [--series UID] [--json]     # series found, then the chosen volume's geometry
    radseg dicom to-nifti PATH OUT.nii.gz [--series UID]

Needs the ``dicom`` extra. PATH is a folder (searched recursively; hidden folders and Python virtual environments
are skipped) or a file. Exit codes: 0 ok, 1 the data cannot be read (the message names the file and the problem),
2 usage, 3 missing optional package.
"""
from __future__ import annotations

import json


def register(sub) -> None:
    import argparse

    p = sub.add_parser("dicom", help="inspect DICOM series (geometry, series list) and convert them to NIfTI",
                       description=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="dicom_command", metavar="ACTION")
    info = actions.add_parser("info", help="list the series in PATH and describe one volume")
    info.add_argument("path", help="folder or file")
    info.add_argument("--series", default=None, metavar="UID", help="SeriesInstanceUID when PATH holds several")
    info.add_argument("--uneven", choices=["error", "allow"], default="error", help="missing/uneven slices (error)")
    info.add_argument("--json", action="store_true", help="print JSON instead of text")
    info.set_defaults(func=run_info)
    conv = actions.add_parser("to-nifti", help="write a series as NIfTI (dcm2niix layout, RAS affine)")
    conv.add_argument("path", help="folder or file")
    conv.add_argument("out", help="output .nii or .nii.gz")
    conv.add_argument("--series", default=None, metavar="UID", help="SeriesInstanceUID when PATH holds several")
    conv.set_defaults(func=run_to_nifti)
    from radseg.cli._common import requires_action

    p.set_defaults(func=requires_action(p))


def describe(vol) -> dict:
    """A JSON-able summary of a Volume's geometry (LPS mm; arrays [slices, rows, cols])."""
    import numpy as np

    arr = vol.array
    return {
        "shape": list(vol.shape), "dtype": str(arr.dtype), "modality": vol.modality,
        "spacing_mm": [round(s, 6) for s in vol.spacing], "origin_lps_mm": np.round(vol.origin, 4).tolist(),
        "direction_columns_slice_row_col": np.round(vol.direction, 6).T.tolist(),
        "regular": vol.is_regular, "tilt_deg": round(vol.tilt_deg, 4),
        "value_range": [float(arr.min()), float(arr.max())] if arr.size else None,
        "series_instance_uid": vol.series_instance_uid, "frame_of_reference_uid": vol.frame_of_reference_uid,
        "files": len(set(vol.files)), "warnings": list(vol.warnings),
    }


def _series_error(exc, path):
    """MultipleSeriesError / SeriesError said in terms of the command line (--series, --uneven)."""
    import radseg.dicom as rd
    from radseg.errors import InputError

    if isinstance(exc, rd.MultipleSeriesError):
        uids = ", ".join(s["series_uid"] or "(no UID)" for s in exc.series)
        return InputError(f"{path} holds {len(exc.series)} image series ({uids})", "choose one with --series UID")
    text = str(exc).replace("Pass uneven='allow' to read it anyway", "Add --uneven allow to read it anyway")
    text = text.replace("series_uid ", "--series ")
    return InputError(text)


def run_info(args) -> int:
    import warnings

    import radseg.dicom as rd
    from radseg.cli._common import input_path

    input_path(args.path, "PATH", kind="path")
    series = rd.list_series(args.path)
    error = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rd.DicomGeometryWarning)  # reported in "warnings"
            vol = rd.read_series(args.path, series_uid=args.series, uneven=args.uneven)
    except rd.SeriesError as exc:
        if not series:
            raise _series_error(exc, args.path) from exc
        vol, error = None, _series_error(exc, args.path)
    out = {"series": series, "volume": describe(vol) if vol is not None else None}
    if error:
        out["error"] = str(error)
    if args.json:
        print(json.dumps(out, indent=2, default=str))
    else:
        for s in series:
            print(f"series {s['series_uid'] or '(no UID)'}: {s['modality']} {s['files']} files {s['description']!r}")
        if vol is not None:
            d = describe(vol)
            print(f"volume {d['shape']} {d['dtype']} spacing {d['spacing_mm']} mm (slice, row, col)")
            print(f"origin {d['origin_lps_mm']} mm LPS; tilt {d['tilt_deg']} deg; regular {d['regular']}")
            for w in d["warnings"]:
                print(f"note: {w}")
    if error:
        raise error
    return 0


def run_to_nifti(args) -> int:
    import radseg.dicom as rd
    from radseg.cli._common import input_path, output_file

    input_path(args.path, "PATH", kind="path")
    output_file(args.out, "OUT", suffixes=(".nii", ".nii.gz"))
    try:
        vol = rd.read_series(args.path, series_uid=args.series)
    except rd.SeriesError as exc:
        raise _series_error(exc, args.path) from exc
    rd.write_nifti(vol, args.out)
    print(f"wrote {args.out}: {vol.shape} [slices, rows, cols] -> NIfTI (col, row, slice)")
    return 0
