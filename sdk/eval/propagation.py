"""Propagation-model evaluation (seed 001, section 2.3.5): volume Dice, HD95 and MSD against the number of corrections.

The paper's protocol, per structure and volume (a `VolumeCase`):

1. The seed is the structure's middle slice (the middle of its slice extent along axis 0; the nearest slice holding
   the structure when the middle one is empty) with its TRUE mask; ``run.propagate`` carries it up and down.
2. Corrections follow at every 10 % of the structure's length (its slice extent, ``last - first + 1``), from the
   middle towards both ends, alternating sides: middle + 10 %, middle - 10 %, middle + 20 %, ... (offsets rounded
   half up, and at least k slices for the k-th step, so that a short structure still gets distinct slices). A slice
   outside the extent, or where the true mask is empty (a gap), is skipped. Each correction is the true mask of its
   slice, applied with ``run.correct`` (an anchor, re-propagated towards the next anchors).
3. After 0, 1, ..., N corrections: volume Dice (corrected slices included, as the paper counts them), HD95 and the
   mean surface distance in mm (`radseg.metrics.surface_metrics` in 3D with (slice, row, col) spacing, MONAI's
   definition). A structure whose schedule runs out before N corrections keeps its last numbers (nothing left to
   correct at 10 % steps) and is counted in ``schedule_exhausted``.
4. Where each direction stopped and why (``run.stopped``: volume end, vanished, leak, ...) after the first
   propagation and after the last correction, and how far that is from the structure's true end, in slices
   (positive: stopped before the end; negative: ran past it).

The realistic protocol: the seed mask on the same middle slice comes from the click model after 1 and after 3
clicks of the deterministic simulated user (`radseg.click.robot.deterministic_click`) instead of the truth; then one
propagation, no corrections. A click mask that is empty cannot seed anything: the volume counts as an empty
prediction (Dice 0; HD95 and MSD the volume's diagonal in mm, the largest distance possible) and is counted.

Averaging: over the cases (volumes) of a structure, then over the structures of a group (structures weigh equally),
as `radseg.eval.click` does. The evaluation core (`evaluate_case`, `evaluate`, `summarize`) takes a model and cases
and needs no data on disk; the case readers at the end of this module read ../shared/data.
"""
from __future__ import annotations

import gzip
import math
import pathlib
import struct
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

CORRECTIONS = 5
STEP = 0.10
REALISTIC_CLICKS = (1, 3)
DIRECTIONS = ("up", "down")  # towards higher / lower slice indices (radseg.propagation.engine)

PROTOCOL = (
    "seed 001 protocol: seed = the structure's middle slice (middle of its slice extent along axis 0) with its true "
    "mask, propagated up and down; then corrections (true masks, run.correct) every {step:.0%} of the structure's "
    "slice extent from the middle towards both ends, alternating sides (+1 step, -1 step, +2 steps, ...; slices "
    "outside the extent or with an empty truth skipped); volume Dice (corrected slices included), HD95 and mean "
    "surface distance in mm (MONAI definition, 3D with slice spacing) after 0..{n} corrections. Realistic protocol: "
    "the seed mask is the click model's after {clicks} deterministic simulated clicks on the middle slice, then one "
    "propagation without corrections. Means over a structure's volumes, then over a group's structures."
)


# ---------------------------------------------------------------------------------------------- cases and results
@dataclass
class VolumeCase:
    """One structure in one volume.

    image: real [slices, rows, cols] (CT in HU, MR raw); labels: integer label map of the same shape, the structure
    being the voxels whose label is in ``label_ids`` (the label map is shared between the structures of a volume;
    `gt` builds the bool mask on demand); spacing: (slice_mm, row_mm, col_mm); group names the evaluation set;
    seen: whether the structure was in the model's training labels.
    """

    image: np.ndarray
    labels: np.ndarray
    label_ids: Tuple[int, ...]
    spacing: Tuple[float, float, float]
    modality: str
    structure: str
    dataset: str
    patient: str
    group: str
    seen: bool

    @classmethod
    def from_mask(cls, image, gt, spacing, modality: str, structure: str, dataset: str, patient: str, group: str,
                  seen: bool) -> "VolumeCase":
        """A case from a bool mask [slices, rows, cols] (for synthetic data and callers with one structure)."""
        return cls(np.asarray(image), np.asarray(gt, bool).astype(np.uint8), (1,), tuple(float(s) for s in spacing),
                   modality, structure, dataset, patient, group, seen)

    @property
    def gt(self) -> np.ndarray:
        return np.isin(self.labels, self.label_ids)

    @property
    def key(self) -> str:
        """The structure's identity across volumes: "dataset/structure"."""
        return f"{self.dataset}/{self.structure}"


