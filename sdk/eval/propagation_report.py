"""Propagation evaluation reports: eval.json (every number), eval.md (model-card tables), a text table and a
Dice-against-corrections PNG, with the paper's numbers (seed 001) beside ours. matplotlib is imported only by
`plot_dice_vs_corrections`.
"""
from __future__ import annotations

import json
import os
from typing import Optional

#: Seed 001's one-seed-slice volume Dice (best configuration: U-Net depth 4, prior rotation +/-1 deg, scale +/-10 %;
#: Tables 2 and 5): seen organs, and the right kidney held out of its training.
PAPER = {
    "reference": "seed 001: propagation of a seed slice's mask with a U-Net (image + prior), Tables 2, 3, 5; mean of "
                 "5-fold cross-validation; one seed slice (the middle), no corrections",
    "one_seed_slice": {"kidney": 0.90, "liver": 0.88, "spleen": 0.92, "pancreas": 0.61,
                       "right kidney (unseen)": 0.88},
}
#: What sits beside each paper number: our structures ("dataset/structure") or groups ("group:NAME"). The paper's
#: kidney is its left kidney; our right kidney was a training structure (the paper's was not).
PAPER_COUNTERPARTS = {
    "kidney": ["btcv/left kidney", "chaos/left kidney"],
    "liver": ["btcv/liver", "chaos/liver"],
    "spleen": ["btcv/spleen", "chaos/spleen"],
    "pancreas": ["btcv/pancreas"],
    "right kidney (unseen)": ["btcv/right kidney", "group:unseen"],
}


def comparison(summary: dict) -> dict:
    """{paper structure: {"paper": dice, "ours": {source: (Dice after 0 corrections, seen)}}}; sources missing from
    this evaluation are left out."""
    out = {}
    for name, value in PAPER["one_seed_slice"].items():
        ours = {}
        for source in PAPER_COUNTERPARTS.get(name, []):
            if source.startswith("group:"):
                s = summary["groups"].get(source[6:])
                if s is not None:
                    ours[source] = {"dice": s["dice"][0], "seen": source[6:] != "unseen"}
            else:
                s = summary["structures"].get(source)
                if s is not None:
                    ours[source] = {"dice": s["dice"][0], "seen": s["seen"], "cases": s["cases"]}
        out[name] = {"paper": value, "ours": ours}
    return out


def write_json(path, summary: dict, meta: Optional[dict] = None, cases: Optional[list] = None) -> str:
    """Write {"meta", "summary", "paper", "comparison", "cases"} as indented JSON (atomically); returns the path."""
    from radseg._atomic import write_atomic

    doc = {"meta": meta or {}, "summary": summary, "paper": PAPER, "comparison": comparison(summary)}
    if cases is not None:
        doc["cases"] = cases
    path = os.fspath(path)
    text = json.dumps(doc, indent=1, default=_jsonable) + "\n"

    def write(tmp):
        with open(tmp, "w") as f:
            f.write(text)

    return write_atomic(path, write)


def _jsonable(o):
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _stops_text(stops: dict) -> str:
    """"up vanished 3, volume end 1 / down ..." shortened: the commonest reason per direction."""
    parts = []
    for d in ("up", "down"):
        reasons = stops.get(d, {})
        reasons = reasons.get("reasons", reasons)
        if reasons:
            parts.append(f"{d}: " + ", ".join(f"{r} {n}" for r, n in sorted(reasons.items(), key=lambda x: -x[1])))
    return "; ".join(parts)


def _realistic_cols(s: dict, clicks) -> list:
    return [s["realistic"].get(str(n), {}).get("dice") for n in clicks]


def _f(v, fmt="{:.3f}") -> str:
    return "-" if v is None else fmt.format(v)


