"""`radseg eval body`: seed 000's Table 1 on ``DATA/body_refs`` -- the 18 classical variants and the body network.

Writes eval.json (every slice's scores), eval.md (the tables), review/ (overlays of the slices where the network
and the reference disagree most: reference green, network red) and prints the network and the best classical
variants per group.
"""
from __future__ import annotations

import json
import sys
import time


def register(tasks) -> None:
    from radseg.cli._common import positive_int

    c = tasks.add_parser(
        "body", help="body model: Dice and Hausdorff (px) against body_refs, beside the 18 classical variants",
        description="Seed 000's Table 1 on the body_refs references (clinical RTSTRUCT BODY on CT, head outlines on "
                    "MR; none trained on): Dice and Hausdorff distance in pixels, mean and median over the slices "
                    "with a reference outline, for the network and every classical variant. Undefined Hausdorff "
                    "distances (the method outlined nothing) and outlines on slices whose reference is empty are "
                    "counted, never dropped.")
    c.add_argument("--model", default="body", help="bundled model name or exported body model folder (default: body)")
    c.add_argument("--classical-only", action="store_true", help="score the 18 classical variants only (no model)")
    c.add_argument("--data", default=None, help="the shared data folder (default: $RADSEG_DATA or ../shared/data)")
    c.add_argument("--out", required=True, help="output folder for eval.json, eval.md and review/")
    c.add_argument("--review", type=positive_int, default=8,
                   help="overlay PNGs of the N slices where network and reference disagree most (default 8)")
    c.add_argument("--backend", default=None, help="backend name (default: automatic)")
    c.add_argument("--threads", type=positive_int, default=None, help="CPU threads for the backend")
    c.add_argument("--json", action="store_true", help="print the summary JSON on stdout instead of the table")
    c.add_argument("--no-progress", action="store_true",
                   help="no progress (a bar on a terminal, a line every 30 s otherwise)")
    c.set_defaults(func=run_body)


def run_body(args) -> int:
    from radseg._progress import progress
    from radseg.body.candidates import VARIANTS
    from radseg.cli._common import load_model, output_dir
    from radseg.cli.eval import _data_root
    from radseg.eval import body, body_report

    root = _data_root(args.data)
    try:
        cases = body.reference_cases(root)
    except FileNotFoundError as exc:
        from radseg.errors import InputError

        raise InputError(str(exc), "pass --data with the folder that holds body_refs/") from exc
    out = output_dir(args.out)
    model = None if args.classical_only else load_model(args.model, backend=args.backend, threads=args.threads)
    net_masks = {}

    def net(image, spacing, modality):
        net_masks[current[0]] = model.segment(image, spacing=spacing, modality=modality)
        return net_masks[current[0]]

    current = [None]
    total = sum(c.image.shape[0] for c in cases)
    bar = progress(total, unit="slice", desc="eval body", disable=args.no_progress)
    t0 = time.perf_counter()
    ev = body.BodyEvaluation()
    for case in cases:
        current[0] = case.name
        part = body.evaluate([case], net if model is not None else None, progress=lambda d, t: bar.update(1))
        ev.slices += part.slices
    bar.close()
    seconds = time.perf_counter() - t0
    methods = list(VARIANTS) + ([body.NET] if model is not None else [])
    summ = body_report.summary(ev, methods)
    review = body_report.review_pictures(ev, cases, net_masks, out / "review", args.review) if model else []
    meta = {"model": str(model.path) if model else None, "backend": model.backend if model else None,
            "data": str(root), "cases": [{"name": c.name, "modality": c.modality, "slices": int(c.image.shape[0]),
                                          "note": c.note} for c in cases],
            "seconds": round(seconds, 1), "protocol": body.__doc__.split("Protocol (the seed's, stated): ")[1].strip(),
            "command": "radseg " + " ".join(sys.argv[1:])}
    body_report.write_json(out / "eval.json", summ, meta, ev, review)
    (out / "eval.md").write_text(body_report.markdown(summ, methods, cases))
    if args.json:
        print(json.dumps({"meta": meta, "summary": summ, "review": review}, indent=1))
    else:
        print(body_report.text_table(summ))
        print(f"\n{len(ev.slices)} slices in {seconds:.0f} s; wrote {out / 'eval.json'}, eval.md"
              + (f" and {len(review)} review overlays in {out / 'review'}" if review else ""))
    return 0
