"""Time radseg.dicom against the issue's bars.

    .venv/bin/python benchmarks/bench_dicom.py [--repeat 5] [--json out.json]

1. read_series on the 20-slice 512x512 JPEG 2000 CT (../shared/data/totalseg/example_ct_dicom): bar 1 s.
   Without the shared data, a synthetic 20-slice uncompressed series stands in (labelled as such).
2. write_seg + read_seg of a 512x512x100 synthetic CT with three structures (an organ, bone, an ellipsoid that
   spans 60 slices): bar 2 s. Disjoint structures (as organs are), and the same with overlaps (slower: highdicom
   then sums a 4D stack to flag the overlap). Checks the round trip is pixel-exact.
The first call of each (imports, caches) is reported apart; the bars are checked on the median of the rest.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import statistics
import sys
import tempfile
import time

import numpy as np

import radseg
from radseg.dicom import synthetic

SHARED_CT = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data" / "totalseg" / "example_ct_dicom"


def _time(fn, repeat: int):
    """(result, first call wall s, [wall s], [CPU s]) -- CPU time (this process) is what the work costs; wall time
    also counts waiting for the 2 shared cores while other jobs run."""
    t = time.perf_counter()
    out = fn()
    first = time.perf_counter() - t
    wall, cpu = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return out, first, wall, cpu


def three_structures(vol, overlapping: bool = False) -> dict:
    """An organ (HU 40..100), bone (HU > 500) and an ellipsoid spanning 60 slices; disjoint unless `overlapping`."""
    s, r, c = np.ogrid[: vol.shape[0], : vol.shape[1], : vol.shape[2]]
    ellipsoid = ((s - 50) / 30.0) ** 2 + ((r - 200) / 80.0) ** 2 + ((c - 300) / 60.0) ** 2 < 1
    organ = (vol.array > 40) & (vol.array < 100)
    if not overlapping:
        organ &= ~ellipsoid
    return {"liver": organ, "bone": (vol.array > 500) & ~ellipsoid, "kidney_left": ellipsoid}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", default=None, metavar="PATH")
    args = parser.parse_args(argv)
    result = {"python": platform.python_version(), "cpus": os.cpu_count(), "repeat": args.repeat, "cases": {}}

    if SHARED_CT.is_dir():
        source, folder, tmp = "totalseg/example_ct_dicom (real, JPEG 2000 lossless)", SHARED_CT, None
    else:
        tmp = tempfile.TemporaryDirectory()
        folder = pathlib.Path(tmp.name) / "ct20"
        synthetic.write_series(folder, synthetic.phantom((20, 512, 512)))
        source = "SYNTHETIC 20x512x512 uncompressed (shared data absent)"
    vol, first, samples, cpu = _time(lambda: radseg.dicom.read_series(folder), args.repeat)
    result["cases"]["read_series_20x512x512"] = {
        "source": source, "shape": list(vol.shape), "first_s": first, "samples_s": samples,
        "median_s": statistics.median(samples), "cpu_median_s": statistics.median(cpu), "bar_s": 1.0,
    }
    if tmp:
        tmp.cleanup()

    with tempfile.TemporaryDirectory() as workdir:
        synthetic.write_series(os.path.join(workdir, "ct"), synthetic.phantom((100, 512, 512)), spacing=(2.0, 0.8, 0.8))
        vol = radseg.dicom.read_series(os.path.join(workdir, "ct"))
        seg_path = os.path.join(workdir, "seg.dcm")
        for key, overlapping in (("seg_write_read_100x512x512x3", False),
                                 ("seg_write_read_100x512x512x3_overlapping", True)):
            masks = three_structures(vol, overlapping)

            def write_and_read(masks=masks):
                radseg.dicom.write_seg(vol, masks, seg_path)
                return radseg.dicom.read_seg(seg_path, vol)

            back, first, samples, cpu = _time(write_and_read, args.repeat)
            exact = all(np.array_equal(back[k], masks[k]) for k in masks)
            t = time.perf_counter()
            radseg.dicom.write_seg(vol, masks, seg_path)
            write_s = time.perf_counter() - t
            t = time.perf_counter()
            radseg.dicom.read_seg(seg_path, vol)
            read_s = time.perf_counter() - t
            result["cases"][key] = {
                "source": "SYNTHETIC 100x512x512 CT, 3 structures" + (", overlapping" if overlapping else ", disjoint"),
                "voxels_per_structure": {k: int(m.sum()) for k, m in masks.items()},
                "seg_bytes": os.path.getsize(seg_path), "pixel_exact": exact, "first_s": first, "samples_s": samples,
                "median_s": statistics.median(samples), "cpu_median_s": statistics.median(cpu),
                "one_write_s": write_s, "one_read_s": read_s, "bar_s": 2.0,
            }

    ok = True
    for name, case in result["cases"].items():
        passed = case["median_s"] <= case["bar_s"] and case.get("pixel_exact", True)
        ok &= passed
        case["pass"] = passed
        print(f"{name:42s} median {case['median_s']:.3f} s wall, {case['cpu_median_s']:.3f} s CPU (first call "
              f"{case['first_s']:.3f} s), bar {case['bar_s']:.1f} s: {'PASS' if passed else 'MISS'}   [{case['source']}]")
        if "one_write_s" in case:
            print(f"    write {case['one_write_s']:.3f} s, read {case['one_read_s']:.3f} s, "
                  f"{case['seg_bytes'] / 1e6:.1f} MB, pixel-exact {case['pixel_exact']}")
    try:
        print(f"load average during the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
        result["loadavg_1min"] = os.getloadavg()[0]
    except OSError:
        pass
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
