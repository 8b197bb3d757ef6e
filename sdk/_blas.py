"""A cap on numpy's BLAS threads while a model's pre- and post-processing runs (shared by every model session).

The crop and paste-back are a few small matrix products (S x ~W); a multi-threaded BLAS spends more time waking
and spinning its threads than computing them, and its spinning threads slow the backend's own: on this
project's 2-core machine, under load, pre + post measured 0.9 ms with one BLAS thread and 15-50 ms with two.
"""
from __future__ import annotations

import contextlib
import threading
from typing import Dict, Optional


def blas_limiter(threads: Optional[int]):
    """A context-manager factory that caps numpy's BLAS threads while the pre/post-processing runs.

    The crop and paste-back are a few small matrix products (S x ~W); a multi-threaded BLAS spends more time waking
    and spinning its threads than computing them, and its spinning threads slow the backend's own: on this
    project's 2-core machine, under load, pre + post measured 0.9 ms with one BLAS thread and 15-50 ms with two.
    Needs threadpoolctl (in the cpu extra); without it, or with threads=None, BLAS is left as it is. The cap is
    process-wide while held, so concurrent sessions share one reference-counted cap (see `_BlasCap`).
    """
    if threads is None:
        return contextlib.nullcontext
    try:
        from threadpoolctl import ThreadpoolController
    except ModuleNotFoundError:
        return contextlib.nullcontext
    key = int(threads)
    with _BLAS_CAPS_LOCK:
        if key not in _BLAS_CAPS:
            _BLAS_CAPS[key] = _BlasCap(ThreadpoolController().select(user_api="blas"), key)
        return _BLAS_CAPS[key]


class _BlasCap:
    """Reference-counted BLAS thread cap: the first holder sets it, the last one out restores the original limits,
    so sessions in several threads never leave BLAS capped (threadpoolctl's own context would, when interleaved)."""

    def __init__(self, controller, threads: int):
        self._controller, self._threads = controller, threads
        self._lock = threading.Lock()
        self._holders = 0
        self._limiter = None

    def __call__(self):
        return self

    def __enter__(self):
        with self._lock:
            if self._holders == 0:
                self._limiter = self._controller.limit(limits=self._threads)
            self._holders += 1
        return self

    def __exit__(self, *exc):
        with self._lock:
            self._holders -= 1
            if self._holders == 0 and self._limiter is not None:
                self._limiter.restore_original_limits()
                self._limiter = None
        return False


_BLAS_CAPS: Dict[int, _BlasCap] = {}
_BLAS_CAPS_LOCK = threading.Lock()




def hold_blas_cap(threads: int = 1) -> None:
    """Keep the shared BLAS cap of `threads` (the one models take around each pre/post-processing step) held for
    the rest of the process: for a process that runs model sessions in several threads at once (`radseg serve`).

    Why: the cap is released when its last holder leaves, which puts BLAS back to all its threads; with sessions
    in two threads that happens between nearly every pair of calls, and the re-woken BLAS threads spin against
    the other session's work (measured on 2 cores: two click sessions side by side, 178 clicks/s with the cap
    toggling, 376 with it held). Held once, each call's enter / leave only counts.
    """
    blas_limiter(threads)().__enter__()
