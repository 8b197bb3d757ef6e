"""`radseg eval click`, `radseg eval propagation` and `radseg eval body` (in `radseg.cli.eval_body`): a model against simulated users, on held-out patients and on
structures never seen in training. Each writes eval.json (every number), eval.md (model-card tables) and a plot, and
prints a table.

`radseg eval click`: the click model and the deterministic clicking user, slice-wise (seed 003).
`radseg eval propagation`: the propagation model with the paper's true-mask seed and corrections every 10 % of a
structure's length, and seeded by the click model (seed 001; `radseg.eval.propagation`).
"""
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
    c.add_argument("--no-unseen", action="store_true", help="skip the structures the model never trained on")
    c.add_argument("--no-more-anatomy", action="store_true",
                   help="skip the MSD hippocampus, left-atrium and ITK-SNAP brain groups (only BTCV, CHAOS and "
                        "TotalSegmentator)")
    c.add_argument("--backend", default=None, help="backend name (default: automatic)")
    c.add_argument("--threads", type=positive_int, default=None, help="CPU threads for the backend")
    c.add_argument("--json", action="store_true", help="print the summary JSON on stdout instead of the table")
    c.add_argument("--no-progress", action="store_true", help="no progress (a bar on a terminal, a line every 30 s otherwise)")
    c.set_defaults(func=run_click)
    _register_propagation(tasks)
    from radseg.cli.eval_body import register as register_body

    register_body(tasks)
    p.set_defaults(func=requires_action(p, "a model task"))


def _register_propagation(tasks) -> None:
    from radseg.cli._common import positive_int, whole_number

    c = tasks.add_parser(
        "propagation", help="propagation model: true-mask seed on the middle slice, corrections every 10 %%",
        description="The paper's protocol (seed 001): seed = a structure's middle slice with its true mask, "
                    "propagated; then corrections (true masks) every 10 % of the structure's slice extent from the "
                    "middle towards both ends, alternating sides; volume Dice, HD95 and MSD after 0..N corrections. "
                    "Realistic protocol: the seed is the click model's mask after 1 and 3 simulated clicks. Groups: "
                    "held-out BTCV and CHAOS patients, CHAOS spleen (never trained on), held-out MSD hippocampus "
                    "files, and never-seen structures (TotalSegmentator CT / MR, ITK-SNAP brain MR, left atrium MR).")
    c.add_argument("--model", default="propagation",
                   help="bundled model name or exported propagation model folder (default: propagation)")
    c.add_argument("--click-model", default="click",
                   help="click model for the realistic protocol's seeds (default: the bundled click model)")
    c.add_argument("--data", default=None, help="the shared data folder (default: $RADSEG_DATA or ../shared/data)")
    c.add_argument("--out", required=True,
                   help="output folder for eval.json, eval.md (model-card tables) and dice_vs_corrections.png")
    c.add_argument("--corrections", type=whole_number(0), default=5,
                   help="report after 0..N corrections (default 5)")
    c.add_argument("--btcv", default=None, help="comma-separated BTCV patients (default: the manifest's held-out ones)")
    c.add_argument("--chaos", default=None,
                   help="comma-separated CHAOS patients (default: the manifest's held-out ones; CHAOS spleen, never "
                        "trained on, then uses every patient)")
    c.add_argument("--structures", default=None,
                   help="comma-separated structure names to keep, in any group (e.g. 'liver,spleen')")
    c.add_argument("--groups", default=None,
                   help="comma-separated groups to run (default: all): btcv_heldout, chaos_heldout, chaos_unseen, "
                        "hippocampus_heldout, totalseg_ct_unseen, totalseg_mr_unseen, itksnap_mr, la_heart_unseen")
    c.add_argument("--max-structures", type=positive_int, default=None,
                   help="at most N structures per group, evenly spread over its list (default: all)")
    c.add_argument("--max-cases", type=positive_int, default=None,
                   help="at most N volumes (patients) per structure, evenly spread (default: all)")
    c.add_argument("--no-unseen", action="store_true",
                   help="skip the never-seen-structure sets (TotalSegmentator, ITK-SNAP, left atrium)")
    c.add_argument("--no-hippocampus", action="store_true", help="skip the held-out MSD hippocampus files")
    c.add_argument("--no-realistic", action="store_true", help="skip the click-seeded (realistic) protocol")
    c.add_argument("--backend", default=None, help="backend name (default: automatic)")
    c.add_argument("--threads", type=positive_int, default=None, help="CPU threads for the backend")
    c.add_argument("--json", action="store_true", help="print the summary JSON on stdout instead of the table")
    c.add_argument("--no-progress", action="store_true",
                   help="no progress (a bar on a terminal, a line every 30 s otherwise)")
    c.set_defaults(func=run_propagation)


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
    if not args.no_more_anatomy:
        trained = split["datasets"]
        cases += [c for c in datasets.more_anatomy_cases(root, trained, max_slices=args.max_slices)
                  if c.seen or not args.no_unseen]
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


