"""Tables, JSON and review pictures for `radseg eval body` (seed 000's Table 1)."""
from __future__ import annotations

import json
import pathlib
from typing import Dict, List, Optional

import numpy as np

from .body import NET, BodyEvaluation, RefCase, best_variant

GROUPS = (("all", None), ("CT", "CT"), ("MR", "MR"))


def summary(ev: BodyEvaluation, methods: List[str]) -> dict:
    """{group: {method: row}} for all slices, CT and MR, plus the best classical variants of each group."""
    out = {}
    for label, modality in GROUPS:
        table = ev.table(methods, modality)
        if not any(r["slices"] for r in table.values()):
            continue
        out[label] = {"table": table, "best_classical_dice": best_variant(table, "dice"),
                      "best_classical_hd": best_variant(table, "hd")}
    return out


def _f(v, fmt="{:.4f}") -> str:
    return "-" if v is None else fmt.format(v)


def markdown(summ: dict, methods: List[str], cases: List[RefCase]) -> str:
    """The Table 1 of every group as Markdown, the network and the best classical variants first."""
    lines = ["Reference cases (none trained on): " + "; ".join(
        f"{c.name} ({c.modality}, {c.image.shape[0]} slices: {c.note})" for c in cases), ""]
    for label, g in summ.items():
        t = g["table"]
        first = [m for m in (NET, g["best_classical_dice"], g["best_classical_hd"]) if m in t]
        order = list(dict.fromkeys(first + [m for m in methods if m not in first]))
        any_row = next(iter(t.values()))
        lines += [f"### {label}: {any_row['slices']} slices with a reference outline, "
                  f"{any_row['empty_ref_slices']} with an empty reference", "",
                  "| method | Dice mean | Dice median | HD mean (px) | HD median (px) | HD undefined | "
                  "outlines where the reference is empty |", "|---|---|---|---|---|---|---|"]
        for m in order:
            r = t[m]
            name = f"**{m}**" if m == NET else m
            lines.append(f"| {name} | {_f(r['dice']['mean'])} | {_f(r['dice']['median'])} | "
                         f"{_f(r['hd']['mean'], '{:.2f}')} | {_f(r['hd']['median'], '{:.2f}')} | "
                         f"{r['hd_undefined']} | {r['false_outline_slices']} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def text_table(summ: dict) -> str:
    """Short console table: per group the network and the two best classical variants."""
    rows = [f"{'group':5s} {'method':12s} {'Dice mean':>9s} {'median':>7s} {'HD mean':>8s} {'median':>7s} "
            f"{'undef':>5s} {'false':>5s}"]
    for label, g in summ.items():
        t = g["table"]
        for m in dict.fromkeys([NET, g["best_classical_dice"], g["best_classical_hd"]]):
            if m not in t:
                continue
            r = t[m]
            rows.append(f"{label:5s} {m:12s} {_f(r['dice']['mean']):>9s} {_f(r['dice']['median']):>7s} "
                        f"{_f(r['hd']['mean'], '{:.2f}'):>8s} {_f(r['hd']['median'], '{:.2f}'):>7s} "
                        f"{r['hd_undefined']:5d} {r['false_outline_slices']:5d}")
    return "\n".join(rows)


def review_pictures(ev: BodyEvaluation, cases: List[RefCase], net_masks: Dict[str, np.ndarray], out_dir,
                    n: int = 8) -> List[dict]:
    """Overlay PNGs (reference green, network red) of the `n` slices where the network and the reference disagree
    most; returns their records (case, slice, Dice, HD, file)."""
    from radseg._png import upscale_factor, write_png
    from radseg.montage import display_window

    by_name = {c.name: c for c in cases}
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    records = []
    for s in ev.worst(NET, n):
        case = by_name[s["case"]]
        image, ref, pred = case.image[s["index"]], case.ref[s["index"]], net_masks[s["case"]][s["index"]]
        low, high = display_window(image, case.modality)
        grey = (np.clip((image - low) / max(high - low, 1e-6), 0, 1) * 255).astype(np.uint8)
        f = upscale_factor(grey.shape, 384)
        grey = np.kron(grey, np.ones((f, f), np.uint8))
        rgb = np.stack([grey] * 3, -1)
        for mask, colour in ((ref, (40, 220, 40)), (pred, (255, 40, 40))):
            m = np.kron(mask, np.ones((f, f), bool))
            p = np.pad(m, 1)
            edge = m & ~(p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:])
            rgb[edge] = colour
        name = f"{s['case']}_slice{s['index']:03d}.png"
        write_png(out_dir / name, rgb)
        sc = s["scores"][NET]
        records.append({"case": s["case"], "slice": s["index"], "dice": sc["dice"], "hd": sc["hd"],
                        "file": str(out_dir / name)})
    return records


def write_json(path, summ: dict, meta: dict, ev: BodyEvaluation, review: Optional[List[dict]] = None) -> str:
    from radseg._atomic import write_atomic

    doc = {"meta": meta, "summary": summ, "review": review or [], "slices": ev.slices}
    text = json.dumps(doc, indent=1) + "\n"
    write_atomic(pathlib.Path(path), lambda tmp: pathlib.Path(tmp).write_text(text), suffix=".json")
    return str(path)
