"""`radseg batch`: an automatic model over every CT and MR series of a folder tree or a DICOMweb server, on Ray.

    radseg batch body --source FOLDER_OR_DICOMWEB_URL --out OUT [--address RAY_ADDRESS] [--workers N] [--stow]

Series are segmented by a pool of Ray actors that each load the model once, and read in Ray tasks ahead of them
(DICOMweb: retrieves overlap the work) or by the actors (folders; --read-stage); a local Ray instance on this
machine's cores unless --address names a cluster (radseg installed on every node, --source folder and --out on
storage every node sees). Per series
OUT/series/<SeriesInstanceUID>/ holds seg.dcm (DICOM SEG), rtstruct.dcm (BODY as EXTERNAL), body.ply (outline
points, LPS mm), montage.png and result.json, each written atomically, result.json last; OUT/summary.csv and
summary.parquet hold one row per series (UID, modality, slices, body mL, seconds, status, error).

A series that cannot be read or segmented is recorded as failed with its cause and the batch goes on; a worker
that dies has its series retried on another; a rerun of the same command skips the series already done (and
those that failed, unless --retry-failed). --stow stores seg.dcm and rtstruct.dcm back to the DICOMweb server of
--source (STOW-RS). Errors and logs name series by UID, never by patient. --engine loop does the same work in a
plain loop in this process, without Ray; --list only says what a run would do.

Exit codes: 0 every series done; 1 some failed (summary.csv says which and why) or the batch could not run.
"""
from __future__ import annotations

import sys


