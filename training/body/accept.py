"""The accepted set: every source slice's classical candidates, rated by the scripted rater, as an annotation dataset.

    python -m radseg.training.body.accept --data ../shared/data --out runs/body_accepted

writes a `radseg.annotate.store.AnnotationStore` folder (the same format `radseg annotate` writes for a human
rater, and the one the trainer reads): one decision line per (slice, distinct candidate), with the rater's
measurements, and for each kept candidate the slice (CT in HU, MR raw) and its mask. Resumable: pairs already
decided are skipped. The summary says how many candidates were kept and how long a human would have needed at
seed 000's 5 s per image.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import time
from typing import Optional

import numpy as np

from radseg.annotate.queue import image_key, mask_key, split_names
from radseg.annotate.store import PAPER_SECONDS_PER_DECISION, AnnotationStore
from radseg.body.candidates import candidates

from . import sources
from .rater import SliceRater

#: At most this many slices per volume, evenly spaced (BTCV volumes have ~140; neighbours are near-duplicates).
MAX_SLICES_PER_VOLUME = 200


def rate_volume(store: AnnotationStore, vol, split: str, max_slices: int = MAX_SLICES_PER_VOLUME) -> dict:
    """Rate the candidates of up to `max_slices` slices of `vol` into `store`; returns counts for this volume."""
    n = vol.image.shape[0]
    picks = np.unique(np.linspace(0, n - 1, min(n, max_slices)).round().astype(int))
    counts = {"slices": 0, "ratable": 0, "candidates": 0, "accepted": 0, "slices_with_accepted": 0}
    spacing = vol.slice_spacing()
    for k in picks:
        image = np.ascontiguousarray(vol.image[k], np.float32)
        counts["slices"] += 1
        t0 = time.perf_counter()
        rater = SliceRater(image, vol.modality, spacing, vol.labels[k])
        if not rater.ratable:
            continue
        counts["ratable"] += 1
        item = image_key(image)
        kept = 0
        for names, mask in candidates(image):
            cand = mask_key(mask)
            if store.decided(item, cand):  # resumed run: counted in the run that decided it
                continue
            verdict = rater.rate(mask)
            seconds = time.perf_counter() - t0
            t0 = time.perf_counter()
            meta = {"names": split_names(names), "source": vol.name, "dataset": vol.dataset, "slice": int(k),
                    "modality": vol.modality, "spacing": list(spacing), "split": split, "rater": "scripted",
                    "reasons": verdict.reasons, "covered": round(verdict.covered, 4),
                    "extra": round(verdict.extra, 5), "organs_inside": round(verdict.organs_inside, 4),
                    "border": round(verdict.border, 3)}
            store.record(item, cand, verdict.accepted, seconds, image=image if verdict.accepted else None,
                         mask=mask if verdict.accepted else None, meta=meta)
            counts["candidates"] += 1
            kept += int(verdict.accepted)
        counts["accepted"] += kept
        counts["slices_with_accepted"] += int(kept > 0)
    return counts


def build(data, out, only: Optional[tuple] = None, max_slices: int = MAX_SLICES_PER_VOLUME, log=print) -> dict:
    """Rate every source volume of both splits into the dataset `out`; returns the per-volume table and totals."""
    table = {}
    with AnnotationStore(out) as store:
        for split in ("train", "validation"):
            for vol in sources.volumes(data, split, only=only):
                c = rate_volume(store, vol, split, max_slices)
                table[vol.name] = {"split": split, "modality": vol.modality, **c}
                log(f"{vol.name:22s} {split:10s} {vol.modality}: {c['ratable']:3d} slices, "
                    f"{c['candidates']:4d} candidates, {c['accepted']:4d} kept, "
                    f"{c['slices_with_accepted']:3d} slices with one kept")
        decisions = store.decisions()
    summary = tally(decisions)
    summary["this_run"] = table
    (pathlib.Path(out) / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def tally(decisions: list) -> dict:
    """Per source and in total, over every decision of a dataset (all runs): rated slices, candidates, kept
    candidates, slices with at least one kept, the rater's seconds; and the hours a human would need at seed 000's
    5 s per image (and per decision)."""
    per: dict = {}
    for d in decisions:
        row = per.setdefault(d.get("source", "?"), {"modality": d.get("modality"), "split": d.get("split"),
                                                    "items": set(), "kept_items": set(), "candidates": 0,
                                                    "accepted": 0, "seconds": 0.0})
        row["items"].add(d["item"])
        row["candidates"] += 1
        row["seconds"] += float(d.get("seconds", 0.0))
        if d["accepted"]:
            row["accepted"] += 1
            row["kept_items"].add(d["item"])
    table = {k: {"modality": v["modality"], "split": v["split"], "slices": len(v["items"]),
                 "candidates": v["candidates"], "accepted": v["accepted"],
                 "slices_with_accepted": len(v["kept_items"]), "rater_seconds": round(v["seconds"], 1)}
             for k, v in per.items()}
    totals = {k: sum(v[k] for v in table.values()) for k in ("slices", "candidates", "accepted",
                                                              "slices_with_accepted", "rater_seconds")}
    totals["human_hours_at_5s_per_image"] = round(totals["slices"] * PAPER_SECONDS_PER_DECISION / 3600, 2)
    totals["human_hours_at_5s_per_decision"] = round(totals["candidates"] * PAPER_SECONDS_PER_DECISION / 3600, 2)
    return {"sources": table, "totals": totals}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="../shared/data")
    p.add_argument("--out", required=True)
    p.add_argument("--max-slices", type=int, default=MAX_SLICES_PER_VOLUME)
    p.add_argument("--only", nargs="*", choices=sources.SOURCES)
    a = p.parse_args(argv)
    s = build(a.data, a.out, tuple(a.only) if a.only else None, a.max_slices)
    for name, row in s["sources"].items():
        print(f"{name:22s} {row['split']:10s} {row['modality']}: {row['slices']:4d} slices, {row['candidates']:5d} "
              f"candidates, {row['accepted']:4d} kept on {row['slices_with_accepted']:4d} slices")
    print(json.dumps(s["totals"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