@dataclass
class CaseResult:
    structure: str
    dataset: str
    patient: str
    group: str
    seen: bool
    modality: str
    extent: Tuple[int, int]  # first, last slice holding the structure
    seed: int
    corrections: List[int]  # correction slices, in the order applied
    dice: List[float]  # after 0, 1, ..., N corrections (carried forward past the schedule's end)
    hd95: List[float]  # mm
    msd: List[float]  # mm
    stopped: Dict[str, dict]  # run.stopped after the first propagation, plus "early_by" (slices)
    stopped_final: Dict[str, dict]  # after the last correction
    realistic: Dict[int, dict] = field(default_factory=dict)  # clicks -> {seed_dice, dice, hd95, msd, ...}
    network_steps: int = 0
    seconds: float = 0.0
    volume_voxels: int = 0

    @property
    def key(self) -> str:
        return f"{self.dataset}/{self.structure}"

    @property
    def schedule_exhausted(self) -> bool:
        return len(self.corrections) < len(self.dice) - 1


# ---------------------------------------------------------------------------------------------- the schedule
def structure_extent(gt: np.ndarray) -> Tuple[int, int]:
    """(first, last) slice index along axis 0 where `gt` [slices, rows, cols] is non-empty; ValueError if empty."""
    present = np.flatnonzero(np.asarray(gt).reshape(gt.shape[0], -1).any(axis=1))
    if present.size == 0:
        raise ValueError("the reference mask is empty: there is no structure to propagate")
    return int(present[0]), int(present[-1])


def middle_slice(gt: np.ndarray) -> int:
    """The middle of the structure's slice extent, ``(first + last) // 2``; when the structure skips that slice (a
    gap), the nearest slice that holds it (the lower one on a tie)."""
    first, last = structure_extent(gt)
    mid = (first + last) // 2
    present = np.flatnonzero(np.asarray(gt).reshape(gt.shape[0], -1).any(axis=1))
    return int(present[np.argmin(np.abs(present - mid) * 2 + (present > mid))])


def correction_schedule(first: int, last: int, n: int, step: float = STEP, middle: Optional[int] = None) -> List[int]:
    """The paper's correction slices for a structure on slices first..last: up to `n` slices, in order.

    Offsets from the middle are ``max(k, round_half_up(k * step * length))`` for k = 1, 2, ... (length = last -
    first + 1 slices), taken on the upper side first, then the lower: middle + d1, middle - d1, middle + d2, ...
    Slices outside [first, last] are skipped; the schedule ends when both sides have left the extent.
    """
    if last < first:
        raise ValueError(f"empty extent: first {first} > last {last}")
    if not (0 < step <= 1):
        raise ValueError(f"step must lie in (0, 1], got {step}")
    mid = (first + last) // 2 if middle is None else int(middle)
    length = last - first + 1
    out: List[int] = []
    k = 0
    while len(out) < n:
        k += 1
        d = max(k, int(math.floor(k * step * length + 0.5)))
        if mid + d > last and mid - d < first:
            break
        for s in (mid + d, mid - d):
            if first <= s <= last and len(out) < n:
                out.append(s)
    return out


