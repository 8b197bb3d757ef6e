"""`radseg segment --series DIR --body --out OUT/`: the body outline of every slice, in the formats people use.

Writes, each atomically: ``seg.dcm`` (DICOM SEG, segment "body") and ``rtstruct.dcm`` (RT Structure Set, ROI
"BODY" of type EXTERNAL) when the input is a DICOM series; ``body.ply`` (the outline points of every slice in
patient coordinates, mm); ``labels.nii.gz`` (1 = body); ``montage.png``; ``result.json`` (volume in mL, slices,
model, backend, timings) last.
"""
from __future__ import annotations

import time


def run_body_volume(args) -> int:
    import numpy as np

    from radseg._progress import progress
    from radseg.body.outputs import body_volume_ml, write_body_outputs
    from radseg.cli._common import load_model, output_dir
    from radseg.cli._segment_volume import _check_uids, read_volume_input, series_modality
    from radseg.errors import InputError, UsageError

    for flag, value in (("--click", args.click), ("--prompts", args.prompts), ("--propagate", args.propagate),
                        ("--propagation-model", args.propagation_model), ("--slice", args.slice),
                        ("--spacing", args.spacing), ("--data", args.data), ("--name", args.name)):
        if value:
            raise UsageError(f"{flag} does not go with --body",
                             "--body outlines the whole body on every slice by itself; run the click workflow "
                             "separately")
    t0 = time.perf_counter()
    vol = read_volume_input(args.series, args.series_uid)
    read_ms = (time.perf_counter() - t0) * 1e3
    dicom_in = vol.metadata.get("format") == "dicom"
    from radseg.dicom.errors import require

    if dicom_in:
        _check_uids(vol, args.series, args.fill_missing_uids)
        require("highdicom")
    require("nibabel")
    out = output_dir(args.out)
    t1 = time.perf_counter()
    model = load_model(args.body_model, backend=args.backend, threads=args.threads)
    load_ms = (time.perf_counter() - t1) * 1e3
    modality = series_modality(args, vol)
    if modality not in model.modalities:
        raise UsageError(f"modality {modality}: the body model knows {model.modalities}", "pass --modality CT or MR")
    bar = progress(total=vol.shape[0], unit="slice", desc="body")
    t2 = time.perf_counter()
    try:
        mask = model.segment(np.asarray(vol.array), spacing=vol.spacing, modality=modality,
                             progress=lambda done, total: bar.update(max(0, done - bar.n)))
    except ValueError as exc:
        raise InputError(f"--series {args.series}: cannot be segmented: {exc}") from None
    finally:
        bar.close()
    segment_ms = (time.perf_counter() - t2) * 1e3
    written = write_body_outputs(vol, mask, out, model, modality, dicom_in, args.fill_missing_uids,
                                 {"read": round(read_ms, 1), "load_model": round(load_ms, 1),
                                  "segment": round(segment_ms, 1)}, str(args.series))
    ml = body_volume_ml(mask, vol.spacing)
    print(f"{args.series}: {list(vol.shape)} [slices, rows, cols], {modality}; body model on {model.backend}: "
          f"{ml:.0f} mL on {int(mask.any(axis=(1, 2)).sum())} of {vol.shape[0]} slices in {segment_ms:.0f} ms")
    print("  wrote " + ", ".join(str(p) for p in written.values()))
    return 0
