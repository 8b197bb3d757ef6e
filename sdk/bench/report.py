"""Render a benchmark result (the dict from :func:`radseg.bench.run_benchmark`) as a text table or Markdown."""
from __future__ import annotations

import json
import math


def _ms(seconds) -> str:
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "-"
    ms = seconds * 1e3
    return f"{ms:.3f}" if ms < 1 else f"{ms:.2f}" if ms < 100 else f"{ms:.0f}"


def _diff(row: dict) -> str:
    """Short text for how a contender's output differs from radseg's."""
    vs = row.get("vs_radseg")
    if vs is None:
        return ""
    if "max_abs_diff" in vs:
        text = f"max|d|={vs['max_abs_diff']:.3g}"
        return text + (f", {vs['inf_mismatch']} inf differ" if vs["inf_mismatch"] else "")
    if "voxels_differing" in vs:
        return f"{vs['voxels_differing']} vox differ"
    if "abs_diff" in vs:
        return f"|d|={vs['abs_diff']:.2g}"
    return ""


def _values(row: dict) -> str:
    """Surface metric values (mm) with the relative difference from radseg's, for the values column."""
    vs, value = row.get("vs_radseg"), row.get("value")
    if isinstance(vs, dict) and "hausdorff" in vs:
        parts = []
        for key, short in (("hausdorff", "HD"), ("hausdorff_percentile", "HD95"), ("mean_surface_distance", "MSD")):
            rel = vs[key]["rel_diff"]
            parts.append(f"{short} {vs[key]['value']:.3f}" + (f" ({rel:+.1%})" if rel is not None else ""))
        return ", ".join(parts)
    if isinstance(value, dict):
        return f"HD {value['hausdorff']:.3f}, HD95 {value['hausdorff_percentile']:.3f}, " \
               f"MSD {value['mean_surface_distance']:.3f}"
    if isinstance(value, float):
        return f"{value:.5f}"
    if isinstance(vs, dict) and "value" in vs:
        return f"{vs['value']:.5f}"
    return ""


def _row_cells(row: dict) -> list[str]:
    if row["status"] != "ok":
        return [row["label"], "-", "", "", "", row["status"]]
    speed = row.get("radseg_speedup")
    extra = _values(row) or _diff(row)
    return [row["label"], _ms(row["median_s"]), _ms(min(row["times_s"])), str(row["n"]),
            "-" if speed is None else f"{speed:.2f}x", extra]


def header_lines(result: dict) -> list[str]:
    meta = result["meta"]
    return [
        f"radseg bench: threads={meta['threads']} (of {meta['cpus']} CPUs), repeat={meta['repeat']}, "
        f"budget={meta['budget_s']} s per contender, size={meta['size']}{', quick' if meta['quick'] else ''}",
        f"data: {meta['data']}",
        "thread limits: " + ", ".join(f"{k}={v}" for k, v in meta.get("thread_limits", {}).items()),
        f"load average (1 min) at start / end: {meta.get('loadavg_start')} / {meta.get('loadavg_end')}"
        + (f"; {meta['elapsed_s']} s in all" if meta.get("elapsed_s") is not None else ""),
        "times in ms: median and min of n timed calls (after one warm-up); "
        "'radseg faster by' = median(contender) / median(radseg), both from this run",
    ]


def to_text(result: dict) -> str:
    """A plain-text table per case, then its bars with PASS/MISS."""
    out = header_lines(result)
    cols = ["contender", "median ms", "min ms", "n", "radseg faster by", "output vs radseg"]
    for case in result["cases"]:
        out += ["", f"== {case['title']}  [{case['key']}]", f"   inputs: {case['inputs']}"]
        table = [cols] + [_row_cells(r) for r in case["rows"]]
        widths = [max(len(t[i]) for t in table) for i in range(len(cols) - 1)]
        for cells in table:
            out.append("   " + "  ".join(c.ljust(w) for c, w in zip(cells, widths)) + "  " + cells[-1])
        for bar in case["bars"]:
            out.append(f"   bar: {bar['bar']:<26} measured {bar['measured'] or '-':>10}  {bar['verdict']}")
    return "\n".join(out) + "\n"


def to_markdown(result: dict) -> str:
    """The same tables in Markdown (for benchmarks/README.md)."""
    out = [line + "  " for line in header_lines(result)]
    for case in result["cases"]:
        out += ["", f"**{case['title']}** (`{case['key']}`): {case['inputs']}", "",
                "| contender | median ms | min ms | n | radseg faster by | output vs radseg |",
                "|---|---:|---:|---:|---:|---|"]
        for r in case["rows"]:
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in _row_cells(r)) + " |")
        if case["bars"]:
            out += ["", "| must reach | measured | verdict |", "|---|---:|---|"]
            out += [f"| {b['bar']} | {b['measured'] or '-'} | {b['verdict']} |" for b in case["bars"]]
    return "\n".join(out) + "\n"


def to_json(result: dict) -> str:
    def default(o):
        if hasattr(o, "item"):
            return o.item()
        raise TypeError(f"not JSON serialisable: {type(o).__name__}")

    return json.dumps(result, indent=2, default=default, allow_nan=True)
