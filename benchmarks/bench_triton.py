"""Click latency: local ONNX Runtime vs the triton backend (HTTP and gRPC) on loopback, side by side in one run.

    .venv/bin/python benchmarks/bench_triton.py [--repeat 60] [--kserve-python PY] [--json out.json] [--check]

The server is KServe's Python model server (the KServe v2 protocol Triton speaks; Triton itself cannot be
installed here) running `tests/backends/kserve_onnx_server.py`: the same model.onnx on the same ONNX Runtime
build with 1 intra-op thread, in its own interpreter ($RADSEG_KSERVE_PYTHON, else ../kserve-venv beside the repo).
Local ORT also runs with 1 thread. Image: a real CT slice (`radseg.cli.segment.demo_image`: a BTCV spleen slice
from ../shared/data, else pydicom's CT_small.dcm). Each round runs, for every backend in turn (interleaved, so a
slow phase of this shared 2-core machine hits all alike): start, first click (one or two network passes: the
manifest's refine_first_click), a corrective second click, a drag. Reported: medians (p50) and the triton minus
local difference in ms (the bar: within 3 ms), and whether every mask of every round is identical to local ORT's.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
SERVER = REPO / "tests" / "backends" / "kserve_onnx_server.py"
STEPS = ("first_click", "second_click", "drag")
BAR_MS = 3.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(python: str, onnx: str, name: str, extra=()):
    """Start the KServe server; returns (process, http address, grpc address) once the model is ready."""
    http, grpc = _free_port(), _free_port()
    proc = subprocess.Popen([python, str(SERVER), "--onnx", onnx, "--name", name, "--http-port", str(http),
                             "--grpc-port", str(grpc), "--threads", "1", *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the KServe server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http}/v2/models/{name}/ready", timeout=1) as r:
                if r.status == 200:
                    return proc, f"127.0.0.1:{http}", f"127.0.0.1:{grpc}"
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the KServe server was not ready within 90 s")


def bench(repeat: int, python: str, data=None, stock_decode: bool = False) -> dict:
    import radseg
    from radseg.backends import select
    from radseg.backends.triton import default_model_name, triton_factory
    from radseg.cli.segment import demo_image

    if "triton" not in select.available_names():  # until select.py registers it
        select.register_backend("triton", triton_factory, priority=50)
    image, spacing, modality, desc, click, ref = demo_image(data)
    click = tuple(click[:2])
    name = default_model_name("click")
    model_dir = radseg.load("click", threads=1).path
    proc, http, grpc = start_server(python, str(model_dir / "model.onnx"), name,
                                    ["--stock-rest-decode"] if stock_decode else [])
    try:
        models = {"onnxruntime-cpu": radseg.load(model_dir, backend="onnxruntime-cpu", threads=1),
                  "triton-http": radseg.load(model_dir, backend="triton", url=http, protocol="http"),
                  "triton-grpc": radseg.load(model_dir, backend="triton", url=grpc, protocol="grpc")}
        second = (click[0] + 3, click[1] + 3, False)
        if ref is not None:
            from radseg.click.robot import deterministic_click

            s = models["onnxruntime-cpu"].start(image, spacing=spacing, modality=modality)
            second = deterministic_click(ref, s.click(*click)) or second
        times = {k: {st: [] for st in STEPS} for k in models}
        identical = {k: True for k in models if k != "onnxruntime-cpu"}
        passes = []
        for r in range(repeat + 1):  # round 0 is the warm-up
            masks = {}
            for k, m in models.items():
                s = m.start(image, spacing=spacing, modality=modality)
                got = []
                t = time.perf_counter()
                got.append(s.click(*click).copy())
                t1 = time.perf_counter()
                first_passes = s.last_timing["passes"]
                got.append(s.click(second[0], second[1], positive=bool(second[2])).copy())
                t2 = time.perf_counter()
                got.append(s.move_last_click(second[0] + 1, second[1] + 1).copy())
                t3 = time.perf_counter()
                if r:
                    for st, dt in zip(STEPS, (t1 - t, t2 - t1, t3 - t2)):
                        times[k][st].append(dt)
                masks[k] = got
            passes.append(first_passes)
            for k in identical:
                identical[k] &= all(np.array_equal(a, b) for a, b in zip(masks["onnxruntime-cpu"], masks[k]))
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    p50 = {k: {st: 1e3 * statistics.median(v) for st, v in t.items()} for k, t in times.items()}
    diff = {k: {st: p50[k][st] - p50["onnxruntime-cpu"][st] for st in STEPS} for k in identical}
    return {"image": desc, "repeat": repeat, "http": http, "grpc": grpc, "p50_ms": p50, "diff_ms": diff,
            "identical_masks": identical, "bar_ms": BAR_MS, "kserve_stock_rest_decode": stock_decode,
            "first_click_passes": statistics.median(passes),
            "within_bar": all(v <= BAR_MS for d in diff.values() for v in d.values()),
            "loadavg": os.getloadavg()}


def print_report(r: dict) -> None:
    print(f"click latency p50 (ms), {r['repeat']} interleaved rounds, image {r['image']}, 1 ORT thread each side;"
          f" first click = {r['first_click_passes']:g} network pass(es)")
    print(f"{'backend':16s} " + " ".join(f"{s:>22s}" for s in STEPS) + "  masks identical")
    for k, t in r["p50_ms"].items():
        cells = []
        for st in STEPS:
            d = r["diff_ms"].get(k, {}).get(st)
            cells.append(f"{t[st]:8.2f}" + (f" ({d:+6.2f} vs local)" if d is not None else " " * 17))
        same = r["identical_masks"].get(k)
        print(f"{k:16s} " + " ".join(f"{c:>22s}" for c in cells) + f"  {'-' if same is None else same}")
    print(f"bar: triton within {r['bar_ms']:g} ms of local ORT on every step: {'yes' if r['within_bar'] else 'NO'}"
          f"; load average {', '.join(f'{v:.2f}' for v in r['loadavg'])}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=60)
    p.add_argument("--kserve-python", default=os.environ.get("RADSEG_KSERVE_PYTHON")
                   or str(REPO.parent / "kserve-venv" / "bin" / "python"), help="an interpreter with kserve")
    p.add_argument("--data", default=None)
    p.add_argument("--stock-rest-decode", action="store_true", help="kserve's own REST input decode (slower; see "
                   "tests/backends/kserve_onnx_server.py)")
    p.add_argument("--json", default=None)
    p.add_argument("--check", action="store_true", help="exit 1 when the bar is missed or a mask differs")
    a = p.parse_args(argv)
    r = bench(a.repeat, a.kserve_python, a.data, a.stock_rest_decode)
    print_report(r)
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps(r, indent=1))
    ok = r["within_bar"] and all(r["identical_masks"].values())
    return 0 if ok or not a.check else 1


if __name__ == "__main__":
    sys.exit(main())
