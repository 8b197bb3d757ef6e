"""`radseg export CHECKPOINT --out DIR`: a trained checkpoint -> DIR/model.onnx + DIR/manifest.json.

The export is verified: ONNX Runtime and torch run the same real inputs (built by the SDK's own preprocessing from
../shared/data when present, else from a pydicom test CT), the max abs logit difference is printed, and the
command fails (exit 1) when it exceeds --tolerance.
"""
from __future__ import annotations

def register(sub) -> None:
    p = sub.add_parser("export", help="export a checkpoint to ONNX + manifest, verified against torch",
                       description=__doc__.split("\n", 1)[1])
    p.add_argument("checkpoint", help="a .pt checkpoint written by `radseg train` (e.g. runs/click/final.pt), or an "
                                      "exported model folder (re-export with other manifest parameters)")
    p.add_argument("--out", default=None, help="output folder (created); gets model.onnx and manifest.json")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (17)")
    p.add_argument("--tolerance", type=float, default=1e-3, help="max abs logit difference allowed (1e-3)")
    p.add_argument("--data", default="../shared/data", help="where real verification inputs come from")
    p.add_argument("--metrics", default=None, metavar="JSON", help="merge this JSON object into manifest.metrics (an eval.json of "
                        "`radseg eval click` becomes metrics.evaluation)")
    p.add_argument("--crop", action="append", default=[], metavar="KEY=VALUE",
                   help="override a crop parameter of the manifest, e.g. initial_size_mm=192 or refine_first_click=false "
                        "(repeatable)")
    p.add_argument("--postprocess", action="append", default=[], metavar="KEY=VALUE",
                   help="override a post-processing parameter, e.g. keep_clicked_components=false or reach_mm=5 "
                        "(repeatable)")
    p.add_argument("--stopping", action="append", default=[], metavar="KEY=VALUE",
                   help="propagation models: override a stopping parameter, e.g. min_confidence=0.8 or "
                        "max_growth=3 (repeatable)")
    p.add_argument("--int8", action="store_true",
                   help="also write model.int8.onnx: static INT8 quantization calibrated on real training images "
                        "(--data) through the SDK's own preprocessing, its agreement with fp32 on held-out images and "
                        "its speed recorded in the manifest (automatic backend selection takes it only when validated)")
    from radseg.export.tensorrt import add_cli_arguments
    from radseg.export.triton import add_cli_arguments as add_triton_arguments

    add_cli_arguments(p)
    add_triton_arguments(p)
    p.set_defaults(func=run)


#: Manifest parameters that take true/false rather than a number.
_BOOLEAN = {"refine_first_click", "keep_clicked_components", "keep_prior_components"}


def parse_overrides(items, flag: str) -> dict:
    """["KEY=VALUE", ...] -> {key: float or bool}; UsageError (a ValueError) naming `flag` and the bad item."""
    from radseg.errors import UsageError

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if key in _BOOLEAN and value.lower() in ("true", "false"):
            out[key] = value.lower() == "true"
            continue
        try:
            out[key] = float(value)
        except ValueError:
            sep = ""
        if not sep or not key or key in _BOOLEAN:
            raise UsageError(f"{flag} wants KEY=NUMBER (e.g. initial_size_mm=192) or "
                             f"{'|'.join(sorted(_BOOLEAN))}=true|false, got {item!r}")
    return out


def run(args) -> int:
    from radseg.errors import UsageError

    if args.triton is not None:
        from radseg.export.triton import cli_run as triton_run

        return triton_run(args)
    if args.out is None:
        raise UsageError("--out is required (or --triton REPO)", "give --out DIR for the exported model")
    if args.tensorrt or args.fp16 or args.max_batch is not None or args.trt_tolerance is not None \
            or args.trt_min_dice is not None:
        from radseg.export.tensorrt import cli_run

        return cli_run(args)
    from radseg.cli._common import input_path, output_dir
    from radseg.errors import InputError, RadsegError

    crop, post = parse_overrides(args.crop, "--crop"), parse_overrides(args.postprocess, "--postprocess")
    stop = parse_overrides(args.stopping, "--stopping")
    input_path(args.checkpoint, "CHECKPOINT", kind="path")
    if args.metrics is not None:
        input_path(args.metrics, "--metrics")
    output_dir(args.out)
    from radseg.export.onnx_export import ExportError, export_checkpoint

    try:
        report = export_checkpoint(args.checkpoint, args.out, opset=args.opset, tolerance=args.tolerance,
                                   data=args.data, metrics_json=args.metrics, crop=crop or None,
                                   postprocess=post or None, stopping=stop or None)
    except RadsegError:
        raise
    except ExportError as exc:
        raise RadsegError(str(exc)) from exc
    except (FileNotFoundError, ValueError) as exc:
        raise InputError(str(exc)) from exc
    print(f"wrote {report['onnx']} ({report['onnx_mb']:.2f} MB) and {report['manifest']}"
          + (f"; kept {report['model_card']}" if report.get("model_card") else ""))
    print(f"verified on real inputs ({report['inputs']}; {report['source']}): max abs logit difference "
          f"ONNX Runtime vs torch = {report['max_abs_diff']:.2e} (tolerance {args.tolerance:g})")
    if args.int8:
        _int8(args)
    return 0


def _int8(args) -> None:
    import sys

    from radseg.errors import InputError
    from radseg.export.quantize import quantize_model

    try:
        entry = quantize_model(args.out, data=args.data, progress=lambda text: print(text, file=sys.stderr))
    except FileNotFoundError as exc:
        raise InputError(f"--int8: {exc}", "give --data the shared data folder: the calibration needs real "
                                           "images") from exc
    agree, speed = entry["agreement"], entry["speed"]
    sessions = agree.get("sessions")
    print(f"wrote {entry['file']}: network-pass mask Dice vs fp32 {agree['mask_dice_mean']:.4f} (min "
          f"{agree['mask_dice_min']:.3f}) over {agree['passes']} held-out passes"
          + (f", whole click sessions {sessions['mask_dice_mean']:.4f}" if sessions else "")
          + f"; one thread {speed['fp32_pass_ms']:.2f} -> {speed['int8_pass_ms']:.2f} ms a pass "
            f"(x{speed['speedup']:.2f}, {speed['cpu']})")
    if not entry["validated"]:
        print(f"radseg export: warning: the int8 variant was not validated (mask Dice below {agree['min_dice']} or "
              "not faster): automatic selection will not take it; name backend='onnxruntime-cpu-int8' to use it",
              file=sys.stderr)
