"""Evaluation cases from ../shared/data: BTCV CT, CHAOS T2 MR (held-out patients) and TotalSegmentator's example CT
and MR (structures no training label covers).

The volumes are read by the training readers (`radseg.training.data`), so that evaluation sees exactly the slices
training sees: [slices, rows, cols] in radiological display orientation, CT in HU (BTCV's stored 8-bit window
converted back), MR in raw units, spacing (slice_mm, row_mm, col_mm). nibabel is imported by those readers.

Cases are yielded structure by structure; with ``max_slices`` each structure keeps at most that many of its
(patient, slice) pairs, evenly spread over all of them (deterministic).
"""
from __future__ import annotations

import json
import os
import pathlib
from typing import Dict, Iterable, Iterator, List, Optional, Sequence

import numpy as np

from .click import Case

#: TotalSegmentator structures used as never-seen structures (none is a BTCV or CHAOS label). Each maps to the
#: label names merged into it; "vertebrae_*" merges the CT's per-vertebra labels.
TOTALSEG_UNSEEN = {
    "CT": {"colon": ["colon"], "vertebrae": "vertebrae_*", "autochthon_left": ["autochthon_left"],
           "duodenum": ["duodenum"]},
    "MR": {"vertebrae": ["vertebrae"], "autochthon_left": ["autochthon_left"], "colon": ["colon"]},
}
_TOTALSEG_FILES = {"CT": ("total", "example_ct_sm.nii.gz", "example_seg.nii.gz"),
                   "MR": ("total_mr", "example_mr_sm.nii.gz", "example_seg_mr.nii.gz")}


def find_data_root(explicit=None) -> pathlib.Path:
    """The shared data folder: `explicit`, else $RADSEG_DATA, else ../shared/data beside the working directory or
    beside the radseg source tree. FileNotFoundError naming the places tried when none exists."""
    if explicit is not None:
        candidates = [explicit]
    else:
        here = pathlib.Path(__file__).resolve().parents[2]  # the source tree root in an editable install
        candidates = [os.environ.get("RADSEG_DATA"), pathlib.Path.cwd().parent / "shared" / "data",
                      pathlib.Path.cwd() / "shared" / "data", here.parent / "shared" / "data"]
    tried = []
    for c in candidates:
        if not c:
            continue
        p = pathlib.Path(c).expanduser()
        tried.append(str(p))
        if p.is_dir():
            return p.resolve()
    raise FileNotFoundError(f"data folder not found (tried {tried}); pass --data PATH or set RADSEG_DATA")


def even_subset(items: list, n: Optional[int]) -> list:
    """At most `n` items, evenly spread over the list (deterministic): the item at the middle of each of n equal
    parts, so a structure's thin end slices are not always picked; all of them when n is None."""
    if n is None or len(items) <= n:
        return list(items)
    if n < 1:
        raise ValueError(f"n must be a positive integer or None, got {n!r}")
    idx = ((np.arange(n) + 0.5) * len(items) / n).astype(int)
    return [items[i] for i in idx]


def cases_from_volumes(volumes: Iterable, structures: Dict[str, List[int]], *, group: str, seen: Dict[str, bool],
                       max_slices: Optional[int] = None) -> Iterator[Case]:
    """Cases from `radseg.training.data.Volume`s: every slice where a structure is present.

    Args:
        volumes: Volume objects (image [slices, rows, cols], labels, spacing, name, dataset, modality).
        structures: structure name -> label ids merged into it.
        group: the case group name; seen: structure -> whether it was a training label.
    """
    vols = list(volumes)
    present = {s: [] for s in structures}
    for vi, v in enumerate(vols):
        for s, ids in structures.items():
            hit = np.isin(v.labels, ids).any(axis=(1, 2))
            present[s] += [(vi, int(k)) for k in np.flatnonzero(hit)]
    for s, ids in structures.items():
        for vi, k in even_subset(present[s], max_slices):
            v = vols[vi]
            yield Case(np.asarray(v.image[k], np.float32), np.isin(v.labels[k], ids), v.slice_spacing(), v.modality,
                       s, v.dataset, v.name, k, group, bool(seen[s]))


def labelled_cases(dataset: str, root, patients: Sequence[str], *, group: str, unseen: Sequence[str] = (),
                   structures: Optional[Sequence[str]] = None, max_slices: Optional[int] = None) -> Iterator[Case]:
    """BTCV ("btcv") or CHAOS ("chaos") cases for the given patients (e.g. "sabs_03", "chaos_t2_05").

    Args:
        patients: patient ids, or None for every patient of the dataset.
        unseen: structure names that were held out of training (reported as unseen, seen=False).
        structures: restrict to these structure names (default: every label of the dataset).
    """
    from radseg.training.data import btcv, chaos

    reader = {"btcv": btcv, "chaos": chaos}.get(dataset)
    if reader is None:
        raise ValueError(f"dataset must be 'btcv' or 'chaos', got {dataset!r}")
    names = {n: [i] for i, n in reader.LABELS.items() if structures is None or n in structures}
    if patients is None:
        patients = reader.cases(root)
    vols = [reader.load(root, p) for p in patients]
    return cases_from_volumes(vols, names, group=group, seen={s: s not in set(unseen) for s in names},
                              max_slices=max_slices)


