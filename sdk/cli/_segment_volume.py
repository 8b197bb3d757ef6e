"""`radseg segment --series ...`: the 3D mode of the segment command (its parser lives in `radseg.cli.segment`).

Reads a DICOM series or a NIfTI volume and the prompts (--click S,R,C or --prompts FILE), runs
`radseg.workflow.segment_volume` and writes seg.dcm, labels.nii.gz, montage.png and result.json; every failure is
said in terms of the command's flags.
"""
from __future__ import annotations

import pathlib
import re
import time

def parse_volume_click(text: str):
    """"SLICE,ROW,COL" or with ",+" / ",-" -> (slice, row, col, positive). UsageError otherwise (a 2-value click
    is a 2D click: --series needs the slice too)."""
    from radseg.errors import UsageError

    parts = [t.strip() for t in str(text).split(",")]
    if len(parts) == 2:
        raise UsageError(f"--click {text!r}: a --series run needs SLICE,ROW,COL (voxel indices of the volume)",
                         "add the slice index, e.g. --click 40,210,150 (ROW,COL clicks are for --image)")
    if len(parts) not in (3, 4):
        raise UsageError(f"--click {text!r}: expected SLICE,ROW,COL or SLICE,ROW,COL,+ or SLICE,ROW,COL,-")
    try:
        s, r, c = (float(v) for v in parts[:3])
    except ValueError:
        raise UsageError(f"--click {text!r}: SLICE, ROW and COL must be numbers (voxel indices)") from None
    if not s.is_integer():
        raise UsageError(f"--click {text!r}: SLICE must be a whole number (a slice index)")
    sign = parts[3] if len(parts) == 4 else "+"
    if sign not in ("+", "-", "pos", "neg"):
        raise UsageError(f"--click {text!r}: the fourth field must be + or -")
    return int(s), r, c, sign in ("+", "pos")


def volume_prompts(args):
    """(prompts, where they came from for messages) from --click / --name or --prompts; UsageError / InputError."""
    from radseg.cli._common import input_path
    from radseg.errors import InputError, UsageError
    from radseg.workflow import Prompt, prompts_from_json

    if args.prompts is not None:
        if args.click or args.name is not None:
            raise UsageError("--prompts and --click / --name both given",
                             "put every structure in the --prompts file, or give one with --click and --name")
        path = input_path(args.prompts, "--prompts")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"--prompts {args.prompts}: unreadable ({exc})", "give a UTF-8 JSON file") from None
        try:
            return prompts_from_json(text), f"--prompts {args.prompts}"
        except ValueError as exc:
            raise InputError(f"--prompts {args.prompts}: {exc}",
                             "see 'radseg segment --help' for the format") from None
    if not args.click:
        raise UsageError("no click given", "add --click SLICE,ROW,COL (and --name NAME), or --prompts FILE")
    name = (args.name if args.name is not None else "structure").strip()
    if not name:
        raise UsageError("--name is empty", "give the structure a name, e.g. --name liver")
    return [Prompt(name, tuple(parse_volume_click(c) for c in args.click))], "--click"


