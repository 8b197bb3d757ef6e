"""Latency and load of `radseg serve` on loopback, beside the SDK's own click in this process.

    .venv/bin/python benchmarks/bench_serve.py [--clients 16] [--clicks 50] [--server-workers N] [--data ...]

Serves one MR volume (a CHAOS T2 volume as DICOM, or pydicom's MR slice without ../shared/data) with the real
`radseg serve` command on a free port, then measures, per click on the middle slice (a MONAI Label request is
stateless: each one starts a click session on its slice and clicks):
  sdk            `ClickModel.start(slice)` + `session.click` in this process (the same model, 1 request at a time)
  http json      POST /infer/radseg_click?output=json from one client (round trip, result params only)
  http image     the same with output=image (the label volume as .nii.gz)
  load           --clients threads x --clicks requests each (output=json), all at once: p50 / p99 latency,
                 errors, requests per second against the SDK's single-process rate, and the server's peak memory
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
import tempfile
import threading
import time


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--clicks", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--server-workers", type=int, default=None, help="radseg serve --workers (default: its own)")
    args = ap.parse_args(argv)

    import numpy as np
    import requests

    import radseg
    from radseg.bench.archive import write_chaos_series, build_archive
    from radseg.serve import Datastore

    folder = pathlib.Path(tempfile.mkdtemp(prefix="radseg-bench-serve-"))
    if (pathlib.Path(args.data) / "chaos_t2_mri").is_dir():
        write_chaos_series(pathlib.Path(args.data), folder, 1)
    else:
        build_archive(folder, shared=None)
    store = Datastore(folder)
    image = max(store.images, key=lambda k: len(store.images[k]["paths"]))
    vol = store.volume(image)
    s, r, c = (n // 2 for n in vol.shape)
    model = radseg.load("click")
    sdk = []
    for _ in range(args.repeat + 3):
        t = time.perf_counter()
        session = model.start(np.asarray(vol.array)[s], spacing=tuple(vol.spacing[1:]), modality=vol.modality)
        session.click(r, c)
        sdk.append((time.perf_counter() - t) * 1e3)
    sdk = sdk[3:]

    port = _free_port()
    extra = ["--workers", str(args.server_workers)] if args.server_workers else []
    proc = subprocess.Popen([sys.executable, "-m", "radseg", "serve", "--data", str(folder), "--port", str(port),
                             *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                requests.get(url + "/info/", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        params = json.dumps({"foreground": [[c, r, s]], "background": []})

        def one(session_, output):
            t = time.perf_counter()
            resp = session_.post(f"{url}/infer/radseg_click", params={"image": image, "output": output},
                                 files={"params": (None, params)}, timeout=120)
            return (time.perf_counter() - t) * 1e3, resp.status_code

        http = requests.Session()
        http.trust_env = False
        timings = {}
        for output in ("json", "image"):
            runs = [one(http, output) for _ in range(args.repeat + 3)][3:]
            timings[output] = [ms for ms, _ in runs]
        latencies, errors, lock = [], [], threading.Lock()

        # The load clients speak HTTP with http.client over kept-alive connections and a pre-encoded body: on 2
        # cores a heavier client (requests) takes CPU from the server it is measuring.
        boundary = "radsegbench"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"params\"\r\n\r\n{params}\r\n"
                f"--{boundary}--\r\n").encode()
        path = f"/infer/radseg_click?image={image}&output=json"

        def client():
            import http.client

            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            for _ in range(args.clicks):
                t = time.perf_counter()
                conn.request("POST", path, body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
                resp = conn.getresponse()
                resp.read()
                ms = (time.perf_counter() - t) * 1e3
                with lock:
                    latencies.append(ms)
                    if resp.status != 200:
                        errors.append(resp.status)
            conn.close()

        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        t0 = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        wall = time.perf_counter() - t0
        rss = 0.0
        with open(f"/proc/{proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    rss = int(line.split()[1]) / 1024.0
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    sdk_ms = statistics.median(sdk)
    print(f"image {list(vol.shape)} [slices, rows, cols], click on slice {s}; {os.cpu_count()} cores")
    print(f"sdk         median {sdk_ms:7.1f} ms  ({1000 / sdk_ms:.1f} clicks/s in one process)")
    for output, ms in timings.items():
        med = statistics.median(ms)
        print(f"http {output:<6} median {med:7.1f} ms  (+{med - sdk_ms:.1f} ms over the sdk)")
    rate = len(latencies) / wall
    print(f"load        {args.clients} clients x {args.clicks}: p50 {_percentile(latencies, 50):.1f} ms, p99 "
          f"{_percentile(latencies, 99):.1f} ms, {len(errors)} errors, {rate:.1f} requests/s = "
          f"{100 * rate / (1000 / sdk_ms):.0f} % of the sdk's rate; server peak RSS {rss:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
