"""`radseg eval click`: the click model against the deterministic simulated user, on held-out patients and on
structures never seen in training. Writes eval.json (every number), dice_vs_clicks.png and prints a table."""
from __future__ import annotations

import json
import sys
import time


def register(sub) -> None:
    from radseg.cli._common import positive_int, requires_action

    p = sub.add_parser("eval", help="evaluate a model with simulated users (Dice, HD95, MSD, NoC; JSON + plot)")
    tasks = p.add_subparsers(dest="task", metavar="TASK")
    c = tasks.add_parser("click", help="click model: deterministic user, 1..20 clicks per slice",
                         description="Slice-wise evaluation as in seed 003: every 2D slice where a structure is "
                                     "present is one case; averages over a structure's cases, then over structures.")
    c.add_argument("--model", default="click", help="bundled model name or exported model folder (default: click)")
    c.add_argument("--data", default=None, help="the shared data folder (default: $RADSEG_DATA or ../shared/data)")
    c.add_argument("--out", required=True, help="output folder for eval.json, eval.md (model-card tables) and dice_vs_clicks.png")
    c.add_argument("--max-slices", type=positive_int, default=None,
                   help="at most N slices per structure, evenly spread over its slices (default: all)")
    c.add_argument("--max-clicks", type=int, default=20, help="clicks per case; NoC is capped here (default 20)")
    c.add_argument("--btcv", default=None, help="comma-separated BTCV patients (default: the manifest's held-out ones)")
    c.add_argument("--chaos", default=None, help="comma-separated CHAOS patients (default: the manifest's held-out ones)")
    c.add_argument("--no-unseen", action="store_true", help="skip the TotalSegmentator never-seen structures")
    c.add_argument("--backend", default=None, help="backend name (default: automatic)")
    c.add_argument("--threads", type=positive_int, default=None, help="CPU threads for the backend")
    c.add_argument("--json", action="store_true", help="print the summary JSON on stdout instead of the table")
    c.add_argument("--no-progress", action="store_true", help="no progress (a bar on a terminal, a line every 30 s otherwise)")
    c.set_defaults(func=run_click)
    p.set_defaults(func=requires_action(p, "a model task"))


def _patients(arg, split, dataset):
    if arg is not None:
        return [s.strip() for s in arg.split(",") if s.strip()]
    return list(split.get(dataset, []))


def _seen_names(dataset, held):
    from radseg.training.data import btcv, chaos

    return [n for n in {"btcv": btcv, "chaos": chaos}[dataset].LABELS.values() if n not in held]


def run_click(args) -> int:
    from radseg._progress import progress
    from radseg.cli._common import load_model, output_dir
    from radseg.errors import InputError, UsageError
    from radseg.eval import datasets, report
    from radseg.eval.click import evaluate, summarize
    from radseg.eval.splits import heldout

    if args.max_clicks < 15:
        raise UsageError(f"--max-clicks {args.max_clicks}: too few", "give at least 15 (Dice is reported after 15 "
                                                                     "clicks)")
    try:
        root = datasets.find_data_root(args.data)
    except FileNotFoundError as exc:
        what = f"--data {args.data}: no such folder" if args.data else "the shared data folder was not found"
        raise InputError(what, "pass --data PATH or set RADSEG_DATA") from exc
    out = output_dir(args.out)
    _limit_openmp(1)
    model = load_model(args.model, backend=args.backend, threads=args.threads)
    split = heldout(model.manifest)
    btcv, chaos = _patients(args.btcv, split["patients"], "btcv"), _patients(args.chaos, split["patients"], "chaos")
    if not btcv and not chaos:
        raise UsageError("no held-out patients: the model's manifest names none", "pass --btcv and/or --chaos")
    unseen = split["unseen_structures"]
    modality = {"btcv": "ct", "chaos": "mr"}
    cases = []
    for dataset, patients in (("btcv", btcv), ("chaos", chaos)):
        held = list(unseen.get(dataset, ()))
        if patients:  # structures seen in training, on held-out patients
            cases += datasets.labelled_cases(dataset, root, patients, group=f"{dataset}_heldout",
                                             unseen=held, structures=_seen_names(dataset, held),
                                             max_slices=args.max_slices)
        if held:  # structures never trained on: every patient of the dataset qualifies
            cases += datasets.labelled_cases(dataset, root, None, group=f"unseen_{modality[dataset]}",
                                             unseen=held, structures=held, max_slices=args.max_slices)
    if not args.no_unseen and (root / "totalseg").is_dir():
        for modality in ("CT", "MR"):
            cases += datasets.totalseg_cases(root, modality, max_slices=args.max_slices)
    bar = progress(len(cases), unit="case", desc="eval click", disable=args.no_progress)
    t0 = time.perf_counter()
    results = evaluate(model, cases, max_clicks=args.max_clicks, progress=lambda r: bar.update(1))
    bar.close()
    seconds = time.perf_counter() - t0
    summary = summarize(results)
    meta = {
        "model": str(model.path), "backend": model.backend, "data": str(root), "max_slices": args.max_slices,
        "max_clicks": args.max_clicks, "patients": {"btcv": btcv, "chaos": chaos}, "unseen_labels": unseen,
        "cases": len(results), "seconds": round(seconds, 1),
        "protocol": "deterministic user (radseg.click.robot.deterministic_click); slice-wise; mean over a "
                    "structure's slices, then over structures; NoC capped at max_clicks",
        "command": "radseg eval click " + " ".join(sys.argv[3:]) if sys.argv[1:3] == ["eval", "click"] else None,
    }
    report.write_json(out / "eval.json", summary, meta, report.case_records(results))
    (out / "eval.md").write_text(report.markdown_tables(summary))
    png = None
    try:
        png = report.plot_dice_vs_clicks(out / "dice_vs_clicks.png", summary)
    except ModuleNotFoundError as exc:  # matplotlib is in the train extra
        import warnings

        from radseg.errors import RadsegWarning

        warnings.warn(f"no plot: {exc.name!r} is not installed (pip install 'radseg[train]')", RadsegWarning)
    if args.json:
        print(json.dumps({"meta": meta, "summary": summary["groups"], "comparison": report.comparison(summary)}, indent=1))
    else:
        print(report.text_table(summary))
        print(f"\n{len(results)} cases in {seconds:.0f} s on {model.backend}; wrote {out / 'eval.json'}, eval.md"
              + (f" and {png}" if png else ""))
    return 0


def _limit_openmp(n: int) -> None:
    """One OpenMP thread for the native geometry core in this process.

    The user robot and the metrics call the native distance transform on one 2D slice at a time, where threads
    cost more than they save: on this 2-core machine under load, a 257 x 257 EDT measured 65 ms with the default
    OpenMP team and 1.3-2 ms with one thread. Best effort: silently does nothing without libgomp.
    """
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(n, user_api="openmp")
        return
    except ModuleNotFoundError:
        pass
    try:
        import ctypes

        ctypes.CDLL("libgomp.so.1").omp_set_num_threads(int(n))
    except OSError:
        pass
