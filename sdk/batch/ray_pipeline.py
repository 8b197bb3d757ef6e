"""The batch on Ray Data: series segmented and written by a pool of actors that each load the model once, read
either in Ray tasks ahead of them or by the actors themselves.

    read_stage="tasks":  items --map(read_series_row, tasks)--> volumes --map_batches(SeriesWorker, actors)--> rows
    read_stage="actor":  items --map_batches(SeriesWorker, actors: read, segment, write)--> rows
    read_stage="auto":   "tasks" for a DICOMweb source (network-bound retrieves overlap the segmentation),
                         "actor" for a folder (a CPU-bound decode in a separate process only adds work: 30.6 s
                         against 28.0 s for 84 series on 2 cores, benchmarks/bench_batch.py)

Faults: a series that fails (corrupt, unreadable, wrong modality, unwritable) comes back as a "failed" row with
its cause, from inside the task or actor, so Ray never sees it as an error. A worker process that dies (killed,
out of memory, its node gone) is Ray's to handle: actors are restarted and their series retried on whatever node
has room (`MAX_RETRIES` times), read tasks likewise; a series that kills every worker it meets is dropped by Ray
after the retries (`max_errored_blocks` = unlimited) and recorded as lost by `close_books`. Ray's own progress
bars and logs are silenced; the driver shows one bar (done / failed / left).
"""
from __future__ import annotations

import json
import logging
import os
import pickle
import time
import warnings
from typing import Callable, Optional

from .jobs import BodyJob, clean_error, process_series
from .runner import BatchReport, attempt_number, close_books, count_row, plan_batch, progress_bar
from .sources import read_item

MAX_RETRIES = 3
# Of each worker's CPU share, what the actor asks for; read tasks get the rest, so both always fit.
ACTOR_CPUS, READ_CPUS = 0.75, 0.25
READ_STAGES = ("auto", "tasks", "actor")
# A folder of more files than this has its headers scanned on the cluster, LISTING_CHUNK files per Ray task
# (opening every file is most of a listing's time; one driver reads about 1,000 headers a second).
DISTRIBUTED_LISTING_FILES, LISTING_CHUNK = 20_000, 2_000
LISTINGS = ("auto", "local", "ray")
_NO_READ = {"volume": b"", "read_s": 0.0, "read_cpu_s": 0.0, "read_error": ""}


def read_series_row(row: dict, source_root: Optional[str]) -> dict:
    """Ray task: read one series. Returns the row with "volume" (pickled Volume, b"" on failure), "read_s" (wall),
    "read_cpu_s" (CPU) and "read_error" (its cause, worded as in the summary, "" when the read worked)."""
    import warnings

    item = json.loads(row["item"])
    t, cpu = time.perf_counter(), time.process_time()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            vol = read_item(item)
        blob, error = pickle.dumps(vol, protocol=pickle.HIGHEST_PROTOCOL), ""
    except Exception as exc:  # noqa: BLE001 - recorded as the series' failure
        blob, error = b"", clean_error(f"read: {type(exc).__name__}: {exc}", item, source_root)
    return {"item": row["item"], "volume": blob, "read_s": time.perf_counter() - t,
            "read_cpu_s": time.process_time() - cpu, "read_error": error}


class SeriesWorker:
    """Ray actor: loads the job's model once, then segments and writes series after series.

    `worker_class(job)` binds the job as a class attribute: the job then travels with the class definition, not
    as constructor arguments in the object store (which a restarted actor could find gone).
    """

    job: BodyJob

    def __init__(self):
        self.started = self.job.start()

    def __call__(self, batch: dict) -> dict:
        rows = []
        if "volume" not in batch:  # read_stage "actor": this worker reads the series itself
            batch = {"item": batch["item"], **{k: [v] * len(batch["item"]) for k, v in _NO_READ.items()}}
        for item_json, blob, read_s, read_cpu_s, read_error in zip(
                batch["item"], batch["volume"], batch["read_s"], batch["read_cpu_s"], batch["read_error"]):
            item = json.loads(item_json)
            vol = pickle.loads(blob) if len(blob) else None
            row = process_series(item, self.started, vol=vol, read_s=float(read_s), read_error=read_error or None,
                                 attempt=attempt_number(self.job.out, item["key"]), read_cpu_s=float(read_cpu_s))
            rows.append(json.dumps(row, default=str))
        return {"row": rows}


