"""Click-model evaluation with the deterministic simulated user, slice-wise as in seed 003.

Every 2D slice where a structure is present is one case. The user (`radseg.click.robot.deterministic_click`)
clicks the interior point farthest from the border of the largest error region: foreground for a missed region,
background for a false one. After each click we record Dice; after the clicks in ``report_at`` also HD95 and the
mean surface distance (mm). NoC@t is the first click count whose Dice reaches t, capped at ``max_clicks`` (a case
that never reaches t counts as max_clicks, and is counted as a failure).

Averaging: over the cases of a structure, then over the structures of a group (structures weigh equally).

Surface distances (mm, with the slice's pixel spacing) come from `radseg.metrics.surface_metrics` with MONAI's
definition: HD95 is the larger of the two directed 95th percentiles; MSD is the mean over the pooled distances of
both directions. An empty prediction has no surface: both get the slice diagonal in mm (the largest distance
possible on the slice), and the case is counted in ``empty_predictions``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

REPORT_AT = (1, 2, 3, 5, 10, 15)
MAX_CLICKS = 20
NOC_THRESHOLDS = (0.85, 0.90)


@dataclass
class Case:
    """One evaluation case: a 2D slice and one structure's reference mask on it.

    image: real [rows, cols] (CT in HU, MR raw); gt: bool [rows, cols], non-empty; spacing: (row_mm, col_mm).
    dataset / patient / slice_index say where it came from; group names the evaluation set (e.g. "btcv_heldout");
    seen: whether the structure was in the model's training labels.
    """

    image: np.ndarray
    gt: np.ndarray
    spacing: Tuple[float, float]
    modality: str
    structure: str
    dataset: str
    patient: str
    slice_index: int
    group: str
    seen: bool

    @property
    def key(self) -> str:
        """The structure's identity across cases: "dataset/structure"."""
        return f"{self.dataset}/{self.structure}"


@dataclass
class CaseResult:
    structure: str
    dataset: str
    patient: str
    slice_index: int
    group: str
    seen: bool
    modality: str
    area_px: int
    dice: List[float]  # Dice after click 1, 2, ..., max_clicks
    hd95: Dict[int, float]  # clicks -> mm
    msd: Dict[int, float]
    noc: Dict[float, int]
    reached: Dict[float, bool]
    empty_predictions: List[int] = field(default_factory=list)  # click counts at which the mask was empty
    clicks: List[Tuple[int, int, bool]] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.dataset}/{self.structure}"


def dice_score(pred: np.ndarray, ref: np.ndarray) -> float:
    """Dice of two masks (`radseg.metrics.dice`; 1.0 when both are empty)."""
    from radseg.metrics import dice

    return float(dice(pred, ref))


def surface_distances(pred: np.ndarray, ref: np.ndarray, spacing) -> Tuple[float, float]:
    """(HD95, MSD) in mm between two non-empty 2D masks, by `radseg.metrics.surface_metrics` (MONAI definition)."""
    from radseg.metrics import surface_metrics

    m = surface_metrics(pred, ref, spacing=spacing, percentile=95)
    return float(m.hausdorff_percentile), float(m.mean_surface_distance)


def evaluate_case(model, case: Case, max_clicks: int = MAX_CLICKS, report_at: Sequence[int] = REPORT_AT,
                  thresholds: Sequence[float] = NOC_THRESHOLDS) -> CaseResult:
    """Run the deterministic user on one case for up to `max_clicks` clicks.

    Args:
        model: a click model (`radseg.load(...)`): anything with ``start(image, spacing=, modality=)`` returning a
            session with ``click(row, col, positive)``.
    Stops early once every threshold is reached and every ``report_at`` count is past (later Dice values are then
    carried forward: the user would stop clicking), or when the mask equals the reference.
    """
    from radseg.click.robot import deterministic_click

    if max_clicks < max(report_at):
        raise ValueError(f"max_clicks ({max_clicks}) must be at least the largest report_at ({max(report_at)})")
    gt = np.asarray(case.gt, bool)
    if not gt.any():
        raise ValueError(f"case {case.key} slice {case.slice_index}: the reference mask is empty")
    diag_mm = math.hypot(gt.shape[0] * case.spacing[0], gt.shape[1] * case.spacing[1])
    sess = model.start(case.image, spacing=case.spacing, modality=case.modality)
    pred = np.zeros_like(gt)
    dice: List[float] = []
    hd95: Dict[int, float] = {}
    msd: Dict[int, float] = {}
    empty: List[int] = []
    clicks = []
    noc: Dict[float, int] = {}
    for k in range(1, max_clicks + 1):
        c = deterministic_click(gt, pred)
        if c is None:  # perfect: nothing left to correct
            dice.extend([1.0] * (max_clicks - len(dice)))
            break
        pred = sess.click(c[0], c[1], positive=bool(c[2]))
        clicks.append((int(c[0]), int(c[1]), bool(c[2])))
        dice.append(dice_score(pred, gt))
        if not pred.any():
            empty.append(k)
        if k in report_at:
            hd95[k], msd[k] = (diag_mm, diag_mm) if not pred.any() else surface_distances(pred, gt, case.spacing)
        for t in thresholds:
            if t not in noc and dice[-1] >= t:
                noc[t] = k
        if k >= max(report_at) and len(noc) == len(thresholds):
            dice.extend([dice[-1]] * (max_clicks - len(dice)))
            break
    last = len(clicks)
    for k in report_at:  # counts the loop skipped (perfect mask) keep the last measured surface distances
        if k not in hd95:
            hd95[k], msd[k] = (0.0, 0.0) if dice[k - 1] == 1.0 else (hd95[max(j for j in hd95 if j <= last)],
                                                                     msd[max(j for j in msd if j <= last)])
    reached = {t: t in noc for t in thresholds}
    noc = {t: noc.get(t, max_clicks) for t in thresholds}
    return CaseResult(case.structure, case.dataset, case.patient, case.slice_index, case.group, case.seen,
                      case.modality, int(gt.sum()), dice, hd95, msd, noc, reached, empty, clicks)


