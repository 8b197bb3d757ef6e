"""Latency and load of `radseg serve` on loopback, beside the SDK's own click in this process.

    .venv/bin/python benchmarks/bench_serve.py [--clients 16] [--clicks 50] [--server-workers N] [--data ...]

Serves one MR volume (a CHAOS T2 volume as DICOM, or pydicom's MR slice without ../shared/data) with the real
`radseg serve` command on a free port, then measures clicks on the middle slice, two ways:

The viewer's clicks (a session per client; each click adds one to the session's clicks on that slice):
  sdk session    `session.click` in this process, --clicks clicks in one ClickSession (1 at a time, all threads)
  http session   POST /api/sessions/{id}/click from one client, --clicks clicks in one session (round trip)
  load session   --clients threads, each its own session, --clicks clicks each, all at once: p50 / p99 latency,
                 errors, clicks per second against the SDK session's single-process rate, the server's peak memory
MONAI Label's clicks (stateless: each request starts a click session on its slice and clicks once):
  sdk stateless  `ClickModel.start(slice)` + `session.click` in this process
  http json      POST /infer/radseg_click?output=json from one client (round trip, result params only)
  http image     the same with output=image (the label volume as .nii.gz)
  load infer     --clients threads x --clicks requests each (output=json), as load session
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
    sdk_session = []
    for _ in range(3):  # three sessions of --clicks clicks, the same point each time (as the load clients)
        session = model.start(np.asarray(vol.array)[s], spacing=tuple(vol.spacing[1:]), modality=vol.modality)
        for _ in range(args.clicks):
            t = time.perf_counter()
            session.click(r + 0.25, c + 0.25)
            sdk_session.append((time.perf_counter() - t) * 1e3)

    port = _free_port()
    extra = ["--workers", str(args.server_workers)] if args.server_workers else []
    proc = subprocess.Popen([sys.executable, "-m", "radseg", "serve", "--data", str(folder), "--port", str(port),
                             *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # a full pipe would stall it
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
        # The load clients speak HTTP with http.client over kept-alive connections and pre-encoded bodies: on 2
        # cores a heavier client (requests) takes CPU from the server it is measuring.
        boundary = "radsegbench"
        infer_body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"params\"\r\n\r\n{params}\r\n"
                      f"--{boundary}--\r\n").encode()
        click_body = json.dumps({"slice": s, "row": r + 0.25, "col": c + 0.25, "positive": True}).encode()

        def open_session():
            return http.post(f"{url}/api/sessions", json={"image": image}, timeout=120).json()["session"]

        def session_clicks(sid):
            out = []
            for _ in range(args.clicks):
                t = time.perf_counter()
                resp = http.post(f"{url}/api/sessions/{sid}/click", data=click_body,
                                 headers={"Content-Type": "application/json"}, timeout=120)
                out.append(((time.perf_counter() - t) * 1e3, resp.status_code))
            return out

        timings["session"] = [ms for _ in range(3) for ms, _ in session_clicks(open_session())]
        loads = {"session": _load(port, args, lambda: ("/api/sessions/%s/click" % open_session(), click_body,
                                                       "application/json")),
                 "infer": _load(port, args, lambda: (f"/infer/radseg_click?image={image}&output=json", infer_body,
                                                     f"multipart/form-data; boundary={boundary}"))}
        rss = 0.0
        with open(f"/proc/{proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    rss = int(line.split()[1]) / 1024.0
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(f"image {list(vol.shape)} [slices, rows, cols], clicks on slice {s}; {os.cpu_count()} cores; "
          f"{args.clients} clients x {args.clicks} clicks under load")
    refs = {"session": statistics.median(sdk_session), "infer": statistics.median(sdk)}
    print(f"sdk session    median {refs['session']:6.1f} ms  ({1000 / refs['session']:.1f} clicks/s in one process)")
    print(f"sdk stateless  median {refs['infer']:6.1f} ms  ({1000 / refs['infer']:.1f} clicks/s in one process)")
    for name, ref in (("session", "session"), ("json", "infer"), ("image", "infer")):
        med = statistics.median(timings[name])
        print(f"http {name:<9} median {med:6.1f} ms  (+{med - refs[ref]:.1f} ms over the sdk)")
    for name, (latencies, errors, wall) in loads.items():
        rate = len(latencies) / wall
        print(f"load {name:<9} p50 {_percentile(latencies, 50):.1f} ms, p99 {_percentile(latencies, 99):.1f} ms, "
              f"{len(errors)} errors, {rate:.1f} clicks/s = {100 * rate * refs[name] / 1000:.0f} % of the sdk's rate")
    print(f"server peak RSS {rss:.0f} MiB (image cache bound {2048} MiB, {args.clients} sessions of "
          f"{int(np.prod(vol.shape)) * 2 / 2**20:.1f} MiB of masks each)")
    return 0


def _load(port, args, target):
    """`args.clients` threads, each sending `args.clicks` requests to its `target()` = (path, body, content type)
    over one kept-alive connection, all at once; returns (latencies in ms, error statuses, wall seconds)."""
    import http.client

    latencies, errors, lock = [], [], threading.Lock()
    targets = [target() for _ in range(args.clients)]
    start = threading.Barrier(args.clients + 1)

    def client(path, body, content_type):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        start.wait()
        for _ in range(args.clicks):
            t = time.perf_counter()
            conn.request("POST", path, body, {"Content-Type": content_type})
            resp = conn.getresponse()
            resp.read()
            ms = (time.perf_counter() - t) * 1e3
            with lock:
                latencies.append(ms)
                if resp.status != 200:
                    errors.append(resp.status)
        conn.close()

    threads = [threading.Thread(target=client, args=t) for t in targets]
    for th in threads:
        th.start()
    start.wait()
    t0 = time.perf_counter()
    for th in threads:
        th.join()
    return latencies, errors, time.perf_counter() - t0


if __name__ == "__main__":
    raise SystemExit(main())