def worker_class(job: BodyJob) -> type:
    """A `SeriesWorker` subclass bound to `job`."""
    return type("SeriesWorker", (SeriesWorker,), {"job": job, "__module__": __name__})


def connect(address: Optional[str], num_cpus: Optional[int]) -> bool:
    """Join the Ray cluster at `address`, or start a local one with `num_cpus` (default: this machine's cores).

    Returns True when this call started Ray (the caller shuts it down), False when Ray was already initialised
    in this process (a test's shared instance, a notebook's), which is then used as it is.
    """
    import ray

    if ray.is_initialized():
        return False
    # Ray's C++ core logs at ERROR what is routine here (a worker killed and retried, constructor arguments of
    # Ray Data's own actors); the batch reports faults itself. RAY_BACKEND_LOG_LEVEL set by the caller wins.
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    kwargs = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    if address:
        ray.init(address=address, **kwargs)
    else:
        ray.init(num_cpus=num_cpus or os.cpu_count() or 1, **kwargs)
    return True


def quiet_ray_data():
    """Ray Data's progress bars and INFO logs off; failed blocks dropped instead of failing the batch."""
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    ctx.max_errored_blocks = -1
    # Series queued per actor: 1 leaves an actor idle while the next is dispatched (84 series: 28.1 s against 22-24 s
    # with 4, on 2 cores); a dead actor's queued series are all retried elsewhere.
    ctx.max_tasks_in_flight_per_actor = 4
    for name in ("ray.data", "ray"):
        logging.getLogger(name).setLevel(logging.ERROR)
    return ctx


def list_folder_on_ray(root, modalities, files: list, chunk: int | None = None):
    """`radseg.batch.listing.list_folder_series` with the header scan spread over Ray tasks (Ray connected)."""
    import ray

    from .listing import group_records, no_dicom_error, scan_headers

    chunk = chunk or LISTING_CHUNK
    scan = ray.remote(num_cpus=1, max_retries=MAX_RETRIES)(scan_headers)
    refs = [scan.remote(files[i:i + chunk]) for i in range(0, len(files), chunk)]
    records = [rec for part in ray.get(refs) for rec in part]
    if not records:
        raise no_dicom_error(root)
    return group_records(root, records, modalities)


def make_lister(listing: str, need_ray: Callable[[], None]):
    """A `plan_batch` lister: a DICOMweb source as usual; a folder walked here and its headers scanned here or,
    for `listing` "ray" (or "auto" past DISTRIBUTED_LISTING_FILES files), on the cluster (`need_ray()` first)."""
    from .listing import group_records, no_dicom_error, scan_headers, walk_files
    from .sources import is_url, list_dicomweb_series

    if listing not in LISTINGS:
        raise ValueError(f"listing must be one of {LISTINGS}, got {listing!r}")

    def lister(source, modalities):
        if is_url(source):
            return list_dicomweb_series(source, modalities)
        files = walk_files(source)
        if listing == "ray" or (listing == "auto" and len(files) > DISTRIBUTED_LISTING_FILES):
            need_ray()
            return list_folder_on_ray(source, modalities, files)
        records = scan_headers(files)
        if not records:
            raise no_dicom_error(source)
        return group_records(source, records, modalities)

    return lister


def resolve_read_stage(read_stage: str, source) -> str:
    """"tasks" or "actor" for `read_stage` (see the module docstring) and the kind of `source`."""
    from .sources import is_url

    if read_stage not in READ_STAGES:
        raise ValueError(f"read_stage must be one of {READ_STAGES}, got {read_stage!r}")
    if read_stage == "auto":
        return "tasks" if is_url(source) else "actor"
    return read_stage


