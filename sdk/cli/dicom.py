"""`radseg dicom`: look at DICOM series and convert them.

    radseg dicom info PATH [--series UID] [--json]     # series found, then the chosen volume's geometry
    radseg dicom to-nifti PATH OUT.nii.gz [--series UID]

Needs the ``dicom`` extra. PATH is a folder (searched recursively) or a file. Exit codes: 0 ok, 1 the data cannot be
read (the message names the file and the problem), 2 usage, 3 missing optional package.
"""
from __future__ import annotations

import json
import sys


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
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


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


def _fail(exc) -> int:
    print(f"radseg dicom: {exc}", file=sys.stderr)
    return 1


def run_info(args) -> int:
    import warnings

    import radseg.dicom as rd

    try:
        series = rd.list_series(args.path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rd.DicomGeometryWarning)  # reported in "warnings"
            vol = rd.read_series(args.path, series_uid=args.series, uneven=args.uneven)
    except rd.MultipleSeriesError as exc:
        vol, error = None, str(exc)
    except (rd.DicomError, FileNotFoundError) as exc:
        return _fail(exc)
    else:
        error = None
    out = {"series": series, "volume": describe(vol) if vol is not None else None}
    if error:
        out["error"] = error
    if args.json:
        print(json.dumps(out, indent=2, default=str))
    else:
        for s in series:
            print(f"series {s['series_uid'] or '(no UID)'}: {s['modality']} {s['files']} files {s['description']!r}")
        if vol is None:
            print(error)
        else:
            d = describe(vol)
            print(f"volume {d['shape']} {d['dtype']} spacing {d['spacing_mm']} mm (slice, row, col)")
            print(f"origin {d['origin_lps_mm']} mm LPS; tilt {d['tilt_deg']} deg; regular {d['regular']}")
            for w in d["warnings"]:
                print(f"warning: {w}")
    return 0 if vol is not None else 1


def run_to_nifti(args) -> int:
    import radseg.dicom as rd

    try:
        vol = rd.read_series(args.path, series_uid=args.series)
        rd.write_nifti(vol, args.out)
    except (rd.DicomError, FileNotFoundError) as exc:
        return _fail(exc)
    print(f"wrote {args.out}: {vol.shape} [slices, rows, cols] -> NIfTI (col, row, slice)")
    return 0