def text_table(summary: dict, corrections: int, clicks=(1, 3)) -> str:
    """A fixed-width table: one row per structure, then one per group. Columns: cases, Dice after 0..N corrections,
    HD95 / MSD after 0 and N, Dice with click seeds, early stop (slices) up / down."""
    ks = list(range(corrections + 1))
    head = (f"{'structure':36s} {'n':>4s} " + " ".join(f"D@{k:<4d}" for k in ks)
            + f" {'HD95@0':>7s} {'HD95@' + str(corrections):>7s} {'MSD@0':>6s} "
            + " ".join(f"{'R' + str(n) + 'clk':>6s}" for n in clicks) + f" {'early up/down':>13s}")
    lines = [head, "-" * len(head)]

    def row(name, s, n, early=""):
        return (f"{name[:36]:36s} {n:4d} " + " ".join(f"{s['dice'][k]:.3f} " for k in ks)
                + f" {s['hd95'][0]:7.2f} {s['hd95'][corrections]:7.2f} {s['msd'][0]:6.2f} "
                + " ".join(f"{_f(v):>6s}" for v in _realistic_cols(s, clicks)) + f" {early:>13s}")

    for key, s in summary["structures"].items():
        early = f"{s['stops']['up']['early_by_mean']:.1f}/{s['stops']['down']['early_by_mean']:.1f}"
        lines.append(row(("" if s["seen"] else "*") + key, s, s["cases"], early))
    lines.append("-" * len(head))
    for g, s in summary["groups"].items():
        lines.append(row(f"[{g}] ({len(s['structures'])} structures)", s, s["cases"]))
    lines.append("* = structure not in the training labels; D@k = volume Dice after k corrections; HD95 / MSD in mm; "
                 "Rnclk = Dice seeded by the click model after n clicks (no corrections); early = slices between "
                 "where propagation stopped and the structure's end (negative: ran past it)")
    return "\n".join(lines)


def markdown_tables(summary: dict, corrections: int, clicks=(1, 3), meta: Optional[dict] = None) -> str:
    """Markdown for a model card: groups against corrections (Dice, HD95, MSD), per structure Dice at 0 and 3
    corrections, the realistic protocol, the paper's numbers beside ours, where propagation stopped, and the
    protocol."""
    ks = list(range(corrections + 1))
    mid = min(3, corrections)
    groups = summary["groups"]
    lines = ["## Propagation model: volume Dice against corrections", ""]
    for metric, title, fmt in (("dice", "mean volume Dice", "{:.3f}"), ("hd95", "mean HD95 (mm)", "{:.2f}"),
                               ("msd", "mean surface distance (mm)", "{:.2f}")):
        lines += [f"**{title}** after k corrections (true-mask seed on the middle slice)", "",
                  "| group | structures | cases | " + " | ".join(f"k={k}" for k in ks) + " |",
                  "|---" * (len(ks) + 3) + "|"]
        for g, s in groups.items():
            lines.append(f"| {g} | {len(s['structures'])} | {s['cases']} | "
                         + " | ".join(fmt.format(v) for v in s[metric]) + " |")
        lines.append("")
    real_head = "".join(f" {n}-click seed Dice |" for n in clicks)
    lines += ["**Per structure** (`*`: never in the training labels; +/-: standard deviation over cases; stops: "
              "why each direction stopped, over the cases)", "",
              f"| structure | cases | Dice k=0 | +/- | Dice k={mid} | HD95 k=0 mm | MSD k=0 mm |{real_head} "
              "stops after k=0 |", "|---" * (8 + len(clicks)) + "|"]
    for key, s in summary["structures"].items():
        real = "".join(f" {_f(v)} |" for v in _realistic_cols(s, clicks))
        lines.append(f"| {'' if s['seen'] else '*'}{key} | {s['cases']} | {s['dice'][0]:.3f} | {s['dice_std'][0]:.3f} "
                     f"| {s['dice'][mid]:.3f} | {s['hd95'][0]:.2f} | {s['msd'][0]:.2f} |{real} "
                     f"{_stops_text(s['stops'])} |")
    if any(s["realistic"] for s in groups.values()):
        lines += ["", "**Realistic protocol**: the seed mask is the click model's after n deterministic clicks on the "
                      "middle slice; one propagation, no corrections", "",
                  "| group | volume Dice, true seed | " + " | ".join(f"{n}-click seed: slice Dice | volume Dice | HD95 mm"
                                                          for n in clicks) + " |",
                  "|---|---" + "|---|---|---" * len(clicks) + "|"]
        for g, s in groups.items():
            cells = []
            for n in clicks:
                r = s["realistic"].get(str(n))
                cells += ["-"] * 3 if r is None else [f"{r['seed_dice']:.3f}", f"{r['dice']:.3f}", f"{r['hd95']:.2f}"]
            lines.append(f"| {g} | {s['dice'][0]:.3f} | " + " | ".join(cells) + " |")
    lines += ["", "**Paper (seed 001) beside ours**, one seed slice, no corrections", "",
              "| structure | paper | ours | source |", "|---|---|---|---|"]
    for name, c in comparison(summary).items():
        if not c["ours"]:
            lines.append(f"| {name} | {c['paper']:.2f} | - | not in this evaluation |")
        for source, o in c["ours"].items():
            note = "" if o.get("seen", True) else " (unseen)"
            if name.endswith("(unseen)") and source.startswith("btcv/"):
                note = " (seen in our training)"
            lines.append(f"| {name} | {c['paper']:.2f} | {o['dice']:.3f} | {source}{note} |")
    lines += ["", "The paper's numbers are 5-fold cross-validation means on its own data; ours are held-out patients "
                  "(BTCV, CHAOS, MSD) and never-seen structures (TotalSegmentator labels are made by a model, not "
                  "by experts)."]
    if meta:
        lines += ["", f"Protocol: {meta.get('protocol', '')}", "",
                  f"Model: `{meta.get('model')}` ({meta.get('backend')}); command: `{meta.get('command')}`"]
        for note in meta.get("skipped", []):
            lines.append(f"- skipped: {note}")
    return "\n".join(lines) + "\n"


