"""The real cases `radseg.export.quantize` drives each task's model through, to record calibration inputs (the
training patients) and validation inputs (the held-out ones), and the whole-session agreement of click models.

Each driver is ``driver(data_root, patients, max_cases) -> drive(model)``; `drive` runs the task's own SDK code
(sessions, propagation runs, body segmentation) on the cases, so the backend sees the SDK's real inputs.
"""
from __future__ import annotations

import os
from typing import Callable, List

import numpy as np

#: BTCV / CHAOS patients used for calibration (training patients; a few are enough to set the ranges).
CALIBRATION_PATIENTS = {"btcv": 6, "chaos": 3}


def _patients(manifest, root, dataset: str, which: str) -> List[str]:
    """The held-out patients of `dataset` from the model's manifest, or the first training patients."""
    from radseg.eval.splits import heldout
    from radseg.training.data import btcv, chaos

    held = heldout(manifest)["patients"].get(dataset, [])
    if which == "heldout":
        return list(held)
    reader = {"btcv": btcv, "chaos": chaos}[dataset]
    return [p for p in reader.cases(root) if p not in set(held)][: CALIBRATION_PATIENTS[dataset]]


def click_cases(manifest, root, which: str, max_cases: int) -> list:
    """Up to `max_cases` click cases (`radseg.eval.click.Case`: slice, reference, spacing) of BTCV and CHAOS:
    `which` "train" (the first training patients) or "heldout" (the manifest's validation patients)."""
    from radseg.eval.datasets import even_subset, labelled_cases

    cases = []
    for dataset in ("btcv", "chaos"):
        patients = _patients(manifest, root, dataset, which)
        if patients:
            cases += list(labelled_cases(dataset, root, patients, group=which, max_slices=2))
    return even_subset(cases, max_cases)


def click_driver(root, which: str, max_cases: int) -> Callable[[object], None]:
    """The evaluation robot's first five clicks on up to `max_cases` slices (all structures, CT and MR)."""
    def drive(model):
        from radseg.eval.click import evaluate_case

        for case in click_cases(model.manifest, root, which, max_cases):
            evaluate_case(model, case, max_clicks=5, report_at=(1, 3, 5))

    return drive


def propagation_driver(root, which: str, max_cases: int) -> Callable[[object], None]:
    """Propagation from the middle slice of each structure of a few BTCV / CHAOS volumes."""
    def drive(model):
        from radseg.eval.propagation import middle_slice
        from radseg.training.data import btcv, chaos

        done = 0
        for dataset, reader in (("btcv", btcv), ("chaos", chaos)):
            for patient in _patients(model.manifest, root, dataset, which)[:3]:
                vol = reader.load(root, patient)
                for label in sorted(set(np.unique(vol.labels)) - {0}):
                    if done >= max_cases:
                        return
                    gt = vol.labels == label
                    k = middle_slice(gt)
                    run = model.start(vol.image, spacing=vol.spacing, modality=vol.modality)
                    run.propagate(k, gt[k])
                    done += 1

    return drive


def body_driver(root, which: str, max_cases: int) -> Callable[[object], None]:
    """Every slice of TotalSegmentator's example CT and MR (the body model's training images) for calibration;
    the body_refs reference volumes for validation."""
    def drive(model):
        if which == "heldout":
            from radseg.eval.body import reference_cases

            for case in reference_cases(root)[:max_cases]:
                model.segment(case.image, spacing=case.spacing, modality=case.modality)
            return
        from radseg.eval.datasets import totalseg_volume

        for modality in ("CT", "MR"):
            vol, _ = totalseg_volume(root, modality, {})
            step = max(1, vol.image.shape[0] // max(1, max_cases))  # an even subset of slices
            model.segment(vol.image[::step], spacing=vol.spacing, modality=modality)

    return drive


def click_session_agreement(model_dir, root, max_cases: int) -> dict:
    """Whole click sessions on held-out slices, fp32 and int8 given the same clicks (the robot's, on the fp32
    mask): Dice of the two masks after every click, and the robot's Dice of each against the reference."""
    import radseg
    from radseg.click.robot import deterministic_click
    from radseg.eval.click import dice_score

    from radseg.backends.int8 import INT8_FILE
    from radseg.backends.onnxruntime import OnnxRuntimeBackend
    from radseg.click.session import ClickModel

    fp32 = radseg.load(model_dir, backend="onnxruntime-cpu", threads=1)
    # Not through radseg.load: the manifest records the variant only once this agreement is in.
    int8 = ClickModel(OnnxRuntimeBackend(os.path.join(os.fspath(model_dir), INT8_FILE), threads=1), fp32.manifest,
                      fp32.path).warmup()
    agree, ref32, ref8 = [], [], []
    for case in click_cases(fp32.manifest, root, "heldout", max_cases):
        a = fp32.start(case.image, spacing=case.spacing, modality=case.modality)
        b = int8.start(case.image, spacing=case.spacing, modality=case.modality)
        pred = np.zeros_like(case.gt)
        for _ in range(5):
            c = deterministic_click(case.gt, pred)
            if c is None:
                break
            pred = a.click(c[0], c[1], positive=bool(c[2]))
            other = b.click(c[0], c[1], positive=bool(c[2]))
            agree.append(dice_score(other, pred) if (pred.any() or other.any()) else 1.0)
            ref32.append(dice_score(pred, case.gt))
            ref8.append(dice_score(other, case.gt))
    d = np.asarray(agree)
    return {"clicks": int(len(d)), "mask_dice_mean": round(float(d.mean()), 5),
            "mask_dice_min": round(float(d.min()), 5), "gt_dice_fp32": round(float(np.mean(ref32)), 5),
            "gt_dice_int8": round(float(np.mean(ref8)), 5)}


def propagation_run_agreement(model_dir, root, max_cases: int) -> dict:
    """Whole propagation runs on held-out volumes, fp32 and int8 from the same reference seed slice: Dice of the
    two runs' volumes (errors compound from slice to slice, and a stop may move, so this is stricter than a pass)."""
    import radseg
    from radseg.backends.int8 import INT8_FILE
    from radseg.backends.onnxruntime import OnnxRuntimeBackend
    from radseg.eval.click import dice_score
    from radseg.eval.propagation import middle_slice
    from radseg.propagation.session import PropagationModel
    from radseg.training.data import btcv, chaos

    fp32 = radseg.load(model_dir, backend="onnxruntime-cpu", threads=1)
    int8 = PropagationModel(OnnxRuntimeBackend(os.path.join(os.fspath(model_dir), INT8_FILE), threads=1),
                            fp32.manifest, fp32.path).warmup()
    dices = []
    for dataset, reader in (("btcv", btcv), ("chaos", chaos)):
        for patient in _patients(fp32.manifest, root, dataset, "heldout")[:2]:
            vol = reader.load(root, patient)
            for label in sorted(set(np.unique(vol.labels)) - {0})[:max_cases]:
                gt = vol.labels == label
                k = middle_slice(gt)
                a = fp32.start(vol.image, spacing=vol.spacing, modality=vol.modality).propagate(k, gt[k])
                b = int8.start(vol.image, spacing=vol.spacing, modality=vol.modality).propagate(k, gt[k])
                dices.append(dice_score(b, a))
    d = np.asarray(dices)
    return {"runs": int(len(d)), "mask_dice_mean": round(float(d.mean()), 5), "mask_dice_min": round(float(d.min()), 5)}