def evaluate(model, cases: Iterable[Case], max_clicks: int = MAX_CLICKS, report_at: Sequence[int] = REPORT_AT,
             thresholds: Sequence[float] = NOC_THRESHOLDS,
             progress: Optional[Callable[[CaseResult], None]] = None) -> List[CaseResult]:
    """`evaluate_case` over every case; `progress(result)` is called after each."""
    out = []
    for case in cases:
        r = evaluate_case(model, case, max_clicks=max_clicks, report_at=report_at, thresholds=thresholds)
        out.append(r)
        if progress is not None:
            progress(r)
    return out


def summarize(results: Sequence[CaseResult], report_at: Sequence[int] = REPORT_AT,
              thresholds: Sequence[float] = NOC_THRESHOLDS) -> dict:
    """Per-structure means over cases, then per-group means over structures.

    Returns a JSON-ready dict:
        {"structures": {key: {...}}, "groups": {name: {...}}}, where a structure entry holds "cases", "group",
        "seen", "modality", "dice" (mean Dice after 1..max_clicks), "dice_at", "hd95_at", "msd_at" (keyed by the
        click count as a string), "noc" ({"85": mean, "90": mean}), "noc_failures" (cases that never reached the
        threshold) and "empty_predictions"; groups are each case group, plus "seen" and "unseen" over all groups.
    """
    by_key: Dict[str, List[CaseResult]] = {}
    for r in results:
        by_key.setdefault(r.key, []).append(r)
    structures = {}
    for key, rs in sorted(by_key.items()):
        dice = np.mean([r.dice for r in rs], axis=0)
        structures[key] = {
            "dataset": rs[0].dataset, "structure": rs[0].structure, "group": rs[0].group, "seen": rs[0].seen,
            "modality": rs[0].modality, "cases": len(rs), "patients": sorted({r.patient for r in rs}),
            "dice": [round(float(v), 5) for v in dice],
            "dice_at": {str(k): float(dice[k - 1]) for k in report_at},
            "hd95_at": {str(k): float(np.mean([r.hd95[k] for r in rs])) for k in report_at},
            "msd_at": {str(k): float(np.mean([r.msd[k] for r in rs])) for k in report_at},
            "noc": {_tkey(t): float(np.mean([r.noc[t] for r in rs])) for t in thresholds},
            "noc_failures": {_tkey(t): int(sum(not r.reached[t] for r in rs)) for t in thresholds},
            "empty_predictions": int(sum(bool(r.empty_predictions) for r in rs)),
        }
    groups: Dict[str, List[str]] = {}
    for key, s in structures.items():
        groups.setdefault(s["group"], []).append(key)
        groups.setdefault("seen" if s["seen"] else "unseen", []).append(key)
    return {"structures": structures, "groups": {g: _group_mean(structures, keys, report_at, thresholds)
                                                   for g, keys in groups.items()}}


def _tkey(t: float) -> str:
    return str(int(round(t * 100)))


def _group_mean(structures: dict, keys: List[str], report_at, thresholds) -> dict:
    ss = [structures[k] for k in keys]
    return {
        "structures": keys,
        "cases": int(sum(s["cases"] for s in ss)),
        "dice": [round(float(v), 5) for v in np.mean([s["dice"] for s in ss], axis=0)],
        "dice_at": {str(k): float(np.mean([s["dice_at"][str(k)] for s in ss])) for k in report_at},
        "hd95_at": {str(k): float(np.mean([s["hd95_at"][str(k)] for s in ss])) for k in report_at},
        "msd_at": {str(k): float(np.mean([s["msd_at"][str(k)] for s in ss])) for k in report_at},
        "noc": {_tkey(t): float(np.mean([s["noc"][_tkey(t)] for s in ss])) for t in thresholds},
    }
