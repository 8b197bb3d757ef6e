"""Speed of the body outline: the 18 classical candidates and the body network, on real 512 x 512 CT slices.

    .venv/bin/python benchmarks/bench_body.py [--model body] [--repeat 7] [--data ../shared/data] [--json out.json]

Input: TotalSegmentator's 512 x 512 x 20 DICOM CT (../shared/data/totalseg/example_ct_dicom), else pydicom's
CT_small.dcm resized to 512 x 512. Reports medians over --repeat rounds of:
  candidates     all 18 variants of one slice (radseg.body.all_candidates, native morphology), ms per slice,
                 beside the same 18 recipes written with OpenCV (radseg.bench.body_opencv; what a user would
                 otherwise write), and the ratio
  volume         radseg.body.candidates_volume over the 20 slices with 1 and 2 threads, slices per second
  network        radseg.load(model).segment(volume) (preprocessing, ONNX Runtime, resampling back, hole filling)
                 with 1 and 2 intra-op threads, slices per second, and its parts per slice
For scale (not measured here): TotalSegmentator's `body --fast` took 34 s for a 512 x 512 x 133 CT on 2 cores
(about 4 slices/s; the figure the body-outline issue quotes).
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numpy as np


def load_slices(data):
    import pathlib

    folder = pathlib.Path(data) / "totalseg" / "example_ct_dicom"
    if folder.is_dir():
        import radseg.dicom

        vol = radseg.dicom.read_series(folder)
        return np.asarray(vol.array, np.float32), tuple(vol.spacing), f"{folder} ({list(vol.shape)})"
    import pydicom
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    hu = ds.pixel_array.astype(np.float32) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    big = np.kron(hu, np.ones((4, 4), np.float32))
    return np.stack([big] * 20), (1.0, 0.17, 0.17), "pydicom CT_small.dcm, 4x enlarged, 20 copies"


def median_ms(fn, repeat):
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def bench(model_arg="body", repeat=7, data="../shared/data"):
    import os

    import radseg
    from radseg.body import all_candidates, candidates_volume

    vol, spacing, source = load_slices(data)
    k = vol.shape[0] // 2
    out = {"input": source, "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"}
    ours = median_ms(lambda: all_candidates(vol[k]), repeat)
    out["candidates_ms"] = {"radseg": round(ours, 2)}
    try:
        from radseg.bench.body_opencv import all_candidates_opencv

        cv = median_ms(lambda: all_candidates_opencv(vol[k]), repeat)
        out["candidates_ms"]["opencv"] = round(cv, 2)
        out["candidates_ms"]["opencv_over_radseg"] = round(cv / ours, 2)
    except ImportError as exc:
        out["candidates_ms"]["opencv"] = f"n/a ({exc})"
    out["volume_slices_per_s"] = {}
    for workers in (1, 2):
        ms = median_ms(lambda: candidates_volume(vol, workers=workers, unique=False), max(3, repeat // 2))
        out["volume_slices_per_s"][f"{workers} thread(s)"] = round(vol.shape[0] / ms * 1e3, 1)
    out["network"] = {}
    for threads in (1, 2):
        model = radseg.load(model_arg, threads=threads)
        ms = median_ms(lambda: model.segment(vol, spacing=spacing, modality="CT"), max(3, repeat // 2))
        out["network"][f"{threads} thread(s)"] = {"slices_per_s": round(vol.shape[0] / ms * 1e3, 1),
                                                   "ms_per_slice": round(ms / vol.shape[0], 2)}
        out["network"]["backend"] = model.backend
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="body")
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--data", default="../shared/data")
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")
    a = p.parse_args(argv)
    r = bench(a.model, a.repeat, a.data)
    print(f"input: {r['input']}; {r['machine']}")
    c = r["candidates_ms"]
    print(f"18 candidates of one 512x512 slice: radseg {c['radseg']:.1f} ms, OpenCV {c['opencv']} ms"
          + (f" ({c['opencv_over_radseg']:.2f}x radseg's time)" if "opencv_over_radseg" in c else ""))
    print("candidates over the volume: " + ", ".join(f"{k} {v} slices/s" for k, v in r["volume_slices_per_s"].items()))
    n = r["network"]
    print(f"body network ({n['backend']}): " + ", ".join(
        f"{k} {v['slices_per_s']} slices/s ({v['ms_per_slice']} ms/slice)" for k, v in n.items() if k != "backend"))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(r, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
