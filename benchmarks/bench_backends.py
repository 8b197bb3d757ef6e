"""Every backend that runs here, side by side in one run, on real held-out slices: the network pass, the first
click (all its passes, pre- and post-processing included) and a corrective click, at one and two threads; p50 and
p99; and each backend's masks against ONNX Runtime fp32 for the same clicks.

    .venv/bin/python benchmarks/bench_backends.py [--model click] [--cases 24] [--repeat 3] [--data ../shared/data]
        [--backends onnxruntime-cpu,onnxruntime-cpu-int8,openvino] [--json]

The clicks are the evaluation robot's (`radseg.click.robot.deterministic_click`) on the fp32 masks, so every
backend sees the same inputs; "agree" is the mean Dice of each backend's mask with fp32's after the same click.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]


def _percentile(values, q):
    return float(np.percentile(np.asarray(values, np.float64), q))


def clicks_for(model, cases, n_clicks=2):
    """The robot's first `n_clicks` clicks on each case, made on `model`'s masks (fp32: the reference)."""
    from radseg.click.robot import deterministic_click

    out = []
    for case in cases:
        s = model.start(case.image, spacing=case.spacing, modality=case.modality)
        pred, seq = np.zeros_like(case.gt), []
        for _ in range(n_clicks):
            c = deterministic_click(case.gt, pred)
            if c is None:
                break
            pred = s.click(c[0], c[1], positive=bool(c[2]))
            seq.append((c, pred.copy()))
        out.append(seq)
    return out


def measure(model, cases, sequences, repeat: int) -> dict:
    """Times (ms) of the network pass, the first click and the second click, and agreement with the fp32 masks."""
    from radseg.eval.click import dice_score

    first, second, passes, agree = [], [], [], []
    s_in = model.manifest.input_size
    x = np.zeros((1, model.manifest.in_channels, s_in, s_in), np.float32)
    for _ in range(repeat * 20):
        t = time.perf_counter()
        model.runtime.run({model.manifest.input_name: x})
        passes.append((time.perf_counter() - t) * 1e3)
    for _ in range(repeat):
        for case, seq in zip(cases, sequences):
            if not seq:
                continue
            t = time.perf_counter()
            s = model.start(case.image, spacing=case.spacing, modality=case.modality)
            (c, want) = seq[0]
            got = s.click(c[0], c[1], positive=bool(c[2]))
            first.append((time.perf_counter() - t) * 1e3)
            agree.append(dice_score(got, want) if (got.any() or want.any()) else 1.0)
            if len(seq) > 1:
                (c, want) = seq[1]
                t = time.perf_counter()
                got = s.click(c[0], c[1], positive=bool(c[2]))
                second.append((time.perf_counter() - t) * 1e3)
                agree.append(dice_score(got, want) if (got.any() or want.any()) else 1.0)
    return {"pass_p50": _percentile(passes, 50), "pass_p99": _percentile(passes, 99),
            "first_p50": _percentile(first, 50), "first_p99": _percentile(first, 99),
            "second_p50": _percentile(second, 50), "second_p99": _percentile(second, 99),
            "agree_fp32": float(np.mean(agree)), "clicks": len(agree)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="click", help="a click model: bundled name or folder (default: click)")
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--cases", type=int, default=24, help="held-out slices (default: 24)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--backends", default=None, help="comma-separated names (default: every one that loads)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args(argv)

    import radseg
    from radseg.backends import available_names
    from radseg.backends.int8 import cpu_isa, cpu_name
    from radseg.export.quantize_cases import click_cases

    ref = radseg.load(args.model, backend="onnxruntime-cpu", threads=1)
    cases = click_cases(ref.manifest, pathlib.Path(args.data), "heldout", args.cases)
    if not cases:
        print("bench_backends: no held-out cases under --data; give the shared data folder", file=sys.stderr)
        return 2
    sequences = clicks_for(ref, cases)
    names = args.backends.split(",") if args.backends else [n for n in available_names()
                                                             if n not in ("triton", "tensorrt")]
    rows = []
    for name in names:
        for threads in (1, 2):
            try:
                model = radseg.load(args.model, backend=name, threads=threads)
            except Exception as exc:  # not here: say why and go on with the others
                rows.append({"backend": name, "threads": threads, "refused": str(exc).split(";")[0][:120]})
                break
            rows.append(dict(measure(model, cases, sequences, args.repeat), backend=name, threads=threads))
    if args.json:
        print(json.dumps({"cpu": cpu_name(), "isa": cpu_isa(), "cases": len(cases), "rows": rows}, indent=2))
        return 0
    print(f"{len(cases)} held-out slices ({args.model}), {cpu_name()} [{', '.join(cpu_isa()) or 'no int8 dot product'}]")
    print(f"{'backend':<22}{'thr':>4}{'pass p50/p99 ms':>18}{'first click p50/p99':>22}{'second click':>16}"
          f"{'vs fp32 1T':>12}{'agree':>8}")
    base = {r["threads"]: r for r in rows if r.get("backend") == "onnxruntime-cpu" and "refused" not in r}
    for r in rows:
        if "refused" in r:
            print(f"{r['backend']:<22}  refused: {r['refused']}")
            continue
        b = base.get(1)
        ratio = f"x{b['first_p50'] / r['first_p50']:.2f}" if b else "-"
        print(f"{r['backend']:<22}{r['threads']:>4}{r['pass_p50']:>9.2f} /{r['pass_p99']:>6.2f}"
              f"{r['first_p50']:>12.2f} /{r['first_p99']:>7.2f}{r['second_p50']:>9.2f} /{r['second_p99']:>5.1f}"
              f"{ratio:>12}{r['agree_fp32']:>8.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