def plot_dice_vs_corrections(path, summary: dict, title: str = "radseg propagation: volume Dice against corrections"):
    """Mean Dice after 0..N corrections per group (thick) and per structure (thin), with the paper's one-seed
    points at 0 corrections."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = {g: s for g, s in summary["groups"].items() if g not in ("seen", "unseen")}
    fig, axes = plt.subplots(1, 2, figsize=(13, 5), sharey=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (g, s) in enumerate(groups.items()):
        color = colors[i % len(colors)]
        ks = range(len(s["dice"]))
        axes[0].plot(ks, s["dice"], "o-", color=color, lw=2.5, label=f"{g} ({len(s['structures'])} structures)")
        for key in s["structures"]:
            d = summary["structures"][key]["dice"]
            axes[1].plot(range(len(d)), d, color=color, lw=0.8, alpha=0.7)
            axes[1].annotate(key.split("/")[-1], (0, d[0]), fontsize=6, color=color, xytext=(-4, 0),
                             textcoords="offset points", ha="right")
    for j, (name, value) in enumerate(PAPER["one_seed_slice"].items()):
        axes[0].plot([0], [value], "k" + "s^Dvo"[j % 5], ms=7, mfc="none", label=f"paper: {name} {value:.2f}")
    for ax, t in zip(axes, ("groups (structures weigh equally)", "per structure")):
        ax.set_xlabel("corrections (true-mask slices every 10 % of the structure's length)")
        ax.set_title(t)
        ax.grid(alpha=0.3)
        n = max((len(s["dice"]) for s in groups.values()), default=1)
        ax.set_xticks(range(n))
    axes[0].set_ylabel("mean volume Dice")
    axes[0].set_ylim(0, 1)
    axes[0].legend(fontsize=7, loc="best", framealpha=0.6)
    axes[1].set_xlim(-1.3, None)
    fig.suptitle(title)
    fig.tight_layout()
    path = os.fspath(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
