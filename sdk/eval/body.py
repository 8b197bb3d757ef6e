"""`radseg eval body`: seed 000's Table 1 on the ``body_refs`` references, every classical variant beside the network.

The references (``DATA/body_refs``, none trained on): two CT cases with clinical RTSTRUCT 'BODY' contours (the
masks rasterised from them beside the DICOM files) and two head MRs with automatic head-outline masks. Every axial
slice is one case. Per method and slice: Dice and the Hausdorff distance in pixels (`radseg.metrics`, spacing 1).

Protocol (the seed's, stated): the table's Dice and Hausdorff are over the slices whose reference is not empty;
a method that predicts nothing there scores Dice 0 and an undefined Hausdorff distance (counted as
``hd_undefined``, left out of the Hausdorff statistics). Slices whose reference is empty are reported apart:
``empty_ref_slices`` and, per method, ``false_outline_slices`` (it outlined something where the reference has
nothing; the seed's 14 undefined cases), never dropped silently. The slices where the network and the reference
disagree most are listed (and drawn by `radseg.eval.body_report`) as candidates for a wrong reference.
"""
from __future__ import annotations

import pathlib
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

import numpy as np

from ..body.candidates import VARIANTS, all_candidates
from ..metrics import dice, surface_metrics

NET = "Net"


@dataclass
class RefSlice:
    """One reference slice: image [rows, cols] (CT in HU, MR raw), ref bool [rows, cols], spacing (row_mm, col_mm)."""

    case: str
    modality: str
    index: int
    image: np.ndarray
    ref: np.ndarray
    spacing: tuple


@dataclass
class RefCase:
    """A reference volume: image / ref [slices, rows, cols], spacing (slice_mm, row_mm, col_mm)."""

    name: str
    modality: str
    image: np.ndarray
    ref: np.ndarray
    spacing: tuple
    note: str = ""

    def slices(self) -> List[RefSlice]:
        return [RefSlice(self.name, self.modality, k, self.image[k], self.ref[k], tuple(self.spacing[1:]))
                for k in range(self.image.shape[0])]


def _dicom_case(folder: pathlib.Path, files: List[str], name: str, note: str) -> RefCase:
    import radseg.dicom

    vol = radseg.dicom.read_series([folder / f for f in files])
    ref = radseg.dicom.read_nifti_onto(folder.parent / "body_mask_BODY.nii.gz" if folder.name == "dicom"
                                       else folder / "body_mask_BODY.nii.gz", vol)
    return RefCase(name, "CT", np.asarray(vol.array, np.float32), np.asarray(ref) > 0,
                   tuple(float(v) for v in vol.spacing), note)


def _nifti_case(folder: pathlib.Path, image: str, mask: str, name: str, note: str) -> RefCase:
    from radseg.training.data.volumes import load_display

    img, spacing = load_display(folder / image, dtype=np.float32)
    ref, _ = load_display(folder / mask)
    return RefCase(name, "MR", img, np.asarray(ref) > 0, spacing, note)


def reference_cases(root) -> List[RefCase]:
    """The four ``body_refs`` cases; FileNotFoundError naming the folder when it is missing."""
    base = pathlib.Path(root) / "body_refs"
    if not base.is_dir():
        raise FileNotFoundError(f"no body_refs folder in {root}; pass --data with the shared data folder")
    ct = base / "rtstruct_ct"
    vh = ct / "visible_human" / "dicom"
    return [
        _dicom_case(ct / "breast_dicompyler", ["ct.0.dcm"], "ct_breast_dicompyler",
                    "clinical RTSTRUCT BODY (one CT slice, raised arm)"),
        _dicom_case(vh, sorted(p.name for p in vh.glob("CT_*.dcm")), "ct_visible_human",
                    "clinical RTSTRUCT BODY (cadaver, 4 slices at the shoulders)"),
        _nifti_case(base / "head_mr" / "mne_sample_3mm", "T1.nii.gz", "head_mask_seghead.nii.gz", "mr_mne_sample",
                    "FreeSurfer seghead head outline (automatic), 3 mm"),
        _nifti_case(base / "head_mr" / "colin27", "T1_colin27.nii.gz", "head_mask_seg_gt0.nii.gz", "mr_colin27",
                    "FieldTrip scalp+skull+brain > 0 (automatic), 1 mm template"),
    ]


