"""Archive throughput of `radseg batch body`: Ray (local instance) against the same work in a plain loop.

    .venv/bin/python benchmarks/bench_batch.py [--copies 10] [--min-slices 1] [--data ../shared/data] [--workers 2] [--json out.json]

Builds one archive folder (`radseg.bench.archive.build_archive`: the real CT and MR DICOM series of
../shared/data, --copies copies of each under fresh UIDs, and the 14 CHAOS MR volumes written as DICOM), then
runs on it, one after another, each into a fresh output folder, the whole job (read, body model, seg.dcm,
rtstruct.dcm, body.ply, montage.png, result.json, summary):
  loop, threads=all   `radseg.batch.run_loop`: one process, ONNX Runtime on all cores (the SDK's default)
  loop, threads=1     the same on one thread
  ray, actor reads    `radseg.batch.run_ray`: a local Ray instance started by the run (its start included),
                      --workers actors with one model thread each that read, segment and write (the default for
                      a folder)
  ray, read tasks     the same with the reads in Ray tasks ahead of the actors (the default for DICOMweb)
  ray, running        actor reads on a Ray instance started before the clock (a cluster that is already up,
                      as `--address` uses one); the actors' start and the model loads are included
and prints wall time, series per minute, slices per second, the ratio to the loop on all threads, and memory: the loop's peak
RSS, and each Ray worker's peak RSS (median and max, from the summary). Then the plan for an archive of
--plan-series series of --plan-slices slices each, at the per-core rate of "ray, running".
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import resource
import statistics
import sys
import tempfile
import time


def _slices(rows) -> int:
    return sum(int(r.get("slices") or 0) for r in rows if r.get("status") == "done")


def measure(name, fn) -> dict:
    t = time.perf_counter()
    report = fn()
    wall = time.perf_counter() - t
    slices = _slices(report.rows)
    rss = [float(r["worker_peak_rss_mb"]) for r in report.rows if r.get("worker_peak_rss_mb")]
    cpu = sum(float(r.get("cpu_seconds") or 0) for r in report.rows if r.get("status") == "done")
    out = {"name": name, "cpu_s_per_slice": round(cpu / slices, 4) if slices else None, "wall_s": round(wall, 2), "series": report.done + report.failed, "done": report.done,
           "failed": report.failed, "lost": report.lost, "slices": slices,
           "series_per_min": round(60 * (report.done + report.failed) / wall, 1),
           "slices_per_s": round(slices / wall, 1), "workers": report.workers}
    if name.startswith("ray"):
        out["worker_peak_rss_mb_median"] = round(statistics.median(rss), 0) if rss else None
        out["worker_peak_rss_mb_max"] = round(max(rss), 0) if rss else None
    return out


def plan(rate_slices_per_core_s: float, series: int, slices: int, node_cores: int, hours: float) -> dict:
    """Core-hours and nodes for `series` x `slices` at the measured per-core rate."""
    core_hours = series * slices / rate_slices_per_core_s / 3600.0
    return {"series": series, "slices_per_series": slices, "core_hours": round(core_hours, 0),
            "nodes_for_hours": {"hours": hours, "node_cores": node_cores,
                                "nodes": int(-(-core_hours // (node_cores * hours)))},
            "hours_on_one_node": round(core_hours / node_cores, 1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    ap.add_argument("--copies", type=int, default=10)
    ap.add_argument("--min-slices", type=int, default=1,
                    help="leave out series of fewer slices (e.g. 10: whole volumes only, no single test slices)")
    ap.add_argument("--workers", type=int, default=None, help="Ray actors (default: one per core)")
    ap.add_argument("--plan-series", type=int, default=100_000)
    ap.add_argument("--plan-slices", type=int, default=300)
    ap.add_argument("--node-cores", type=int, default=16)
    ap.add_argument("--plan-hours", type=float, default=24.0)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    from radseg.batch import BodyJob, run_loop, run_ray
    from radseg.bench.archive import build_archive

    work = pathlib.Path(tempfile.mkdtemp(prefix="radseg-bench-batch-"))
    archive = work / "archive"
    made = build_archive(archive, shared=args.data if os.path.isdir(args.data) else None, copies=args.copies)
    import shutil

    for name in list(made):
        if sum(1 for _ in (archive / name).iterdir()) < args.min_slices:
            shutil.rmtree(archive / name)
            del made[name]
    files = sum(1 for _ in archive.rglob("*.dcm"))
    print(f"archive: {len(made)} series, {files} files in {archive}; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores", flush=True)

    def job(name, threads):
        return BodyJob(out=str(work / name), threads=threads, source_root=str(archive))

    results = [measure("loop, threads=all", lambda: run_loop(str(archive), job("loop_all", None), progress=False))]
    loop_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    results[0]["peak_rss_mb"] = round(loop_rss, 0)
    results.append(measure("loop, threads=1", lambda: run_loop(str(archive), job("loop_1", 1), progress=False)))
    results.append(measure("ray, actor reads", lambda: run_ray(str(archive), job("ray_actor", 1),
                                                               workers=args.workers, progress=False)))
    results.append(measure("ray, read tasks", lambda: run_ray(str(archive), job("ray_tasks", 1), workers=args.workers,
                                                              progress=False, read_stage="tasks")))
    import ray

    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    try:
        results.append(measure("ray, running", lambda: run_ray(str(archive), job("ray_running", 1),
                                                               workers=args.workers, progress=False)))
    finally:
        ray.shutdown()
    running = results[4]
    loop_all = results[0]["series_per_min"]
    for r in results:
        r["x_loop_threads_all"] = round(r["series_per_min"] / loop_all, 2)
    print(f"\n{'run':<20}{'wall s':>8}{'series':>8}{'series/min':>12}{'slices/s':>10}{'x loop':>8}  memory")
    for r in results:
        mem = (f"peak RSS {r['peak_rss_mb']:.0f} MiB" if "peak_rss_mb" in r else
               f"worker peak RSS median {r.get('worker_peak_rss_mb_median')} / max {r.get('worker_peak_rss_mb_max')}"
               f" MiB" if r["name"].startswith("ray") else "")
        print(f"{r['name']:<20}{r['wall_s']:>8.1f}{r['series']:>8}{r['series_per_min']:>12.1f}"
              f"{r['slices_per_s']:>10.1f}{r['x_loop_threads_all']:>8.2f}  {mem}")
    # Per core: the rate on a running cluster, Ray's and the driver's own share included (an archive of 100,000
    # series pays the cluster's start once).
    per_core = running["slices_per_s"] / max(1, running["workers"])
    p = plan(per_core, args.plan_series, args.plan_slices, args.node_cores, args.plan_hours)
    print(f"\nplan: {p['series']:,} series x {p['slices_per_series']} slices at {per_core:.1f} slices/s per core "
          f"(Ray on a running instance, whole job): {p['core_hours']:,.0f} core-hours; "
          f"{p['nodes_for_hours']['nodes']} node(s) of {args.node_cores} cores for {args.plan_hours:.0f} h, "
          f"or {p['hours_on_one_node']:,.1f} h on one such node")
    doc = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}, "archive_series": len(made),
           "archive_files": files, "results": results, "plan": p}
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