def read_volume_input(path, series_uid=None):
    """The --series input as a `radseg.dicom.Volume`; InputError naming --series / --series-uid otherwise."""
    from radseg.cli._common import input_path
    from radseg.errors import InputError
    from radseg.workflow import read_volume

    input_path(path, "--series", kind="path")
    import radseg.dicom as rd

    kinds = "give a folder of DICOM images, a DICOM file, or a .nii / .nii.gz file"
    try:
        return read_volume(path, series_uid=series_uid)
    except rd.MultipleSeriesError as exc:
        uids = ", ".join(s["series_uid"] or "(no UID)" for s in exc.series)
        raise InputError(f"--series {path} holds {len(exc.series)} image series ({uids})",
                         "choose one with --series-uid UID ('radseg dicom info PATH' lists them)") from None
    except rd.MissingDependencyError:
        raise
    except rd.SeriesError as exc:
        # A missing slice or uneven steps: no --uneven here, a label map in NIfTI needs a regular grid.
        text = str(exc).replace("series_uid ", "--series-uid ").split(". Pass uneven='allow'")[0]
        raise InputError(f"--series {path}: {text}", kinds if series_uid is None else "check --series-uid") from None
    except rd.DicomFileError as exc:
        if pathlib.Path(path).is_file() and not str(path).lower().endswith((".nii", ".nii.gz")):
            raise InputError(f"--series {path}: neither a DICOM file nor a NIfTI file ({exc.problem})", kinds) from None
        raise InputError(f"--series {path}: no DICOM series here ({exc.problem})", kinds) from None
    except rd.DicomError as exc:
        raise InputError(f"--series {path}: {exc}", kinds) from None
    except (OSError, ValueError, EOFError) as exc:  # nibabel: not gzip, truncated, bad header
        if isinstance(exc, ModuleNotFoundError):
            raise
        raise InputError(f"--series {path}: not a readable NIfTI file ({type(exc).__name__}: {exc})", kinds) from None
    except Exception as exc:  # nibabel's ImageFileError and friends derive from Exception only
        raise InputError(f"--series {path}: not a readable volume ({type(exc).__name__}: {exc})", kinds) from None


def _check_uids(vol, path, fill: bool) -> None:
    """Before any work: a DICOM series whose images lack the UIDs a SEG references needs --fill-missing-uids."""
    from radseg.dicom.uids import seg_uid_problem
    from radseg.errors import InputError

    problem = seg_uid_problem(vol.source_headers, fill)
    if problem:
        raise InputError(f"--series {path}: {problem[0]}", problem[1])


def _load_models(args):
    """(click model, propagation model or None) loaded and checked for their task."""
    from radseg.cli._common import load_model
    from radseg.errors import InputError

    click = load_model(args.model, backend=args.backend, threads=args.threads)
    if click.manifest.task != "click":
        raise InputError(f"--model {args.model}: is a {click.manifest.task} model",
                         "give --model a click model (and a propagation model to --propagation-model)")
    if not args.propagate:
        return click, None
    name = args.propagation_model or "propagation"
    try:
        prop = load_model(name, backend=args.backend, threads=args.threads, flag="--propagation-model")
    except InputError as exc:
        from radseg.load import ModelNotFoundError

        if args.propagation_model is None and isinstance(exc.__cause__, ModelNotFoundError):
            raise InputError(f"--propagate: no propagation model is bundled with this radseg (bundled: "
                             f"{', '.join(exc.__cause__.bundled) or 'none'})",
                             "pass --propagation-model FOLDER, a folder written by `radseg export CHECKPOINT --out "
                             "DIR` (train one with `radseg train propagation`)") from exc
        raise
    if prop.manifest.task != "propagation":
        raise InputError(f"--propagation-model {name}: is a {prop.manifest.task} model",
                         "give --propagation-model a propagation model (the click model goes to --model)")
    return click, prop


def series_modality(args, vol) -> str:
    """--modality, else the input's own modality, else CT with a warning (`radseg.RadsegWarning`)."""
    import warnings

    from radseg.errors import RadsegWarning

    modality = args.modality or (vol.modality.upper() if vol.modality else None)
    if modality is None:
        warnings.warn(f"{args.series} does not say its modality: assuming CT (values in Hounsfield units); pass "
                      "--modality MR for MR", RadsegWarning)
        modality = "CT"
    return modality