def _data_root(arg):
    from radseg.errors import InputError
    from radseg.eval import datasets

    try:
        return datasets.find_data_root(arg)
    except FileNotFoundError as exc:
        what = f"--data {arg}: no such folder" if arg else "the shared data folder was not found"
        raise InputError(what, "pass --data PATH or set RADSEG_DATA") from exc


def _propagation_groups(args, root, manifest):
    """[(group, structure names, loader(names) -> cases, needs)] in report order; `needs` is the data folder the
    group reads (a missing one is skipped with a warning)."""
    from radseg.eval import propagation as pe
    from radseg.eval.splits import heldout
    from radseg.training.data import btcv, chaos, hippocampus

    split = heldout(manifest)
    raw = manifest.training.get("split") if isinstance(manifest.training, dict) else None
    raw = raw if isinstance(raw, dict) else {}
    classes = manifest.training.get("classes") if isinstance(manifest.training, dict) else None
    pb = _patients(args.btcv, split["patients"], "btcv")
    pc = _patients(args.chaos, split["patients"], "chaos")
    unseen = split["unseen_structures"]
    mc = args.max_cases
    groups = []
    for name, reader, patients in (("btcv", btcv, pb), ("chaos", chaos, pc)):
        held = list(unseen.get(name, ()))
        seen_names = [n for n in reader.LABELS.values() if n not in held]
        if patients:
            groups.append((f"{name}_heldout", seen_names, lambda names, d=name, p=patients: pe.labelled_cases(
                d, root, p, group=f"{d}_heldout", structures=names, seen=True, max_cases=mc), name))
        if held:  # never trained on for any patient: every patient qualifies unless patients were given
            p_unseen = patients if (args.chaos if name == "chaos" else args.btcv) is not None else None
            groups.append((f"{name}_unseen", held, lambda names, d=name, p=p_unseen: pe.labelled_cases(
                d, root, p, group=f"{d}_unseen", structures=names, seen=False, max_cases=mc), name))
    below = raw.get("hippocampus_train_files_below", 200)
    trained = classes is None or any(str(c).startswith("hippocampus:") for c in classes)
    if not args.no_hippocampus:
        groups.append(("hippocampus_heldout", list(hippocampus.LABELS.values()),
                       lambda names: pe.labelled_cases("hippocampus", root, pe.hippocampus_heldout(root, below),
                                                       group="hippocampus_heldout", structures=names, seen=trained,
                                                       max_cases=mc), "hippocampus"))
    if not args.no_unseen:
        for modality in ("CT", "MR"):
            groups.append((f"totalseg_{modality.lower()}_unseen", list(pe.TOTALSEG_UNSEEN[modality]),
                           lambda names, m=modality: pe.totalseg_cases(
                               root, m, {n: pe.TOTALSEG_UNSEEN[m][n] for n in names}), "totalseg"))
        groups.append(("itksnap_mr", list(pe.ITKSNAP_LABELS.values()),
                       lambda names: pe.itksnap_cases(root, names, trained), "itksnap"))
        groups.append(("la_heart_unseen", ["left atrium"], lambda names: pe.la_heart_cases(root, mc), "la_heart"))
    return groups, {"btcv": pb, "chaos": pc}, unseen


_DATA_FOLDERS = {"btcv": "btcv_sabs_ct", "chaos": "chaos_t2_mri",
                 "hippocampus": "msd_hippocampus", "totalseg": "totalseg", "itksnap": "itksnap",
                 "la_heart": "la_heart_mri"}


