"""Evaluation reports: a JSON of every number, a Dice-against-clicks PNG, and a text table, with the paper's
numbers (seed 003, Sakinis et al.) beside ours. matplotlib is imported only by `plot_dice_vs_clicks`.
"""
from __future__ import annotations

import json
import os
from typing import Dict, Optional

# Seed 003's reported mean Dice after n clicks (slice-wise): spleen was a training structure; colon cancer was never
# seen in training.
PAPER = {
    "reference": "Sakinis et al. 2019, Interactive segmentation of medical images through fully convolutional "
                 "neural networks (seed 003)",
    "spleen (seen)": {"1": 0.89, "2": 0.93, "5": 0.95, "10": 0.96},
    "colon cancer (unseen)": {"1": 0.64, "5": 0.81},
}
#: What sits beside each paper curve: our structures ("dataset/structure") or groups ("group:NAME").
PAPER_COUNTERPARTS = {
    "spleen (seen)": ["btcv/spleen", "group:btcv_heldout"],
    "colon cancer (unseen)": ["group:unseen", "totalseg_ct/colon"],
}


def comparison(summary: dict) -> dict:
    """The paper's curves beside ours at the same click counts: {curve: {"paper": {k: dice}, "ours": {source:
    {k: dice}}}}; a source missing from this evaluation is left out."""
    out = {}
    for name, curve in PAPER.items():
        if not isinstance(curve, dict):
            continue
        ours = {}
        for source in PAPER_COUNTERPARTS.get(name, []):
            s = (summary["groups"].get(source[6:]) if source.startswith("group:")
                 else summary["structures"].get(source))
            if s is not None:
                ours[source] = {k: round(s["dice"][int(k) - 1], 4) for k in curve if int(k) <= len(s["dice"])}
        out[name] = {"paper": curve, "ours": ours}
    return out


def write_json(path, summary: dict, meta: Optional[dict] = None, cases: Optional[list] = None) -> str:
    """Write {"meta", "summary", "paper", "comparison", "cases"} as indented JSON; returns the path."""
    doc = {"meta": meta or {}, "summary": summary, "paper": PAPER, "comparison": comparison(summary)}
    if cases is not None:
        doc["cases"] = cases
    path = os.fspath(path)
    with open(path, "w") as f:
        json.dump(doc, f, indent=1, default=_jsonable)
        f.write("\n")
    return path


def _jsonable(o):
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def case_records(results) -> list:
    """Per-case numbers as plain dicts (for the JSON)."""
    return [{
        "structure": r.structure, "dataset": r.dataset, "patient": r.patient, "slice": r.slice_index,
        "group": r.group, "seen": r.seen, "area_px": r.area_px, "dice": [round(d, 5) for d in r.dice],
        "hd95": {str(k): round(v, 4) for k, v in r.hd95.items()}, "msd": {str(k): round(v, 4) for k, v in r.msd.items()},
        "noc": {str(int(round(t * 100))): n for t, n in r.noc.items()}, "clicks": r.clicks,
        "empty_predictions": r.empty_predictions,
    } for r in results]


def text_table(summary: dict, report_at=(1, 2, 3, 5, 10, 15)) -> str:
    """A fixed-width table: one row per structure, then one per group."""
    head = f"{'structure':34s} {'n':>5s} " + " ".join(f"D@{k:<4d}" for k in report_at) + \
        f" {'HD95@5':>7s} {'MSD@5':>6s} {'NoC85':>6s} {'NoC90':>6s}"
    lines = [head, "-" * len(head)]

    def row(name, s, n):
        return (f"{name[:34]:34s} {n:5d} " + " ".join(f"{s['dice_at'][str(k)]:.3f} " for k in report_at)
                + f" {s['hd95_at']['5']:7.2f} {s['msd_at']['5']:6.2f} {s['noc']['85']:6.2f} {s['noc']['90']:6.2f}")

    for key, s in summary["structures"].items():
        lines.append(row(("" if s["seen"] else "*") + key, s, s["cases"]))
    lines.append("-" * len(head))
    for g, s in summary["groups"].items():
        lines.append(row(f"[{g}] ({len(s['structures'])} structures)", s, s["cases"]))
    lines.append("* = structure not in the training labels; HD95 / MSD in mm; NoC capped at 20")
    return "\n".join(lines)


