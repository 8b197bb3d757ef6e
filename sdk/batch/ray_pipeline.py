"""The batch on Ray Data: series read in CPU tasks, segmented and written by a pool of actors that each load the
model once.

    items --map(read_series_row, tasks)--> volumes --map_batches(SeriesWorker, actor pool)--> summary rows

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


def read_series_row(row: dict, source_root: Optional[str]) -> dict:
    """Ray task: read one series. Returns the row with "volume" (pickled Volume, b"" on failure), "read_s" and
    "read_error" (its cause, worded as in the summary, "" when the read worked)."""
    import warnings

    item = json.loads(row["item"])
    t = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            vol = read_item(item)
        blob, error = pickle.dumps(vol, protocol=pickle.HIGHEST_PROTOCOL), ""
    except Exception as exc:  # noqa: BLE001 - recorded as the series' failure
        blob, error = b"", clean_error(f"read: {type(exc).__name__}: {exc}", item, source_root)
    return {"item": row["item"], "volume": blob, "read_s": time.perf_counter() - t, "read_error": error}


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
        for item_json, blob, read_s, read_error in zip(batch["item"], batch["volume"], batch["read_s"],
                                                       batch["read_error"]):
            item = json.loads(item_json)
            vol = pickle.loads(blob) if len(blob) else None
            row = process_series(item, self.started, vol=vol, read_s=float(read_s), read_error=read_error or None,
                                 attempt=attempt_number(self.job.out, item["key"]))
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
    ctx.max_tasks_in_flight_per_actor = 2  # a dead actor loses at most two queued series (both retried)
    for name in ("ray.data", "ray"):
        logging.getLogger(name).setLevel(logging.ERROR)
    return ctx


def run_ray(source, job: BodyJob, address: Optional[str] = None, workers: Optional[int] = None,
            retry_failed: bool = False, progress: bool = True,
            on_row: Optional[Callable[[dict], None]] = None) -> BatchReport:
    """Every series of `source` on Ray (a local instance unless `address`), `workers` actors (default: one per CPU
    of the cluster). `on_row(row)` is called in the driver as each series finishes."""
    import ray
    import ray.data
    from ray.data import ActorPoolStrategy, TaskPoolStrategy

    t0 = time.perf_counter()
    modalities = job.start().modalities  # the model loads here once first: a bad model fails before any work
    plan = plan_batch(source, job, modalities, retry_failed)
    if not plan.todo:  # nothing left: no cluster needed
        return close_books(job, plan, time.perf_counter() - t0, "ray", 0)
    started_here = connect(address, workers if not address else None)
    try:
        n_workers = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        if plan.todo:
            quiet_ray_data()
            items = [{"item": json.dumps(item)} for item in plan.todo]
            ds = ray.data.from_items(items, override_num_blocks=len(items))
            with warnings.catch_warnings():
                # Retry limits have no named parameter in Ray 2.60-2.63 (pyproject pins below 2.64), only the
                # deprecated **ray_remote_args; Ray's default, retrying forever, would loop on a poison series.
                warnings.simplefilter("ignore", DeprecationWarning)
                # Reads at most one per worker at a time: unbounded, they take every CPU before the actors start
                # (8 reads at 0.25 CPU on 2 cores), and the first series finish late.
                ds = ds.map(read_series_row, fn_kwargs={"source_root": job.source_root}, num_cpus=READ_CPUS,
                            compute=TaskPoolStrategy(size=max(1, min(n_workers, len(items)))),
                            max_retries=MAX_RETRIES)
                ds = ds.map_batches(worker_class(job), batch_size=1, batch_format="numpy", num_cpus=ACTOR_CPUS,
                                    compute=ActorPoolStrategy(size=min(n_workers, len(items))),
                                    max_restarts=-1, max_task_retries=MAX_RETRIES)
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