def run_propagation(args) -> int:
    import importlib.util
    import warnings

    from radseg._progress import progress
    from radseg.cli._common import load_model, output_dir
    from radseg.errors import InputError, RadsegWarning, UsageError
    from radseg.eval import propagation as pe
    from radseg.eval import propagation_report as report

    root = _data_root(args.data)
    out = output_dir(args.out)
    _limit_openmp(1)
    model = load_model(args.model, backend=args.backend, threads=args.threads)
    if model.manifest.task != "propagation":
        raise UsageError(f"--model {args.model}: is a {model.manifest.task} model, not a propagation model",
                         "give a folder written by `radseg export` from a propagation checkpoint")
    click_model = None
    if not args.no_realistic:
        click_model = load_model(args.click_model, backend=args.backend, threads=args.threads, flag="--click-model")
        if click_model.manifest.task != "click":
            raise UsageError(f"--click-model {args.click_model}: is a {click_model.manifest.task} model, not a click "
                             "model", "give a click model, or pass --no-realistic")
    groups, patients, unseen = _propagation_groups(args, root, model.manifest)
    wanted = None
    if args.structures is not None:
        wanted = {s.strip().lower() for s in args.structures.split(",") if s.strip()}
        known = {n.lower() for _, names, _, _ in groups for n in names}
        missing = sorted(wanted - known)
        if missing or not wanted:
            raise UsageError(f"--structures: unknown structure names {missing or args.structures!r}",
                             "choose from: " + ", ".join(sorted(known)))
    if args.groups is not None:
        chosen = [g.strip() for g in args.groups.split(",") if g.strip()]
        known_groups = [g for g, _, _, _ in groups]
        unknown = [g for g in chosen if g not in known_groups]
        if unknown or not chosen:
            raise UsageError(f"--groups: unknown groups {unknown or args.groups!r}",
                             "choose from: " + ", ".join(known_groups) + " (--no-unseen / --no-hippocampus drop some)")
        groups = [g for g in groups if g[0] in chosen]
    skipped, cases = [], []
    t_load = time.perf_counter()
    for group, names, load, needs in groups:
        names = [n for n in names if wanted is None or n.lower() in wanted]
        names = pe.even_subset(names, args.max_structures)
        if not names:
            continue
        folder = root / _DATA_FOLDERS[needs]
        if not folder.is_dir():
            skipped.append(f"{group}: {folder} is absent")
            continue
        if needs == "la_heart" and importlib.util.find_spec("h5py") is None:
            skipped.append(f"{group}: h5py is not installed (pip install h5py to read the HDF5 files)")
            continue
        got = load(names)
        if not got:
            skipped.append(f"{group}: none of {names} is present")
        cases += got
    for note in skipped:
        warnings.warn(f"eval propagation: skipped {note}", RadsegWarning)
    if not cases:
        raise InputError(f"no cases to evaluate under {root}", "check --data, --btcv / --chaos and --structures")
    load_seconds = time.perf_counter() - t_load
    bar = progress(len(cases), unit="case", desc="eval propagation", disable=args.no_progress)
    t0 = time.perf_counter()
    results = pe.evaluate(model, cases, corrections=args.corrections, click_model=click_model,
                          clicks=pe.REALISTIC_CLICKS, progress=lambda r: bar.update(1))
    bar.close()
    seconds = time.perf_counter() - t0
    summary = pe.summarize(results)
    seconds_by_group = {}
    for r in results:
        seconds_by_group[r.group] = round(seconds_by_group.get(r.group, 0.0) + r.seconds, 1)
    meta = {
        "model": str(model.path), "backend": model.backend,
        "model_training": {k: model.manifest.training.get(k) for k in ("steps", "wall_minutes", "samples_seen")}
        if isinstance(model.manifest.training, dict) else {},
        "click_model": None if click_model is None else str(click_model.path),
        "data": str(root), "corrections": args.corrections, "step": pe.STEP,
        "realistic_clicks": [] if click_model is None else list(pe.REALISTIC_CLICKS),
        "patients": patients, "unseen_labels": unseen, "max_structures": args.max_structures,
        "max_cases": args.max_cases, "structures_filter": args.structures, "groups_filter": args.groups,
        "cases": len(results),
        "seconds": round(seconds, 1), "load_seconds": round(load_seconds, 1), "seconds_by_group": seconds_by_group,
        "skipped": skipped,
        "protocol": pe.PROTOCOL.format(step=pe.STEP, n=args.corrections,
                                       clicks=" and ".join(str(n) for n in pe.REALISTIC_CLICKS)),
        "reference_labels": "BTCV, CHAOS, MSD hippocampus, ITK-SNAP, LA: expert / hand-drawn; TotalSegmentator: "
                            "made by the TotalSegmentator model (reference, not expert)",
        "command": ("radseg eval propagation " + " ".join(sys.argv[3:])
                    if sys.argv[1:3] == ["eval", "propagation"] else None),
    }
    report.write_json(out / "eval.json", summary, meta, pe.case_records(results))
    clicks = pe.REALISTIC_CLICKS if click_model is not None else ()
    (out / "eval.md").write_text(report.markdown_tables(summary, args.corrections, clicks, meta))
    png = None
    try:
        png = report.plot_dice_vs_corrections(out / "dice_vs_corrections.png", summary)
    except ModuleNotFoundError as exc:  # matplotlib is in the train extra
        warnings.warn(f"no plot: {exc.name!r} is not installed (pip install 'radseg[train]')", RadsegWarning)
    if args.json:
        print(json.dumps({"meta": meta, "summary": summary["groups"], "comparison": report.comparison(summary)},
                         indent=1))
    else:
        print(report.text_table(summary, args.corrections, clicks))
        print(f"\n{len(results)} cases in {seconds:.0f} s (+ {load_seconds:.0f} s reading data) on {model.backend}; "
              f"wrote {out / 'eval.json'}, eval.md" + (f" and {png}" if png else ""))
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
