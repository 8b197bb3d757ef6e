"""Timing primitives: thread limits for every library under test, and interleaved median timing.

The benchmark machine may be shared (a second core that comes and goes), so the contenders of one case are timed
in alternating rounds (a a a, b b b, c c c, then c c c, b b b, a a a, ...) rather than each to completion: a slow
phase of the machine then hits all of them alike, and the ratios computed within one run stay meaningful. Calls
of one contender run back to back inside a round, with a short pause between contenders, because libraries with
their own OpenMP runtimes (radseg, torch, OpenCV) leave worker threads spinning for a while after a parallel
region; strict call-by-call alternation would make each one pay for the previous one's spinning threads.
Each contender gets its own number of repetitions, capped by a time budget, so that a reference that takes seconds
per call (scipy on 3D volumes) is called once or twice while a millisecond kernel gets the full `repeat`.
"""
from __future__ import annotations

import contextlib
import dataclasses
import gc
import os
import statistics
import time
from typing import Callable, Sequence


def available_cpus() -> int:
    """CPUs this process may run on (affinity-aware)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def parse_threads(value) -> int:
    """'all' -> every available CPU; a positive integer (or its string) -> that many threads."""
    if isinstance(value, str) and value.strip().lower() == "all":
        return available_cpus()
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"threads must be a positive integer or 'all', got {value!r}") from None
    if n < 1:
        raise ValueError(f"threads must be a positive integer or 'all', got {value!r}")
    return n


@contextlib.contextmanager
def thread_limit(n: int):
    """Limit OpenMP/BLAS pools (radseg's native core included), OpenCV and torch to `n` threads inside the block.

    libgomp reads OMP_NUM_THREADS once, when it is loaded (which `import radseg` already did), so the limit is set
    through threadpoolctl (omp_set_num_threads on the loaded runtimes) when it is installed. Libraries with their
    own knobs (cv2.setNumThreads, torch.set_num_threads) are set too and restored afterwards. The `edt` package
    takes its thread count as an argument: callers pass `n` to it. Yields {what: limit} for what was limited.
    """
    restore, applied = [], {}
    with contextlib.ExitStack() as stack:
        try:
            from threadpoolctl import threadpool_limits

            stack.enter_context(threadpool_limits(limits=n))
            applied["openmp+blas"] = n
        except ImportError:  # without threadpoolctl the OpenMP pool keeps its start-up size
            applied["openmp+blas"] = "not limited (install threadpoolctl)"
        try:
            import cv2

            restore.append((cv2.setNumThreads, cv2.getNumThreads()))
            cv2.setNumThreads(n)
            applied["cv2"] = n
        except ImportError:
            pass
        try:
            import torch

            restore.append((torch.set_num_threads, torch.get_num_threads()))
            torch.set_num_threads(n)
            applied["torch"] = n
        except ImportError:
            pass
        try:
            yield applied
        finally:
            for setter, old in restore:
                setter(old)


@dataclasses.dataclass
class Timing:
    """Wall-clock seconds of each timed call (the first, warm-up call is excluded unless it was the only one)."""

    times: list[float]
    warmup: float
    error: str | None = None  # the warm-up call raised: "TypeName: message"; times is then empty

    @property
    def median(self) -> float:
        return statistics.median(self.times) if self.times else float("nan")

    @property
    def n(self) -> int:
        return len(self.times)


def _time_once(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def time_interleaved(fns: Sequence[Callable[[], object]], repeat: int, budget_s: float,
                     on_warmup: Callable[[int, object], None] | None = None, rounds: int = 3,
                     pause_s: float = 0.005) -> list[Timing]:
    """Time each zero-argument callable in alternating rounds; returns one :class:`Timing` per callable, in order.

    Each callable is first run once (warm-up: imports, caches, page faults); its output goes to
    ``on_warmup(index, output)`` (for result checks) and is then dropped, so large outputs do not pile up. It then
    gets ``n = min(repeat, budget_s / warm-up time)`` timed calls, at least one, spread over `rounds` rounds (forward
    order, then reverse, ...), back to back within a round, after a `pause_s` sleep. A callable whose warm-up alone
    exceeded the budget is not called again and its warm-up time is its only sample. The garbage collector is
    disabled while timing. A callable whose warm-up raises is not timed: its Timing carries the error.
    """
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1, got {repeat}")
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    warm, errors = [], []
    for i, fn in enumerate(fns):
        try:
            t, out = _time_once(fn)
        except Exception as exc:  # noqa: BLE001 - reported per contender, the others still run
            warm.append(float("nan"))
            errors.append(f"{type(exc).__name__}: {exc}")
            continue
        warm.append(t)
        errors.append(None)
        if on_warmup is not None:
            on_warmup(i, out)
        del out
    counts = [0 if e or t > budget_s else max(1, min(repeat, int(budget_s / max(t, 1e-9))))
              for t, e in zip(warm, errors)]
    samples: list[list[float]] = [[] for _ in fns]
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(rounds):
            order = range(len(fns)) if r % 2 == 0 else range(len(fns) - 1, -1, -1)
            for i in order:
                block = counts[i] * (r + 1) // rounds - counts[i] * r // rounds  # n split evenly over rounds
                if block:
                    time.sleep(pause_s)
                    samples[i] += [_time_once(fns[i])[0] for _ in range(block)]
    finally:
        if was_enabled:
            gc.enable()
    return [Timing([] if e else (s or [w]), w, e) for s, w, e in zip(samples, warm, errors)]