def markdown_tables(summary: dict, report_at=(1, 2, 3, 5, 10, 15)) -> str:
    """Markdown for a model card: a table of groups (with HD95 / MSD after 5 clicks and NoC), a table of structures
    ("*" marks structures never in the training labels), and the paper's curves beside ours."""
    dice_cols = " | ".join(f"Dice@{k}" for k in report_at)
    rule = "|---" * (len(report_at) + 7) + "|"
    lines = [f"| group | structures | cases | {dice_cols} | HD95@5 mm | MSD@5 mm | NoC@85 | NoC@90 |", rule]
    for g, s in summary["groups"].items():
        lines.append(f"| {g} | {len(s['structures'])} | {s['cases']} | "
                     + " | ".join(f"{s['dice_at'][str(k)]:.3f}" for k in report_at)
                     + f" | {s['hd95_at']['5']:.2f} | {s['msd_at']['5']:.2f} | {s['noc']['85']:.2f} | {s['noc']['90']:.2f} |")
    lines += ["", f"| structure | cases | {dice_cols} | NoC@90 |", "|---" * (len(report_at) + 3) + "|"]
    for key, s in summary["structures"].items():
        lines.append(f"| {'' if s['seen'] else '*'}{key} | {s['cases']} | "
                     + " | ".join(f"{s['dice_at'][str(k)]:.3f}" for k in report_at) + f" | {s['noc']['90']:.2f} |")
    lines += ["", "| paper curve | paper | ours |", "|---|---|---|"]
    for name, c in comparison(summary).items():
        for source, ours in c["ours"].items():
            paper = ", ".join(f"{k}: {v:.2f}" for k, v in c["paper"].items())
            lines.append(f"| {name} vs {source} | {paper} | " + ", ".join(f"{k}: {v:.3f}" for k, v in ours.items()) + " |")
    return "\n".join(lines) + "\n"


def plot_dice_vs_clicks(path, summary: dict, title: str = "radseg click model: Dice against clicks") -> str:
    """Mean Dice after 1..N clicks per group (thick) and per structure (thin), with the paper's points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = {g: s for g, s in summary["groups"].items() if g not in ("seen", "unseen")}
    fig, axes = plt.subplots(1, 2, figsize=(13, 5), sharey=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (g, s) in enumerate(groups.items()):
        color = colors[i % len(colors)]
        ax = axes[0]
        ks = range(1, len(s["dice"]) + 1)
        ax.plot(ks, s["dice"], color=color, lw=2.5, label=f"{g} (mean of {len(s['structures'])})")
        for key in s["structures"]:
            d = summary["structures"][key]["dice"]
            axes[1].plot(range(1, len(d) + 1), d, color=color, lw=0.8, alpha=0.7)
            axes[1].annotate(key.split("/")[-1], (1, d[0]), fontsize=6, color=color, xytext=(2, 0),
                             textcoords="offset points")
    for name, marker in (("spleen (seen)", "s"), ("colon cancer (unseen)", "^")):
        curve = PAPER[name]
        ks = [int(k) for k in curve]
        for ax in axes:
            ax.plot(ks, list(curve.values()), "k" + marker + "--", ms=7, mfc="none", label=f"paper: {name}")
    spleen = summary["structures"].get("btcv/spleen")
    if spleen:
        axes[0].plot(range(1, len(spleen["dice"]) + 1), spleen["dice"], "k:", lw=1.5, label="ours: BTCV spleen")
    for ax, t in zip(axes, ("groups (structures weigh equally)", "per structure")):
        ax.set_xlabel("clicks")
        ax.set_title(t)
        ax.grid(alpha=0.3)
        ax.set_xticks([1, 2, 3, 5, 10, 15, 20])
    axes[0].set_ylabel("mean slice Dice")
    axes[0].set_ylim(0, 1)
    axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    path = os.fspath(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
