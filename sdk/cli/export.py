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
    p.add_argument("--out", required=True, help="output folder (created); gets model.onnx and manifest.json")
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
    return 0
