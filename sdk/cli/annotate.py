"""`radseg annotate`: the binary-choice annotation tool of seed 000 (sec. 3.2-3.3).

    radseg annotate SOURCE... --out DATASET [--terminal] [--seed N] [--limit N] [--every N]
    radseg annotate --summary DATASET [--json]

The command reads the sources, computes the candidates of every slice, and shows the undecided (slice, candidate)
pairs one at a time; the library side is `radseg.annotate`.
"""
from __future__ import annotations

import json

DESCRIPTION = """\
Binary-choice annotation of body-outline candidates (seed 000): each slice's classical candidates
(radseg.body.candidates, identical ones shown once) appear one at a time as a red contour over the slice,
in a random order fixed by --seed. Press y to keep the candidate, any other key to discard it, q or Escape
to quit. Every decision is saved at once, so quitting (or a crash) loses nothing: run the same command again
and it continues with the pairs not yet decided. The kept (slice, mask) pairs are the body model's training
set (radseg.annotate.read_accepted).

SOURCE: a NIfTI volume (.nii, .nii.gz; axial slices), a .npy array (2D [rows, cols] or 3D [slices, rows,
cols]) or a DICOM series (a folder, searched recursively, or one file); several may be given.

Window mode (default) needs a display ($DISPLAY) and Tk. --terminal works over ssh: the picture is written
to a PNG file (its path is printed; open it in a viewer that reloads on change) and each decision is one
key press in the terminal (one line per decision when standard input is not a terminal).

DATASET (--out) holds decisions.jsonl (one line per decision: the pair, kept or not, seconds from display
to key, candidate names, source, slice) and accepted/<id>.npz (image float32, mask bool) per kept pair.
On quit the command prints how many pairs were decided and are left, and the mean seconds per decision.
--summary DATASET prints the dataset's counts and timing (the estimated human time) without annotating.
"""


def register(sub) -> None:
    import argparse

    from radseg.cli import EPILOG
    from radseg.cli._common import positive_int, whole_number

    p = sub.add_parser("annotate", help="keep or discard body-outline candidates one key at a time (the body "
                                        "model's training set)",
                       description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sources", nargs="*", metavar="SOURCE", help="NIfTI, .npy or DICOM series to annotate")
    p.add_argument("--out", metavar="DATASET", default=None, help="the annotation dataset folder (created; "
                                                                  "resumed when it exists)")
    p.add_argument("--terminal", action="store_true", help="ask in the terminal and write the picture to a PNG "
                                                           "file instead of opening a window")
    p.add_argument("--picture", metavar="FILE", default=None,
                   help="with --terminal: where the picture goes (default: DATASET/current.png)")
    p.add_argument("--seed", type=whole_number(0), default=0, help="the random order of the pairs (0); the same "
                                                                   "seed gives the same order on every run")
    p.add_argument("--limit", type=positive_int, default=None, help="stop after N decisions in this session")
    p.add_argument("--every", type=positive_int, default=1, help="use every N-th slice of a volume (1: all)")
    p.add_argument("--candidates", metavar="MODULE:FUNCTION", default="radseg.body:candidates",
                   help="the candidate generator, image [rows, cols] -> [(name, bool mask)] "
                        "(radseg.body:candidates)")
    p.add_argument("--summary", metavar="DATASET", default=None,
                   help="print DATASET's counts and timing instead of annotating")
    p.add_argument("--json", action="store_true", help="print the summary (or the session's tally) as JSON")
    p.set_defaults(func=run)


def load_generator(spec: str):
    """"package.module:function" -> the callable; UsageError for a malformed spec, InputError when the module or
    function cannot be found."""
    import importlib

    from radseg.errors import InputError, UsageError

    module_name, _, attr = str(spec).partition(":")
    if not module_name or not attr:
        raise UsageError(f"--candidates {spec!r}: expected MODULE:FUNCTION", "e.g. --candidates radseg.body:candidates")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (exc.name == module_name or module_name.startswith(exc.name + ".")):
            raise InputError(f"--candidates {spec}: no module named {exc.name!r}",
                             "check the module name, or put its folder on PYTHONPATH") from None
        raise
    func = getattr(module, attr, None)
    if not callable(func):
        raise InputError(f"--candidates {spec}: {module_name} has no function {attr!r}", "check the function name")
    return func


def run(args) -> int:
    from radseg.errors import UsageError

    if args.summary is not None:
        if args.sources or args.out:
            raise UsageError("--summary prints a dataset's summary and annotates nothing",
                             "leave out SOURCE and --out, or leave out --summary")
        return run_summary(args.summary, as_json=args.json)
    if not args.sources:
        raise UsageError("no SOURCE given", "give a NIfTI, .npy or DICOM series to annotate, or --summary DATASET")
    if not args.out:
        raise UsageError("--out DATASET is missing", "give the annotation dataset folder with --out")
    if args.picture and not args.terminal:
        raise UsageError("--picture is for --terminal", "add --terminal, or leave out --picture")
    return run_session(args)


def run_summary(folder, as_json: bool = False) -> int:
    from radseg.annotate import AnnotationStore
    from radseg.cli._common import input_path

    input_path(folder, "--summary", kind="folder")
    summary = AnnotationStore(folder, readonly=True).summary()
    if as_json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"dataset {summary['dataset']}: {summary['decisions']} decisions, {summary['accepted']} kept, "
          f"{summary['discarded']} discarded")
    print(f"images: {summary['images']} seen, {summary['images_with_accepted']} with a kept mask")
    if summary["decisions"]:
        print(f"seconds per decision: mean {summary['seconds_mean']:.2f}, median {summary['seconds_median']:.2f}; "
              f"human time {summary['seconds_total'] / 60:.1f} min ({summary['human_hours']:.2f} h)")
    return 0


def run_session(args) -> int:
    import os
    import pathlib

    from radseg._progress import progress
    from radseg.annotate import AnnotationStore, Session, build_queue, load_items
    from radseg.cli._common import input_path, output_dir, output_file

    generator = load_generator(args.candidates)
    for source in args.sources:
        input_path(source, "SOURCE", kind="path")
    folder = output_dir(args.out)
    picture = pathlib.Path(args.picture) if args.picture else folder / "current.png"
    if args.terminal:
        output_file(picture, "--picture", suffixes=(".png",))
    store = AnnotationStore(folder)
    try:
        items = load_items(args.sources, every=args.every)
        bar = progress(total=len(items), unit="slice", desc="radseg annotate: candidates")
        work = build_queue(items, store, generator, seed=args.seed, limit=args.limit,
                           progress=lambda done, total: bar.update(1), workers=min(4, os.cpu_count() or 1))
        bar.close()
        if not work.pairs:
            print(f"nothing left to decide: all {work.total} pairs of {len(items)} slices are decided in {folder}")
            return 0
        print(f"{len(work.pairs)} pairs to decide in this session ({work.total - work.decided_before} undecided of "
              f"{work.total}, from {len(items)} slices); dataset {folder}", flush=True)
        session = Session(work, store)
        try:
            if args.terminal:
                from radseg.annotate.terminal import run_terminal

                report = run_terminal(session, picture)
            else:
                from radseg.annotate.window import run_window

                report = run_window(session)
        except KeyboardInterrupt:
            print(f"\ninterrupted: {session.report_line()}; rerun the same command to resume", flush=True)
            raise
    finally:
        store.close()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        done = "all pairs decided" if report["left"] == 0 else "rerun the same command to resume"
        print(f"{session.report_line()}; {done}")
    return 0
