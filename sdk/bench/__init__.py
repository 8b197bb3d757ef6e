"""Benchmarks of radseg's native geometry and metrics against the libraries a user would otherwise pick.

``radseg bench`` (see :mod:`radseg.cli.bench`) is the entry point; :func:`run_benchmark` is the same thing as a
function returning a JSON-ready dict. Third-party libraries (scipy, OpenCV, scikit-image, edt, fill_voids, MONAI,
surface-distance, nibabel) come with ``pip install 'radseg[bench]'`` and are imported only while a case is built,
so a missing one turns its rows into "n/a (not installed)" instead of failing the run; a radseg function that this
build does not have yet shows "n/a (not built yet)".

Inputs: real BTCV abdominal CT organ labels when ``shared/data`` is found (see :mod:`radseg.bench.cases`),
otherwise clearly labelled synthetic organ-like masks.
"""
from __future__ import annotations

import os
import platform
import time

from .geometry import BUILDERS, GROUPS, SIZES, build_cases
from .runner import run_case
from .timing import available_cpus, parse_threads, thread_limit

CASE_KEYS = tuple(BUILDERS)


def parse_only(value: str | None) -> set[str] | None:
    """'edt,closing' -> {'edt', 'closing'}; None or '' -> None (every case). Unknown names -> ValueError."""
    if not value:
        return None
    tokens = {t.strip() for t in value.split(",") if t.strip()}
    known = set(GROUPS) | set(CASE_KEYS) | {"edt3d"}
    unknown = sorted(tokens - known)
    if unknown:
        raise ValueError(f"--only: unknown case or group {', '.join(unknown)}; choose from {', '.join(sorted(known))}")
    return tokens


def _versions() -> dict:
    from importlib import metadata

    out = {}
    for dist in ("radseg", "numpy", "scipy", "opencv-python-headless", "scikit-image", "edt", "fill-voids", "monai",
                 "torch", "surface-distance", "threadpoolctl"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def _loadavg():
    """1-minute load average (other processes competing for the CPUs), or None where the OS has none."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):  # pragma: no cover - not Unix
        return None


def run_benchmark(threads="all", repeat: int = 7, only=None, quick: bool = False, size: str = "full",
                  data=None, case: str = "sabs_00", budget_s: float | None = None, synthetic: bool = False,
                  progress=None) -> dict:
    """Run the selected cases and return ``{"meta": {...}, "cases": [...]}`` (see :mod:`radseg.bench.geometry`).

    Args:
        threads: 'all' or a positive int: thread limit for radseg (OpenMP), OpenCV, torch and edt.
        repeat: timed calls per contender at most (median reported); slow contenders get fewer (see `budget_s`).
        only: None, or a set / comma-separated string of case keys and groups (edt, closing, fill, surface, dice).
        quick: skip contenders that take seconds per call (scipy on 3D volumes, scipy/skimage closing) and use a
            smaller time budget.
        size: 'full' (512x512, 128x256x256, 128x512x512) or 'tiny' (smoke tests).
        data: folder holding btcv_sabs_ct/ (default: found automatically, else synthetic masks).
        case: BTCV case id (sabs_00 .. sabs_29).
        budget_s: time budget per contender and case (default 2 s, 0.5 s with quick).
        synthetic: use the synthetic organ-like masks even when real data is found.
        progress: optional callable(str) told about each case as it starts.
    """
    from .cases import get_source, synthetic_source

    n_threads = parse_threads(threads)
    if not isinstance(repeat, int) or repeat < 1:
        raise ValueError(f"repeat must be a positive integer, got {repeat!r}")
    selected = parse_only(only) if isinstance(only, str) or only is None else set(only)
    budget = budget_s if budget_s is not None else (0.5 if quick else 2.0)
    source = synthetic_source() if synthetic else get_source(data, case)
    meta = {"threads": n_threads, "cpus": available_cpus(), "repeat": repeat, "budget_s": budget, "quick": quick,
            "size": size, "data": source.description, "synthetic_data": source.synthetic,
            "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
            "python": platform.python_version(),
            "versions": _versions(), "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "loadavg_start": _loadavg()}
    results, start = [], time.perf_counter()
    with thread_limit(n_threads) as limits:
        meta["thread_limits"] = dict(limits)
        for c in build_cases(source, size, n_threads, selected):
            if progress:
                progress(f"{c.key}: {c.title}")
            results.append(run_case(c, repeat, budget, quick))
    meta["elapsed_s"] = round(time.perf_counter() - start, 1)
    meta["loadavg_end"] = _loadavg()
    return {"meta": meta, "cases": results}


__all__ = ["run_benchmark", "parse_only", "CASE_KEYS", "GROUPS", "SIZES"]
