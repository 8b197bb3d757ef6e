"""Every labelled structure of ``../shared/data`` the click model may train on, as display-oriented Volumes.

Beyond BTCV and CHAOS (expert labels): TotalSegmentator's example CTs and MR (labels made by the TotalSegmentator
model: reference, not expert, so they get a modest share of each batch, see `GROUP_WEIGHTS`), MSD hippocampus
(small MR structures), the 2018 left-atrium LGE-MR set, pyradiomics' tumours (brain MR, breast MR) and body
outlines (`body_refs`: clinical RTSTRUCT BODY on CT, head outlines on MR).

Kept out, to measure generalisation on structure *types* never trained on:
- TotalSegmentator's `radseg.eval.datasets.TOTALSEG_UNSEEN` families (colon, duodenum, vertebrae, autochthon) on
  both modalities, with their mirror images (autochthon_right), every patient; on MR also the spleen (the CHAOS
  unseen structure);
- CHAOS spleen (`split.HELD_OUT_STRUCTURES`), ITK-SNAP's brain structures (never loaded here);
- whole patients: `split` (BTCV, CHAOS, left atrium), MSD hippocampus files numbered `HIPPOCAMPUS_TRAIN_BELOW` and up.

Each reader yields (Volume, split) with split "train" or "validation"; a Volume's ``label_names`` holds only the
structures that may be trained on (a family such as the 24 ribs shares one class name, so that the class-balanced
sampler gives the family one share, while each case's target stays the single labelled structure).
"""
from __future__ import annotations

import json
import pathlib
import re
from typing import Callable, Dict, Iterator, Tuple

import numpy as np

from . import split
from .volumes import Volume

#: Share of each batch per data group (a class's share is its group's, split evenly over the group's classes).
#: Expert-labelled sets carry most of it; model-made TotalSegmentator labels a quarter.
GROUP_WEIGHTS = {"btcv": 0.30, "chaos": 0.18, "totalseg_ct": 0.15, "totalseg_mr": 0.10, "hippocampus": 0.10,
                 "la_heart": 0.07, "pyradiomics": 0.04, "body": 0.06}
#: --datasets names of the click task -> the folder each needs under the data root.
CLICK_DATASETS = {"btcv": "btcv_sabs_ct", "chaos": "chaos_t2_mri", "totalseg": "totalseg",
                  "hippocampus": "msd_hippocampus", "la_heart": "la_heart_mri", "pyradiomics": "pyradiomics",
                  "body": "body_refs"}


def group_of(dataset: str) -> tuple:
    """--datasets name -> the GROUP_WEIGHTS groups its classes fall in ("totalseg" -> its CT and MR groups);
    () for a name that is not a click data set."""
    if dataset == "totalseg":
        return ("totalseg_ct", "totalseg_mr")
    return (dataset,) if dataset in CLICK_DATASETS else ()


HIPPOCAMPUS_TRAIN_BELOW = 200  # as the propagation model's split: files 200 and up are evaluation files
# TotalSegmentator labels too small or too rare on these scans to be a structure a user outlines with a click.
_TOTALSEG_SKIP = ("kidney_cyst_left", "kidney_cyst_right")


def _family(name: str) -> str:
    """TotalSegmentator label name -> class name: ribs, lung lobes and per-side muscles merge into a family."""
    if name.startswith("rib_"):
        return "rib"
    if name.startswith("lung_") and "lobe" in name:
        return "lung lobe"
    return re.sub(r"_(left|right)$", "", name).replace("_", " ")


def totalseg_excluded(name: str, modality: str) -> bool:
    """True for a TotalSegmentator label of a structure type kept out of training (see the module docstring): a
    family unseen on either modality is kept out of both (duodenum on MR, too)."""
    from radseg.eval.datasets import TOTALSEG_UNSEEN

    if name in _TOTALSEG_SKIP:
        return True
    for spec in (v for families in TOTALSEG_UNSEEN.values() for v in families.values()):  # both modalities'
        names = [spec] if isinstance(spec, str) else list(spec)
        for n in names:
            stem = n[:-1] if n.endswith("*") else re.sub(r"_(left|right)$", "", n)
            if name == n or name.startswith(stem):
                return True
    return modality == "MR" and name == "spleen"  # spleen-in-MR is the CHAOS unseen structure


def _named_totalseg(vol: Volume, table: Dict[str, str]) -> Volume:
    modality = vol.modality
    names = {int(k): _family(v) for k, v in table.items() if not totalseg_excluded(v, modality)}
    present = set(np.unique(vol.labels).tolist())
    vol.label_names = {k: v for k, v in names.items() if k in present}
    vol.dataset = f"totalseg_{modality.lower()}"
    return vol