def totalseg_volume(root, modality: str, wanted: Dict[str, object]):
    """TotalSegmentator's example CT or MR as a display-oriented Volume, and {structure: [label ids]} for `wanted`
    ({structure: [TotalSegmentator label names]} or a "prefix*" string for every label of that prefix). Its labels
    come from the TotalSegmentator model (reference, not expert): see its SOURCE.txt. ValueError for unknown names."""
    from radseg.training.data.volumes import Volume, load_display

    if modality not in _TOTALSEG_FILES:
        raise ValueError(f"modality must be 'CT' or 'MR', got {modality!r}")
    base = pathlib.Path(root) / "totalseg"
    table_key, image_file, label_file = _TOTALSEG_FILES[modality]
    by_name = {v: int(k) for k, v in json.loads((base / "labels.json").read_text())[table_key].items()}
    ids = {}
    for s, spec in wanted.items():
        if isinstance(spec, str) and spec.endswith("*"):
            ids[s] = [i for n, i in by_name.items() if n.startswith(spec[:-1])]
        else:
            unknown = [n for n in spec if n not in by_name]
            if unknown:
                raise ValueError(f"totalseg {modality}: unknown label names {unknown}")
            ids[s] = [by_name[n] for n in spec]
    img, spacing = load_display(base / image_file, dtype=np.float32)
    lab, _ = load_display(base / label_file, dtype=np.uint8)
    name = f"totalseg_{modality.lower()}"
    return Volume(name, name, modality, img, lab, spacing), ids


def totalseg_cases(root, modality: str = "CT", max_slices: Optional[int] = None,
                   structures: Optional[Dict[str, object]] = None) -> Iterator[Case]:
    """TotalSegmentator's example CT or MR with structures that no training label covers (group "unseen_ct" /
    "unseen_mr"). Its labels come from the TotalSegmentator model (reference, not expert): see its SOURCE.txt."""
    if modality not in _TOTALSEG_FILES:
        raise ValueError(f"modality must be 'CT' or 'MR', got {modality!r}")
    vol, ids = totalseg_volume(root, modality, TOTALSEG_UNSEEN[modality] if structures is None else structures)
    return cases_from_volumes([vol], ids, group=f"unseen_{modality.lower()}", seen={s: False for s in ids},
                              max_slices=max_slices)


#: ITK-SNAP's brain structures no radseg training set labels (its hippocampi are left out: MSD hippocampus trains).
ITKSNAP_UNSEEN = ("lateral ventricles", "third ventricle", "fourth ventricle", "temporal horns", "caudates",
                  "corpus callosum")


def more_anatomy_cases(root, trained: Sequence[str], max_slices: Optional[int] = None) -> Iterator[Case]:
    """The click model's further evaluation sets, the same cases whatever the model trained on (`trained`: the
    manifest's training data set names, e.g. ("btcv", "chaos", "hippocampus", ...); a set not named counts as
    never seen):

    - "hippocampus_heldout": MSD hippocampus files numbered 200 and up (never trained on);
    - "la_heart_heldout": the left-atrium LGE-MR patients `split.LA_VALIDATION` (never trained on);
    - "itksnap_unseen": ITK-SNAP's hand-drawn brain structures `ITKSNAP_UNSEEN` (no training set has them).

    A folder missing under `root` skips its group; h5py is needed for the left atrium (the `train` extra)."""
    from radseg.training.data import anatomy, hippocampus, split

    root = pathlib.Path(root)
    if (root / "msd_hippocampus").is_dir():
        vols = [v for v, part in anatomy.hippocampus(root) if part == "validation"]
        yield from cases_from_volumes(vols, {n: [i] for i, n in hippocampus.LABELS.items()},
                                      group="hippocampus_heldout",
                                      seen={n: "hippocampus" in trained for n in hippocampus.LABELS.values()},
                                      max_slices=max_slices)
    if (root / "la_heart_mri").is_dir():
        vols = [v for v, _ in anatomy.la_heart(root) if v.name in split.LA_VALIDATION]
        yield from cases_from_volumes(vols, {"left atrium": [1]}, group="la_heart_heldout",
                                      seen={"left atrium": "la_heart" in trained}, max_slices=max_slices)
    if (root / "itksnap").is_dir():
        from .propagation import ITKSNAP_LABELS, itksnap_volume

        vol = itksnap_volume(root)
        yield from cases_from_volumes([vol], {n: [i] for i, n in ITKSNAP_LABELS.items() if n in ITKSNAP_UNSEEN},
                                      group="itksnap_unseen", seen={n: False for n in ITKSNAP_UNSEEN},
                                      max_slices=max_slices)
