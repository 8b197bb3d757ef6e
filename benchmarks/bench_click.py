"""Latency of the click model end to end, as an integrator sees it: `start` and `click` (model loaded, image set).

    .venv/bin/python benchmarks/bench_click.py [--model click] [--repeat 60] [--json out.json]

Image: a real CT slice (a held-out BTCV patient's spleen slice from ../shared/data, with the click at the organ's
deepest point), else pydicom's bundled CT_small.dcm. For ONNX Runtime with 1 and 2 intra-op threads, interleaved
round by round (the second core of this machine comes and goes), it reports medians and 90th percentiles of:
  start          model.start(image, spacing, modality): validation + intensity normalisation
  first click    sess.reset(); sess.click(...): the first click (widest crop; a second pass in a box fitted to the
                 first mask when the manifest enables refine_first_click)
  second click   a corrective click with a mask present (crop fitted to the mask)
  drag           sess.move_last_click(...) by a couple of pixels (the crop box is reused)
and the split of a click into preprocessing (crop, resample, guidance), inference (backend.run) and
postprocessing (paste back), from `ClickSession.last_timing`.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time

import numpy as np


def _second_click(ref, first, mask):
    """A corrective click from the deterministic user when a reference exists, else a background click nearby."""
    if ref is not None:
        from radseg.click.robot import deterministic_click

        c = deterministic_click(ref, mask)
        if c is not None:
            return c
    return (first[0] + 3, first[1] + 3, False)


def _pct(values, q):
    return float(np.percentile(values, q))


def bench(model_arg="click", repeat=60, threads_list=(1, 2), data=None):
    import radseg
    from radseg.cli.segment import demo_image

    image, spacing, modality, desc, click, ref = demo_image(data)
    click = tuple(click[:2])
    models = {n: radseg.load(model_arg, threads=n) for n in threads_list}
    timings = {n: {k: [] for k in ("start", "first_click", "second_click", "drag")} for n in threads_list}
    split = {n: {k: [] for k in ("preprocess", "inference", "postprocess")} for n in threads_list}
    passes = {n: [] for n in threads_list}  # network passes of the first click (2 when it was refined)
    sessions = {}
    for n, m in models.items():  # warm-up: one full interaction per model
        s = m.start(image, spacing=spacing, modality=modality)
        mask = s.click(*click)
        second = _second_click(ref, click, mask)
        s.click(second[0], second[1], positive=bool(second[2]))
        s.move_last_click(second[0] + 1, second[1])
        sessions[n] = (s, second)
    for _ in range(repeat):
        for n, m in models.items():  # interleaved rounds
            t = time.perf_counter()
            s = m.start(image, spacing=spacing, modality=modality)
            timings[n]["start"].append(time.perf_counter() - t)
            second = sessions[n][1]
            t = time.perf_counter()
            s.click(*click)
            timings[n]["first_click"].append(time.perf_counter() - t)
            for k in split[n]:
                split[n][k].append(s.last_timing[k])
            passes[n].append(s.last_timing["passes"])
            t = time.perf_counter()
            s.click(second[0], second[1], positive=bool(second[2]))
            timings[n]["second_click"].append(time.perf_counter() - t)
            t = time.perf_counter()
            s.move_last_click(second[0] + 1, second[1] + 1)
            timings[n]["drag"].append(time.perf_counter() - t)
    some = next(iter(models.values()))
    result = {
        "image": desc, "shape": list(np.shape(image)), "model": str(some.path), "backend": some.backend,
        "input_size": some.manifest.input_size, "repeat": repeat, "python": platform.python_version(),
        "machine": platform.processor() or platform.machine(),
        "threads": {},
    }
    for n in threads_list:
        result["threads"][str(n)] = {
            **{k: {"median_ms": 1e3 * statistics.median(v), "p90_ms": 1e3 * _pct(v, 90)} for k, v in timings[n].items()},
            "first_click_split_median_ms": {k: 1e3 * statistics.median(v) for k, v in split[n].items()},
            "first_click_passes": statistics.median(passes[n]),
        }
    return result


def print_report(r) -> None:
    print(f"click model latency: {r['model']} ({r['backend']}, S={r['input_size']}), image {r['image']} "
          f"{r['shape']}, {r['repeat']} interleaved rounds")
    print(f"{'threads':>7s} {'start':>16s} {'first click':>16s} {'second click':>16s} {'drag':>16s}   "
          f"first click = prep + infer + post (medians)")
    for n, t in r["threads"].items():
        cells = " ".join(f"{t[k]['median_ms']:7.2f} ({t[k]['p90_ms']:6.2f})" for k in ("start", "first_click", "second_click", "drag"))
        s = t["first_click_split_median_ms"]
        print(f"{n:>7s} {cells}   {s['preprocess']:.2f} + {s['inference']:.2f} + {s['postprocess']:.2f} ms"
              f" ({t['first_click_passes']:g} network pass(es))")
    print("milliseconds: median (90th percentile); bars: click median <= 30 ms, start <= 150 ms")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="click")
    p.add_argument("--repeat", type=int, default=60)
    p.add_argument("--threads", default="1,2", help="comma-separated intra-op thread counts")
    p.add_argument("--data", default=None)
    p.add_argument("--json", default=None, help="also write the numbers here")
    a = p.parse_args(argv)
    r = bench(a.model, a.repeat, tuple(int(t) for t in a.threads.split(",")), a.data)
    print_report(r)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(r, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