def plan_corrections(gt: np.ndarray, n: int, step: float = STEP) -> Tuple[int, List[int]]:
    """(seed slice, correction slices) for the mask `gt`: `correction_schedule` over the structure's extent, skipping
    slices where the truth is empty (and the seed itself), still up to `n` slices."""
    first, last = structure_extent(gt)
    seed = middle_slice(gt)
    present = set(np.flatnonzero(gt.reshape(gt.shape[0], -1).any(axis=1)).tolist())
    full = correction_schedule(first, last, last - first + 1, step, middle=(first + last) // 2)
    return seed, [s for s in full if s in present and s != seed][:n]


# ---------------------------------------------------------------------------------------------- metrics
def volume_metrics(pred: np.ndarray, gt: np.ndarray, spacing) -> Tuple[float, float, float]:
    """(Dice, HD95 mm, MSD mm) of two 3D masks; an empty prediction of a non-empty truth gets Dice 0 and the
    volume's diagonal in mm as both distances."""
    from radseg.metrics import dice, surface_metrics

    d = float(dice(pred, gt))
    if not pred.any():
        diag = _diagonal_mm(gt.shape, spacing)
        return d, diag, diag
    m = surface_metrics(pred, gt, spacing=tuple(spacing), percentile=95)
    return d, float(m.hausdorff_percentile), float(m.mean_surface_distance)


def _diagonal_mm(shape, spacing) -> float:
    return float(math.sqrt(sum((n * s) ** 2 for n, s in zip(shape, spacing))))


def _stops(stopped: Dict[str, dict], extent: Tuple[int, int]) -> Dict[str, dict]:
    """run.stopped plus "early_by": slices between where the direction stopped and the structure's true end there
    (positive: stopped before the end; negative: went past it)."""
    out = {}
    for d in DIRECTIONS:
        s = dict(stopped.get(d, {}))
        if "last" in s:
            s["early_by"] = int(extent[1] - s["last"]) if d == "up" else int(s["last"] - extent[0])
        out[d] = s
    return out


# ---------------------------------------------------------------------------------------------- the protocols
def click_seed(click_model, image2d: np.ndarray, gt2d: np.ndarray, spacing2d, modality: str,
               clicks: Sequence[int] = REALISTIC_CLICKS) -> Dict[int, Tuple[np.ndarray, list]]:
    """{n: (the click model's mask after n deterministic clicks, the clicks)} for every n in `clicks`, from one
    session. The user stops once the mask equals the truth; later counts keep that mask."""
    from radseg.click.robot import deterministic_click

    sess = click_model.start(image2d, spacing=tuple(spacing2d), modality=modality)
    pred = np.zeros(gt2d.shape, bool)
    done: List[tuple] = []
    out = {}
    for k in range(1, max(clicks) + 1):
        c = deterministic_click(gt2d, pred)
        if c is not None:
            pred = sess.click(c[0], c[1], positive=bool(c[2]))
            done.append((int(c[0]), int(c[1]), bool(c[2])))
        if k in clicks:
            out[k] = (pred.copy(), list(done))
    return out


def evaluate_case(model, case: VolumeCase, corrections: int = CORRECTIONS, step: float = STEP, click_model=None,
                  clicks: Sequence[int] = REALISTIC_CLICKS) -> CaseResult:
    """Both protocols on one case (the realistic one only with a `click_model`).

    Args:
        model: a propagation model (`radseg.load(folder)`): ``start(volume, spacing=, modality=)`` returning a run
            with ``propagate``, ``correct``, ``stopped`` and ``last_stats``.
        click_model: a click model (``start(image2d, spacing=, modality=)`` -> session with ``click``), or None.
    """
    if corrections < 0:
        raise ValueError(f"corrections must be >= 0, got {corrections}")
    t0 = time.perf_counter()
    gt = case.gt
    extent = structure_extent(gt)
    seed, plan = plan_corrections(gt, corrections, step)
    run = model.start(case.image, spacing=case.spacing, modality=case.modality)
    masks = run.propagate(seed, gt[seed])
    steps = int(run.last_stats.get("network_steps", 0))
    stopped = _stops(run.stopped, extent)
    scores = [volume_metrics(masks, gt, case.spacing)]
    for k in plan:
        masks = run.correct(k, gt[k])
        steps += int(run.last_stats.get("network_steps", 0))
        scores.append(volume_metrics(masks, gt, case.spacing))
    stopped_final = _stops(run.stopped, extent)
    while len(scores) < corrections + 1:  # nothing left to correct at this step length
        scores.append(scores[-1])
    realistic = {}
    if click_model is not None and clicks:
        in_plane = tuple(case.spacing[1:])
        for n, (mask, used) in click_seed(click_model, case.image[seed], gt[seed], in_plane, case.modality,
                                          clicks).items():
            from radseg.metrics import dice as dice2d

            entry = {"seed_dice": float(dice2d(mask, gt[seed])), "clicks": used, "empty_seed": not mask.any()}
            if mask.any():
                pred = run.propagate(seed, mask)
                steps += int(run.last_stats.get("network_steps", 0))
                entry["stopped"] = _stops(run.stopped, extent)
            else:
                pred = np.zeros(gt.shape, bool)
            entry["dice"], entry["hd95"], entry["msd"] = volume_metrics(pred, gt, case.spacing)
            realistic[n] = entry
    d, h, m = (list(v) for v in zip(*scores))
    return CaseResult(case.structure, case.dataset, case.patient, case.group, case.seen, case.modality, extent, seed,
                      plan, d, h, m, stopped, stopped_final, realistic, steps, time.perf_counter() - t0,
                      int(np.count_nonzero(gt)))


def evaluate(model, cases: Iterable[VolumeCase], corrections: int = CORRECTIONS, step: float = STEP,
             click_model=None, clicks: Sequence[int] = REALISTIC_CLICKS,
             progress: Optional[Callable[[CaseResult], None]] = None) -> List[CaseResult]:
    """`evaluate_case` over every case; `progress(result)` is called after each."""
    out = []
    for case in cases:
        r = evaluate_case(model, case, corrections=corrections, step=step, click_model=click_model, clicks=clicks)
        out.append(r)
        if progress is not None:
            progress(r)
    return out


# ---------------------------------------------------------------------------------------------- summaries
def summarize(results: Sequence[CaseResult]) -> dict:
    """Per-structure means over cases, then per-group means over structures.

    Returns a JSON-ready dict {"structures": {key: {...}}, "groups": {name: {...}}}. A structure entry holds
    "dataset", "structure", "group", "seen", "modality", "cases", "patients", "dice" / "hd95" / "msd" (means after
    0..N corrections), "dice_std" (over cases), "realistic" ({clicks: {"seed_dice", "dice", "hd95", "msd",
    "empty_seeds"}}), "stops" ({direction: {"reasons": {reason: count}, "early_by_mean": slices}}, after the first
    propagation), "corrections_applied" (mean) and "schedule_exhausted" (cases). Groups: each case group, plus
    "seen" and "unseen" over all groups; a group entry holds "structures", "cases" and the same means.
    """
    by_key: Dict[str, List[CaseResult]] = {}
    for r in results:
        by_key.setdefault(r.key, []).append(r)
    structures = {}
    for key, rs in sorted(by_key.items()):
        dice = np.array([r.dice for r in rs], float)
        entry = {
            "dataset": rs[0].dataset, "structure": rs[0].structure, "group": rs[0].group, "seen": rs[0].seen,
            "modality": rs[0].modality, "cases": len(rs), "patients": sorted({r.patient for r in rs}),
            "dice": _r(dice.mean(axis=0)), "dice_std": _r(dice.std(axis=0)),
            "hd95": _r(np.mean([r.hd95 for r in rs], axis=0)), "msd": _r(np.mean([r.msd for r in rs], axis=0)),
            "realistic": _realistic_mean(rs),
            "stops": {d: {"reasons": _count(r.stopped[d].get("reason") for r in rs),
                          "early_by_mean": round(float(np.mean([r.stopped[d].get("early_by", 0) for r in rs])), 2)}
                      for d in DIRECTIONS},
            "corrections_applied": round(float(np.mean([len(r.corrections) for r in rs])), 2),
            "schedule_exhausted": int(sum(r.schedule_exhausted for r in rs)),
            "seconds": round(float(sum(r.seconds for r in rs)), 2),
        }
        structures[key] = entry
    groups: Dict[str, List[str]] = {}
    for key, s in structures.items():
        groups.setdefault(s["group"], []).append(key)
    for key, s in structures.items():
        groups.setdefault("seen" if s["seen"] else "unseen", []).append(key)
    return {"structures": structures, "groups": {g: _group_mean(structures, keys) for g, keys in groups.items()}}


def _r(values) -> List[float]:
    return [round(float(v), 5) for v in values]


def _count(items) -> Dict[str, int]:
    out: Dict[str, int] = {}
    for i in items:
        if i is not None:
            out[i] = out.get(i, 0) + 1
    return dict(sorted(out.items()))


def _realistic_mean(rs: Sequence[CaseResult]) -> dict:
    ns = sorted({n for r in rs for n in r.realistic})
    out = {}
    for n in ns:
        es = [r.realistic[n] for r in rs if n in r.realistic]
        out[str(n)] = {k: round(float(np.mean([e[k] for e in es])), 5) for k in ("seed_dice", "dice", "hd95", "msd")}
        out[str(n)]["empty_seeds"] = int(sum(e["empty_seed"] for e in es))
        out[str(n)]["cases"] = len(es)
    return out


def _group_mean(structures: dict, keys: List[str]) -> dict:
    ss = [structures[k] for k in keys]
    out = {"structures": keys, "cases": int(sum(s["cases"] for s in ss))}
    for name in ("dice", "hd95", "msd"):
        out[name] = _r(np.mean([s[name] for s in ss], axis=0))
    real: Dict[str, dict] = {}
    for n in sorted({n for s in ss for n in s["realistic"]}, key=int):
        es = [s["realistic"][n] for s in ss if n in s["realistic"]]
        real[n] = {k: round(float(np.mean([e[k] for e in es])), 5) for k in ("seed_dice", "dice", "hd95", "msd")}
        real[n]["structures"] = len(es)
        real[n]["empty_seeds"] = int(sum(e["empty_seeds"] for e in es))
    out["realistic"] = real
    out["stops"] = {d: _count(r for s in ss for r, c in s["stops"][d]["reasons"].items() for _ in range(c))
                    for d in DIRECTIONS}
    return out


def case_records(results: Sequence[CaseResult]) -> list:
    """Per-case numbers as plain dicts (for the JSON)."""
    return [{
        "structure": r.structure, "dataset": r.dataset, "patient": r.patient, "group": r.group, "seen": r.seen,
        "modality": r.modality, "extent": list(r.extent), "seed": r.seed, "corrections": r.corrections,
        "voxels": r.volume_voxels, "dice": _r(r.dice), "hd95": [round(v, 3) for v in r.hd95],
        "msd": [round(v, 3) for v in r.msd], "stopped": r.stopped, "stopped_final": r.stopped_final,
        "realistic": {str(n): {**{k: (round(v, 5) if isinstance(v, float) else v) for k, v in e.items()}}
                      for n, e in r.realistic.items()},
        "network_steps": r.network_steps, "seconds": round(r.seconds, 3),
    } for r in results]


# ---------------------------------------------------------------------------------------------- cases from data
def even_subset(items: list, n: Optional[int]) -> list:
    """At most `n` items evenly spread over `items` (`radseg.eval.datasets.even_subset`)."""
    from .datasets import even_subset as _even

    return _even(items, n)


def cases_from_volumes(volumes: Iterable, structures: Dict[str, Sequence[int]], *, group: str,
                       seen: Dict[str, bool], max_cases: Optional[int] = None) -> List[VolumeCase]:
    """One case per (volume, structure) where the structure is present; with `max_cases`, at most that many volumes
    per structure, evenly spread over the volumes that hold it (deterministic).

    Args:
        volumes: `radseg.training.data.Volume`s (image, labels, spacing (slice, row, col), name, dataset, modality).
        structures: structure name -> label ids merged into it.
    """
    vols = list(volumes)
    out = []
    for s, ids in structures.items():
        ids = tuple(int(i) for i in ids)
        holding = [v for v in vols if np.isin(v.labels, ids).any()]
        for v in even_subset(holding, max_cases):
            out.append(VolumeCase(v.image, v.labels, ids, tuple(float(x) for x in v.spacing), v.modality, s,
                                  v.dataset, v.name, group, bool(seen[s])))
    return out


#: TotalSegmentator structures used as never-seen structures (no BTCV, CHAOS or hippocampus label covers them).
#: Their labels were made by the TotalSegmentator model, not drawn by experts (totalseg/SOURCE.txt).
TOTALSEG_UNSEEN = {
    "CT": {"vertebra L1": ["vertebrae_L1"], "vertebra T12": ["vertebrae_T12"], "vertebrae": "vertebrae_*",
           "colon": ["colon"], "duodenum": ["duodenum"], "autochthon left": ["autochthon_left"],
           "autochthon right": ["autochthon_right"], "spinal cord": ["spinal_cord"],
           "iliopsoas left": ["iliopsoas_left"], "lung lower lobe right": ["lung_lower_lobe_right"]},
    "MR": {"vertebrae": ["vertebrae"], "intervertebral discs": ["intervertebral_discs"],
           "spinal cord": ["spinal_cord"], "autochthon left": ["autochthon_left"],
           "autochthon right": ["autochthon_right"], "colon": ["colon"], "duodenum": ["duodenum"]},
}
def totalseg_cases(root, modality: str = "CT", structures: Optional[Dict[str, object]] = None) -> List[VolumeCase]:
    """TotalSegmentator's example CT or MR with structures no training label covers (group "totalseg_ct_unseen" /
    "totalseg_mr_unseen"). Reference labels made by the TotalSegmentator model, not by experts."""
    from .datasets import totalseg_volume

    vol, ids = totalseg_volume(root, modality, TOTALSEG_UNSEEN[modality] if structures is None else structures)
    return cases_from_volumes([vol], ids, group=f"{vol.name}_unseen", seen={s: False for s in ids})


#: ITK-SNAP's test brain MR crop (itksnap/SOURCE.txt): hand-drawn labels; the hippocampi are a structure the model
#: trained on (MSD hippocampus), the rest were never seen.
ITKSNAP_LABELS = {1: "lateral ventricles", 2: "third ventricle", 3: "fourth ventricle", 4: "right hippocampus",
                  5: "left hippocampus", 6: "temporal horns", 7: "caudates", 8: "corpus callosum"}
ITKSNAP_SEEN = ("right hippocampus", "left hippocampus")
_GIPL_TYPES = {1: ">u1", 7: ">i1", 8: ">u1", 15: ">i2", 16: ">u2", 31: ">u4", 32: ">i4", 64: ">f4", 65: ">f8"}
_GIPL_MAGIC = (0xEFFFE9B0, 0x2AE389B8)


def read_gipl(path) -> Tuple[np.ndarray, Tuple[float, float, float]]:
    """A 3D GIPL image (.gipl or .gipl.gz; big-endian, 256-byte header) -> (array [z, y, x], (z, y, x) spacing mm).

    GIPL stores no orientation; axis 0 of the result is the file's third axis (axial for ITK-SNAP's MRIcrop)."""
    path = pathlib.Path(path)
    raw = gzip.open(path).read() if path.name.endswith(".gz") else path.read_bytes()
    if len(raw) < 256 or struct.unpack(">I", raw[252:256])[0] not in _GIPL_MAGIC:
        raise ValueError(f"{path}: not a GIPL file (bad magic number)")
    dims = struct.unpack(">4H", raw[:8])
    kind = struct.unpack(">H", raw[8:10])[0]
    pix = struct.unpack(">4f", raw[10:26])
    if kind not in _GIPL_TYPES:
        raise ValueError(f"{path}: unsupported GIPL pixel type {kind}")
    shape = tuple(int(d) for d in dims[:3] if d > 0)[::-1]
    count = int(np.prod(shape))
    data = np.frombuffer(raw, _GIPL_TYPES[kind], count=count, offset=256).reshape(shape)
    spacing = tuple(round(float(pix[a]), 6) for a in (2, 1, 0))  # float32 in the header: 0.7 -> 0.699999988
    return data.astype(data.dtype.newbyteorder("="), copy=True), spacing


def itksnap_volume(root):
    """ITK-SNAP's MRIcrop brain T1 and its 8 hand-drawn labels (`ITKSNAP_LABELS`) as a Volume [z, y, x]."""
    from radseg.training.data.volumes import Volume

    base = pathlib.Path(root) / "itksnap" / "Testing" / "TestData"
    img, spacing = read_gipl(base / "MRIcrop-orig.gipl.gz")
    lab, _ = read_gipl(base / "MRIcrop-seg.gipl.gz")
    if img.shape != lab.shape:
        raise ValueError(f"itksnap: image {img.shape} and labels {lab.shape} differ")
    return Volume("mricrop", "itksnap", "MR", img.astype(np.float32), lab.astype(np.uint8), spacing)


def itksnap_cases(root, structures: Optional[Sequence[str]] = None, hippocampus_seen: bool = True) -> List[VolumeCase]:
    """ITK-SNAP's MRIcrop brain T1 with its 8 hand-drawn structures (group "itksnap_mr"); the hippocampi count as
    seen when `hippocampus_seen` (the model trained on MSD hippocampus)."""
    names = {n: [i] for i, n in ITKSNAP_LABELS.items() if structures is None or n in structures}
    vol = itksnap_volume(root)
    seen = {s: hippocampus_seen and s in ITKSNAP_SEEN for s in names}
    return cases_from_volumes([vol], names, group="itksnap_mr", seen=seen)


LA_SPACING = (0.625, 0.625, 0.625)  # la_heart_mri/SOURCE.txt: not stored; the challenge data is 0.625 mm isotropic


def la_heart_cases(root, max_cases: Optional[int] = None) -> List[VolumeCase]:
    """The 2018 LA challenge LGE-MR volumes (HDF5, z-scored; group "la_heart_unseen"): the left atrium, never seen.

    Needs h5py (not a radseg dependency): ModuleNotFoundError without it. HDF5 'image' / 'label' are (x, y, z);
    the cases are [z, y, x] with the 0.625 mm spacing SOURCE.txt gives (none is stored)."""
    import h5py

    from radseg.training.data.volumes import Volume

    files = sorted((pathlib.Path(root) / "la_heart_mri").glob("*.h5"))
    vols = []
    for f in even_subset(files, max_cases):
        with h5py.File(f, "r") as h:
            img = np.ascontiguousarray(np.transpose(np.asarray(h["image"], np.float32), (2, 1, 0)))
            lab = np.ascontiguousarray(np.transpose(np.asarray(h["label"], np.uint8), (2, 1, 0)))
        vols.append(Volume(f.stem, "la_heart", "MR", img, lab, LA_SPACING))
    return cases_from_volumes(vols, {"left atrium": [1]}, group="la_heart_unseen", seen={"left atrium": False})


def labelled_cases(dataset: str, root, patients: Optional[Sequence[str]], *, group: str, structures: Sequence[str],
                   seen: bool, max_cases: Optional[int] = None) -> List[VolumeCase]:
    """BTCV ("btcv"), CHAOS ("chaos") or MSD hippocampus ("hippocampus") cases of the given patients (case names,
    e.g. "sabs_02"; None = every patient) and structure names (the reader's label names). With `max_cases`, only
    that many patients (evenly spread) are read."""
    from radseg.training.data import btcv, chaos, hippocampus

    reader = {"btcv": btcv, "chaos": chaos, "hippocampus": hippocampus}.get(dataset)
    if reader is None:
        raise ValueError(f"dataset must be 'btcv', 'chaos' or 'hippocampus', got {dataset!r}")
    names = {n: [i] for i, n in reader.LABELS.items() if n in set(structures)}
    if not names:
        return []
    patients = reader.cases(root) if patients is None else list(patients)
    vols = [reader.load(root, p) for p in even_subset(patients, max_cases)]
    return cases_from_volumes(vols, names, group=group, seen={s: seen for s in names}, max_cases=max_cases)


def hippocampus_heldout(root, train_below: int = 200) -> List[str]:
    """MSD hippocampus case names numbered `train_below` or higher (never trained on)."""
    from radseg.training.data import hippocampus

    return [c for c in hippocampus.cases(root) if int(c.rsplit("_", 1)[1]) >= int(train_below)]


def iter_groups(cases: Sequence[VolumeCase]) -> Iterator[Tuple[str, List[VolumeCase]]]:
    """(group, its cases) in first-seen order."""
    order: Dict[str, List[VolumeCase]] = {}
    for c in cases:
        order.setdefault(c.group, []).append(c)
    yield from order.items()