def build_pipeline(ds, job: BodyJob, n_workers: int, read_stage: str, cluster_cpus: float):
    """The Ray Data stages after `ds` (rows {"item": json}): reads (tasks or in the actors), then the actor pool.

    Each worker's CPU share is one CPU, or less when more workers than CPUs were asked for (so that all of them
    are placed); with read tasks the actor asks for ACTOR_CPUS of it and each read for READ_CPUS."""
    share = min(1.0, cluster_cpus / n_workers)
    from ray.data import ActorPoolStrategy, TaskPoolStrategy

    with warnings.catch_warnings():
        # Retry limits have no named parameter in Ray 2.60-2.63 (pyproject pins below 2.64), only the deprecated
        # **ray_remote_args; Ray's default, retrying forever, would loop on a poison series.
        warnings.simplefilter("ignore", DeprecationWarning)
        if read_stage == "tasks":
            # At most one read per worker at a time: unbounded, they take every CPU before the actors start
            # (8 reads at 0.25 CPU on 2 cores), and the first series finish late.
            ds = ds.map(read_series_row, fn_kwargs={"source_root": job.source_root}, num_cpus=READ_CPUS * share,
                        compute=TaskPoolStrategy(size=max(1, n_workers)), max_retries=MAX_RETRIES)
        return ds.map_batches(worker_class(job), batch_size=1, batch_format="numpy",
                              num_cpus=(ACTOR_CPUS if read_stage == "tasks" else 1.0) * share,
                              compute=ActorPoolStrategy(size=n_workers), max_restarts=-1,
                              max_task_retries=MAX_RETRIES)


def plan_and_connect(source, job: BodyJob, address, workers, retry_failed: bool, listing: str):
    """(plan, whether this call started Ray). A first run lists the source while Ray starts; a rerun lists first
    and starts nothing when everything is done (or when its listing needs the cluster, starts Ray for that)."""
    import threading

    import ray

    ray_ready = threading.Event()
    state = {"started_here": False}

    def connect_once():
        if not ray_ready.is_set():
            state["started_here"] = connect(address, workers if not address else None)
            ray_ready.set()

    def make_plan(need_ray):
        modalities = job.start().modalities  # the model loads here once first: a bad model fails before any work
        return plan_batch(source, job, modalities, retry_failed, lister=make_lister(listing, need_ray))

    try:
        if os.path.isdir(os.path.join(job.out, "series")):
            plan = make_plan(connect_once)
            if not plan.todo:
                if state["started_here"]:
                    ray.shutdown()
                return plan, False
            connect_once()
            return plan, state["started_here"]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=1) as pool:
            planned = pool.submit(make_plan, ray_ready.wait)
            try:
                connect_once()
            finally:
                ray_ready.set()  # a lister waiting for Ray goes on (and fails there) if the connection failed
            return planned.result(), state["started_here"]
    except BaseException:
        if state["started_here"]:
            ray.shutdown()
        raise


def run_ray(source, job: BodyJob, address: Optional[str] = None, workers: Optional[int] = None,
            retry_failed: bool = False, progress: bool = True,
            on_row: Optional[Callable[[dict], None]] = None, read_stage: str = "auto",
            listing: str = "auto") -> BatchReport:
    """Every series of `source` on Ray (a local instance unless `address`), `workers` actors (default: one per CPU
    of the cluster), reads as `read_stage` says (module docstring), a folder's headers scanned here or on the
    cluster as `listing` says ("auto": on the cluster past DISTRIBUTED_LISTING_FILES files). `on_row(row)` is
    called in the driver as each series finishes."""
    import ray
    import ray.data

    resolve_read_stage(read_stage, source)  # bad values fail before Ray starts
    make_lister(listing, lambda: None)

    t0 = time.perf_counter()
    plan, started_here = plan_and_connect(source, job, address, workers, retry_failed, listing)
    if not plan.todo:  # nothing left (a rerun started no cluster for it)
        if started_here:
            ray.shutdown()
        return close_books(job, plan, time.perf_counter() - t0, "ray", 0)
    try:
        cpus = float(ray.cluster_resources().get("CPU", 1))
        n_workers = workers or max(1, int(cpus))
        quiet_ray_data()
        items = [{"item": json.dumps(item)} for item in plan.todo]
        ds = ray.data.from_items(items, override_num_blocks=len(items))
        ds = build_pipeline(ds, job, min(n_workers, len(items)), resolve_read_stage(read_stage, source), cpus)
        bar, counts = progress_bar(len(plan.todo), f"batch {job.name}", progress), {}
        try:
            for out_row in ds.iter_rows():
                row = json.loads(out_row["row"])
                count_row(bar, counts, row)
                if on_row is not None:
                    on_row(row)
        finally:
            bar.close()
        return close_books(job, plan, time.perf_counter() - t0, "ray", n_workers,
                           lost_reason=f"lost: the worker processing it died {MAX_RETRIES + 1} times (crash, out of "
                                       "memory or node lost); rerun with --retry-failed to try again")
    finally:
        if started_here:
            ray.shutdown()
