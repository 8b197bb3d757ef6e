"""`radseg bench`: time radseg's native geometry against the libraries a user would otherwise pick.

Needs the `bench` extra (``pip install 'radseg[bench]'``). Prints one table per case (medians, ratios from the same
run, how each library's output differs from radseg's) and the "must reach" bars with PASS/MISS; ``--json PATH``
writes everything (every sample, versions, thread count, data source) for machines.
"""
from __future__ import annotations

import sys

DESCRIPTION = """Cases (select with --only, by key or group):
  edt2d        exact EDT 2D 512x512 vs cv2 DIST_MASK_PRECISE, scipy, edt
  edt3d-small  exact EDT 3D 128x256x256 anisotropic vs edt, scipy
  edt3d-large  exact EDT 3D 128x512x512 anisotropic vs edt, scipy
  closing2d    binary closing, disk r=21, 512x512 vs cv2.morphologyEx, scipy, skimage
  closing3d    binary closing, ball r=5 mm, 128x256x256 anisotropic vs scipy (no bar)
  fill2d       fill holes 2D 512x512 vs cv2.floodFill recipe, scipy, fill_voids
  fill3d       fill holes 3D 128x512x512 vs fill_voids, scipy
  surface2d    HD + HD95 + mean surface distance 512x512 vs surface-distance, MONAI (values printed too)
  surface3d    same, 128x256x256 anisotropic
  dice3d       Dice 128x512x512 vs numpy, MONAI
groups: edt, edt3d, closing, fill, surface, dice.
Masks: real BTCV organ labels from shared/data when found (--data), otherwise SYNTHETIC organ-like masks (labelled)."""


def register(sub) -> None:
    import argparse

    p = sub.add_parser("bench", help="benchmark native geometry and metrics against scipy, OpenCV, edt, MONAI, ...",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    from radseg.cli._common import positive_float, positive_int

    p.add_argument("--repeat", type=positive_int, default=7, help="timed calls per contender at most; median reported (7)")
    p.add_argument("--threads", default="all", help="1, 2, ... or 'all': thread limit for every library (all)")
    p.add_argument("--only", default=None, help="comma-separated case keys or groups, e.g. edt,closing (all)")
    p.add_argument("--quick", action="store_true",
                   help="skip contenders that take seconds per call and use a 0.5 s budget (CI-ish runs)")
    p.add_argument("--json", dest="json_path", default=None, metavar="PATH", help="also write the full result as JSON")
    p.add_argument("--markdown", default=None, metavar="PATH", help="also write the tables as Markdown")
    p.add_argument("--data", default=None, metavar="DIR", help="folder holding btcv_sabs_ct/ (default: ../shared/data)")
    p.add_argument("--synthetic", action="store_true", help="use synthetic organ-like masks even if real data exists")
    p.add_argument("--case", default="sabs_00", help="BTCV case id, sabs_00 .. sabs_29 (sabs_00)")
    p.add_argument("--size", default="full", choices=["full", "tiny"], help="tiny: small shapes for smoke tests")
    p.add_argument("--budget", type=positive_float, default=None, metavar="S",
                   help="seconds of timed calls per contender and case (2, or 0.5 with --quick)")
    p.add_argument("--check", action="store_true", help="exit with status 1 when a measured bar is MISS")
    p.set_defaults(func=run)


def run(args) -> int:
    import pathlib

    from radseg._atomic import write_atomic
    from radseg.bench import report, run_benchmark
    from radseg.cli._common import output_file
    from radseg.errors import RadsegError, UsageError

    for flag, path in (("--json", args.json_path), ("--markdown", args.markdown)):
        if path:
            output_file(path, flag)  # before minutes of timing, not after
    try:
        result = run_benchmark(threads=args.threads, repeat=args.repeat, only=args.only, quick=args.quick,
                               size=args.size, data=args.data, case=args.case, budget_s=args.budget,
                               synthetic=args.synthetic,
                               progress=lambda msg: print(f"[bench] {msg}", file=sys.stderr, flush=True))
    except ValueError as exc:
        raise UsageError(str(exc), "see 'radseg bench --help'") from exc
    sys.stdout.write(report.to_text(result))
    for path, text in ((args.json_path, report.to_json), (args.markdown, report.to_markdown)):
        if path:
            body = text(result)
            write_atomic(path, lambda tmp: pathlib.Path(tmp).write_text(body, encoding="utf-8"))
    missed = [f"{c['key']}: {b['bar']}" for c in result["cases"] for b in c["bars"] if b["verdict"] == "MISS"]
    if args.check and missed:
        raise RadsegError(f"{len(missed)} bar(s) missed: " + "; ".join(missed), "see the table above")
    return 0