def score(pred: np.ndarray, ref: np.ndarray) -> dict:
    """Dice and Hausdorff (pixels) of one slice; ``hd`` None where undefined (one mask empty)."""
    p, r = np.asarray(pred, bool), np.asarray(ref, bool)
    if not r.any():
        return {"dice": 1.0 if not p.any() else 0.0, "hd": 0.0 if not p.any() else None}
    if not p.any():
        return {"dice": 0.0, "hd": None}
    return {"dice": float(dice(p, r)), "hd": float(surface_metrics(p, r).hausdorff)}


def _stats(values: List[float]) -> dict:
    a = np.asarray([v for v in values if v is not None], np.float64)
    if not a.size:
        return {"mean": None, "median": None, "n": 0}
    return {"mean": float(a.mean()), "median": float(np.median(a)), "n": int(a.size)}


@dataclass
class BodyEvaluation:
    """Per-slice scores of every method, and the summary table."""

    slices: List[dict] = field(default_factory=list)   # case, index, modality, ref_empty, {method: score}

    def table(self, methods: List[str], modality: Optional[str] = None) -> Dict[str, dict]:
        """{method: {dice: {mean, median, n}, hd: {...}, hd_undefined, false_outline_slices}} over the slices
        (of `modality`, or all) whose reference is not empty; false outlines over the empty-reference slices."""
        rows = [s for s in self.slices if modality is None or s["modality"] == modality]
        scored = [s for s in rows if not s["ref_empty"]]
        empty = [s for s in rows if s["ref_empty"]]
        out = {}
        for m in methods:
            d = [s["scores"][m]["dice"] for s in scored]
            h = [s["scores"][m]["hd"] for s in scored]
            out[m] = {"dice": _stats(d), "hd": _stats(h), "hd_undefined": sum(v is None for v in h),
                      "false_outline_slices": sum(s["scores"][m]["dice"] == 0.0 for s in empty),
                      "slices": len(scored), "empty_ref_slices": len(empty)}
        return out

    def worst(self, method: str = NET, n: int = 8) -> List[dict]:
        """The `n` slices where `method` and the reference disagree most (lowest Dice, then largest Hausdorff)."""
        rows = [s for s in self.slices if method in s["scores"]]
        return sorted(rows, key=lambda s: (s["scores"][method]["dice"],
                                           -(s["scores"][method]["hd"] or 1e9)))[:n]


def evaluate(cases: List[RefCase], net: Optional[Callable] = None, progress=None) -> BodyEvaluation:
    """Score the 18 variants (and ``net(image [S, R, C], spacing, modality) -> bool [S, R, C]`` when given) on every
    slice of `cases`."""
    ev = BodyEvaluation()
    total = sum(c.image.shape[0] for c in cases)
    done = 0
    for case in cases:
        net_masks = net(case.image, case.spacing, case.modality) if net is not None else None
        for s in case.slices():
            scores = {name: score(mask, s.ref) for name, mask in all_candidates(s.image).items()}
            if net_masks is not None:
                scores[NET] = score(net_masks[s.index], s.ref)
            ev.slices.append({"case": s.case, "index": s.index, "modality": s.modality,
                              "ref_empty": not s.ref.any(), "scores": scores})
            done += 1
            if progress is not None:
                progress(done, total)
    return ev


def best_variant(table: Dict[str, dict], metric: str = "dice") -> str:
    """The classical variant with the highest mean Dice (``metric="dice"``) or lowest mean Hausdorff ("hd")."""
    names = [v for v in VARIANTS if v in table and table[v][metric]["mean"] is not None]
    if metric == "dice":
        return max(names, key=lambda v: table[v]["dice"]["mean"])
    return min(names, key=lambda v: table[v]["hd"]["mean"])