def register(sub) -> None:
    import argparse

    from radseg.cli._common import positive_int, requires_action

    p = sub.add_parser("batch", help="segment every series of a folder or a PACS (DICOMweb), on Ray",
                       description=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    jobs = p.add_subparsers(dest="batch_job", metavar="JOB")
    body = jobs.add_parser("body", help="the body outline of every CT and MR series: SEG, RTSTRUCT, point cloud")
    body.add_argument("--source", required=True, metavar="FOLDER_OR_URL",
                      help="a folder tree of DICOM files, or a DICOMweb root (http://host:8042/dicom-web)")
    body.add_argument("--out", required=True, metavar="OUT", help="output folder (a rerun into it resumes)")
    body.add_argument("--address", default=None, metavar="RAY_ADDRESS",
                      help="Ray cluster to run on (its head's host:6379, or 'auto' for the one `ray start` began "
                           "here); default: a local instance on this machine's cores")
    body.add_argument("--workers", type=positive_int, default=None, metavar="N",
                      help="segmenting actors (default: one per CPU of the cluster); each runs the model on one "
                           "thread")
    body.add_argument("--stow", action="store_true",
                      help="store seg.dcm and rtstruct.dcm back to the DICOMweb server of --source (STOW-RS)")
    body.add_argument("--retry-failed", action="store_true", help="redo the series a previous run recorded as failed")
    body.add_argument("--fill-missing-uids", action="store_true",
                      help="generate the UIDs anonymised series lack (else such series fail, saying so)")
    body.add_argument("--model", default="body", help="body model, bundled name or exported folder (default: body)")
    body.add_argument("--backend", default=None, help="inference backend (default: the best available)")
    body.add_argument("--read-stage", choices=("auto", "tasks", "actor"), default="auto",
                      help="where series are read: tasks (Ray tasks ahead of the actors), actor (by the segmenting "
                           "actors), auto (default: tasks for DICOMweb, actor for a folder)")
    body.add_argument("--engine", choices=("ray", "loop"), default="ray",
                      help="ray (default) or loop: the same work one series after another in this process")
    body.add_argument("--list", action="store_true",
                      help="only list the series and what a run would do with each (to do, done, failed), "
                           "without Ray and without writing anything")
    body.add_argument("--json", action="store_true", help="print the run's report (or --list's rows) as JSON")
    body.set_defaults(func=run_body)
    p.set_defaults(func=requires_action(p, "a job"))


def run_body(args) -> int:
    import json
    import os

    from radseg.batch.jobs import BodyJob
    from radseg.batch.sources import is_url
    from radseg.cli._common import output_dir
    from radseg.errors import EXIT_FAILURE, EXIT_OK, InputError, UsageError

    if args.stow and not is_url(args.source):
        raise UsageError("--stow stores back to the DICOMweb server the series came from",
                         "give an http(s):// DICOMweb root as --source, or leave out --stow")
    if args.engine == "loop" and (args.address or args.workers):
        raise UsageError("--address and --workers are for --engine ray", "leave them out with --engine loop")
    if not is_url(args.source) and not os.path.isdir(args.source):
        raise InputError(f"--source {args.source}: not a folder", "give a folder of DICOM files or an http(s):// "
                                                                  "DICOMweb root")
    if args.list:
        return _list(args)
    out = output_dir(args.out)
    job = BodyJob(out=str(out), model=args.model, backend=args.backend, threads=1 if args.engine == "ray" else None,
                  fill_missing_uids=args.fill_missing_uids, stow_url=args.source if args.stow else None,
                  source_root=None if is_url(args.source) else os.path.abspath(args.source))
    import contextlib

    # Ray prints its notices (a worker died and is retried, ...) on stdout from background threads; stdout carries
    # only the report (--json output stays parseable), so they go to stderr while the batch runs.
    with contextlib.redirect_stdout(sys.stderr):
        report = _run(args, job)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        _print_report(args, report)
    failed = [r for r in report.rows if r.get("status") == "failed"]
    _print_failures(failed)
    return EXIT_FAILURE if failed else EXIT_OK


def _list(args) -> int:
    """--list: each series of --source with its status in --out (todo / done / failed), nothing written."""
    import json
    import os

    from radseg.batch.jobs import BodyJob
    from radseg.batch.records import base_row
    from radseg.batch.runner import plan_batch
    from radseg.dicom.errors import DicomFileError
    from radseg.errors import EXIT_OK, InputError

    job = BodyJob(out=os.path.abspath(args.out), model=args.model, backend=args.backend)
    try:
        plan = plan_batch(args.source, job, job.start().modalities, args.retry_failed)
    except DicomFileError as exc:
        raise InputError(f"--source {args.source}: {exc}", "give a folder that holds DICOM files") from None
    rows, todo = [], {item["key"] for item in plan.todo}
    for item in plan.items:
        row = plan.finished.get(item["key"]) or base_row(item)
        rows.append({"series_uid": item["series_uid"], "modality": item["modality"], "files": item.get("files"),
                     "status": "todo" if item["key"] in todo else row["status"], "output": f"series/{item['key']}"})
    if args.json:
        print(json.dumps({"series": rows, "left_out": plan.left_out}, indent=2))
        return EXIT_OK
    for row in rows:
        print(f"{row['status']:<7} {row['modality'] or '?':<3} {row['files'] or 0:>6} files  "
              f"{row['series_uid'] or row['output']}")
    counts = {k: sum(r["status"] == k for r in rows) for k in ("todo", "done", "failed")}
    left = "".join(f", {n} {m} left out" for m, n in sorted(plan.left_out.items()))
    print(f"{len(rows)} series: {counts['todo']} to do, {counts['done']} done, {counts['failed']} failed{left}")
    return EXIT_OK


def _run(args, job):
    from radseg.dicom.errors import DicomFileError
    from radseg.errors import InputError

    try:
        if args.engine == "loop":
            from radseg.batch.runner import run_loop

            return run_loop(args.source, job, retry_failed=args.retry_failed)
        from radseg.batch.ray_pipeline import run_ray

        return run_ray(args.source, job, address=args.address, workers=args.workers, retry_failed=args.retry_failed,
                       read_stage=args.read_stage)
    except DicomFileError as exc:
        raise InputError(f"--source {args.source}: {exc}", "give a folder that holds DICOM files") from None
    except ConnectionError as exc:
        raise InputError(f"cannot reach the Ray cluster or DICOMweb server: {exc}",
                         "check --address / --source and that the service is running") from None


def _print_report(args, report) -> None:
    left = "".join(f", {n} {m} series left out" for m, n in sorted(report.left_out.items()))
    print(f"{args.source}: {report.listed} series{left}; {report.already_done} done before, {report.done} done now, "
          f"{report.failed} failed now ({report.lost} lost) in {report.seconds:.1f} s on {report.engine} "
          f"({report.workers} workers, {report.series_per_minute:.1f} series/min)")
    print("  wrote " + ", ".join(report.summary))


def _print_failures(failed: list) -> None:
    """The first failures with their causes, on stderr (the summary has them all)."""
    for row in failed[:10]:
        print(f"  failed {row.get('series_uid') or row.get('output')}: {row.get('error')}", file=sys.stderr)
    if len(failed) > 10:
        print(f"  ... and {len(failed) - 10} more failed (see summary.csv)", file=sys.stderr)