def run_volume(args) -> int:
    import warnings

    from radseg._progress import progress
    from radseg.cli._common import output_dir
    from radseg.errors import InputError, RadsegWarning, UsageError
    from radseg.workflow import check_prompts, resolve_modality, segment_volume, write_outputs

    for flag, value in (("--slice", args.slice), ("--spacing", args.spacing), ("--data", args.data)):
        if value is not None:
            raise UsageError(f"{flag} is for --image / --demo",
                             "a --series run reads the voxel size from the input and takes each seed slice from "
                             "its clicks")
    t0 = time.perf_counter()
    prompts, source = volume_prompts(args)
    vol = read_volume_input(args.series, args.series_uid)
    read_ms = (time.perf_counter() - t0) * 1e3
    fmt = vol.metadata.get("format")
    try:
        prompts = check_prompts(prompts, vol.shape)
    except ValueError as exc:
        text = str(exc)
        if source == "--click":  # one structure: its number and name add nothing
            text = re.sub(r"^structure 1 \(.*?\): ", "", text)
        raise UsageError(f"{source}: {text}") from None
    if args.propagate and vol.shape[0] < 2:
        raise InputError(f"--series {args.series}: the volume has {vol.shape[0]} slice, nothing to propagate through",
                         "leave out --propagate")
    from radseg.dicom.errors import require

    if fmt == "dicom":
        _check_uids(vol, args.series, args.fill_missing_uids)
        require("highdicom")  # seg.dcm: a missing extra is said before the work, not after it
    elif args.fill_missing_uids:
        warnings.warn("--fill-missing-uids has no effect: the input is NIfTI, so no seg.dcm is written",
                      RadsegWarning)
    require("nibabel")  # labels.nii.gz
    out = output_dir(args.out)
    t1 = time.perf_counter()
    click, prop = _load_models(args)
    load_ms = (time.perf_counter() - t1) * 1e3
    modality = series_modality(args, vol)
    try:
        modality = resolve_modality(modality, click, prop)
    except ValueError as exc:
        where = "--modality" if args.modality else f"the input's modality {vol.modality!r}"
        raise UsageError(f"{where}: {exc}", "pass --modality CT or --modality MR") from None
    n = vol.shape[0]
    per = (n - 1) if args.propagate else 1
    bar = progress(total=per * len(prompts), unit="slice" if args.propagate else "structure", desc="segment")

    def report(done, total):
        bar.update(max(0, done - bar.n))

    try:
        result = segment_volume(vol, prompts, click_model=click, propagation_model=prop, propagate=args.propagate,
                                modality=modality, progress=report)
    except ValueError as exc:
        raise InputError(f"--series {args.series}: cannot be segmented: {exc}") from None
    finally:
        bar.close()
    import radseg.dicom as rd

    try:
        written = write_outputs(result, vol, out, fill_missing_uids=args.fill_missing_uids,
                                input_path=str(args.series),
                                timings={"read": round(read_ms, 1), "load_models": round(load_ms, 1)})
    except rd.SegError as exc:
        if "fill_missing_uids" in str(exc):
            raise InputError(f"--series {args.series}: the images lack UIDs that seg.dcm must reference",
                             "add --fill-missing-uids to generate them") from None
        raise InputError(f"cannot write {out / 'seg.dcm'}: {exc}") from None
    _print_summary(args, vol, result, written)
    return 0


def _print_summary(args, vol, result, written) -> None:
    fmt = vol.metadata.get("format", "dicom")
    print(f"{args.series} ({'NIfTI' if fmt == 'nifti' else 'DICOM'}): {list(vol.shape)} [slices, rows, cols], "
          f"spacing {[round(v, 4) for v in vol.spacing]} mm, {result.modality}")
    models = result.models
    line = f"  click model {_name(models['click'])} on {models['click']['backend']}"
    if models.get("propagation"):
        line += f"; propagation model {_name(models['propagation'])} on {models['propagation']['backend']}"
    print(line)
    for s in result.structures:
        where = f"slices {s.slices[0]}..{s.slices[1]}" if s.slices else "empty"
        text = f"  {s.label} {s.name}: {where} (seed {s.seed_slice}), {s.volume_ml:.1f} mL"
        if s.stopped:
            text += "; stopped " + ", ".join(f"{d} after slice {v['last']} ({v['reason']})"
                                             for d, v in sorted(s.stopped.items(), reverse=True))
        print(text)
    print("  wrote " + ", ".join(str(p) for p in written.values()))


def _name(info) -> str:
    return pathlib.Path(info["path"]).name if info.get("path") else "?"