def totalseg(root) -> Iterator[Tuple[Volume, str]]:
    """TotalSegmentator's 112-slice example CT, its 512 x 512 DICOM CT and its MR (training only: no patient of
    theirs is an evaluation patient; their unseen structure types never reach training)."""
    from ..body.sources import volumes

    tables = json.loads((pathlib.Path(root) / "totalseg" / "labels.json").read_text())
    for vol in volumes(root, "train", only=("totalseg_ct", "totalseg_dicom_ct", "totalseg_mr")):
        yield _named_totalseg(vol, tables["total" if vol.modality == "CT" else "total_mr"]), "train"


def hippocampus(root) -> Iterator[Tuple[Volume, str]]:
    from . import hippocampus as reader

    for case in reader.cases(root):
        yield reader.load(root, case), ("train" if int(case.rsplit("_", 1)[1]) < HIPPOCAMPUS_TRAIN_BELOW
                                        else "validation")


def la_heart(root) -> Iterator[Tuple[Volume, str]]:
    """The LGE-MR left atria (HDF5, z-scored, 0.625 mm); patients in `split.LA_VALIDATION` are validation."""
    import h5py

    from radseg.eval.propagation import LA_SPACING

    for f in sorted((pathlib.Path(root) / "la_heart_mri").glob("*.h5")):
        with h5py.File(f, "r") as h:
            img = np.ascontiguousarray(np.transpose(np.asarray(h["image"], np.float32), (2, 1, 0)))
            lab = np.ascontiguousarray(np.transpose(np.asarray(h["label"], np.uint8), (2, 1, 0)))
        vol = Volume(f.stem, "la_heart", "MR", img, (lab > 0).astype(np.uint8), LA_SPACING, {1: "left atrium"})
        yield vol, ("validation" if f.stem in split.LA_VALIDATION else "train")


def pyradiomics(root) -> Iterator[Tuple[Volume, str]]:
    """Tumour regions of pyradiomics' brain and breast MRs (one patient each: training only)."""
    from ..body.sources import volumes

    for vol in volumes(root, "train", only=("pyradiomics",)):
        if vol.labels.any():
            vol.label_names = {1: "brain tumour" if "brain" in vol.name else "breast tumour"}
            yield vol, "train"


def body(root) -> Iterator[Tuple[Volume, str]]:
    """Body / head outlines of `body_refs` (the body model's evaluation references; for the click model a
    training structure like any other)."""
    from radseg.eval.body import reference_cases

    for case in reference_cases(root):
        yield Volume(case.name, "body", case.modality, np.asarray(case.image, np.float32),
                     np.asarray(case.ref, np.uint8), tuple(case.spacing), {1: "body outline"}), "train"


def btcv(root) -> Iterator[Tuple[Volume, str]]:
    from . import btcv as reader

    for case in reader.cases(root):
        yield reader.load(root, case), ("validation" if split.is_validation("btcv", case) else "train")


def chaos(root) -> Iterator[Tuple[Volume, str]]:
    from . import chaos as reader

    for case in reader.cases(root):
        vol = reader.load(root, case)
        if not split.is_validation("chaos", case):  # CHAOS spleen never trains
            held = {l for d, l in split.HELD_OUT_STRUCTURES if d == "chaos"}
            vol.label_names = {k: v for k, v in vol.label_names.items() if k not in held}
        yield vol, ("validation" if split.is_validation("chaos", case) else "train")


READERS: Dict[str, Callable[..., Iterator[Tuple[Volume, str]]]] = {
    "btcv": btcv, "chaos": chaos, "totalseg": totalseg, "hippocampus": hippocampus, "la_heart": la_heart,
    "pyradiomics": pyradiomics, "body": body}


def volumes(root, datasets=tuple(CLICK_DATASETS)) -> Iterator[Tuple[Volume, str]]:
    """(Volume, "train" | "validation") for every named data set, in `CLICK_DATASETS` order; ValueError for an
    unknown name, FileNotFoundError naming the folder a named set needs."""
    unknown = [d for d in datasets if d not in READERS]
    if unknown:
        raise ValueError(f"unknown click data set(s) {unknown}; choose from {', '.join(CLICK_DATASETS)}")
    root = pathlib.Path(root)
    for name in CLICK_DATASETS:
        if name in datasets:
            if not (root / CLICK_DATASETS[name]).is_dir():
                raise FileNotFoundError(f"{root / CLICK_DATASETS[name]}: missing (needed by data set {name!r})")
            yield from READERS[name](root)
