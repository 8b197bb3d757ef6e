"""Segment structures in a volume from clicks: the click model on each structure's clicked slice, then the
propagation model up and down the volume; and the files such a run writes (what `radseg segment --series` does).

    import radseg, radseg.dicom, radseg.workflow
    vol = radseg.dicom.read_series("ct/")                 # or radseg.dicom.read_nifti("ct.nii.gz"), or an array
    result = radseg.workflow.segment_volume(vol, [
        {"name": "liver", "clicks": [(40, 210, 150, True), (40, 236, 170, False)]},
        {"name": "spleen", "clicks": [(52, 190, 330)]},
    ], propagation_model="models/propagation")
    result.masks["liver"]                    # bool [slices, rows, cols]
    result.labels()                          # label map: structure k (1-based, in prompt order) has value k
    radseg.workflow.write_outputs(result, vol, "out/")    # seg.dcm, labels.nii.gz, montage.png, result.json

A prompt is one structure: a name and its clicks (slice, row, col[, positive]) in voxel indices of the volume's
array ([slices, rows, cols]; for a NIfTI read with `radseg.dicom.read_nifti` that is the voxel (k, j, i)). All
clicks of a structure lie on one slice, its seed slice: the click model segments that slice from them, and the
propagation model carries the mask up and down from it (`radseg.propagation`) until the structure vanishes,
leaks or the volume ends. Without propagation the seed slice's mask is the structure.

Warnings (`radseg.RadsegWarning`): an assumed modality or spacing, a structure the click model found nothing of,
structures that overlap (the label map gives each voxel to the later one; the masks and the SEG keep each whole).
"""
from __future__ import annotations

import dataclasses
import json
import math
import numbers
import os
import pathlib
import time
import warnings
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .errors import RadsegWarning

#: A click in a volume: (slice, row, col, positive).
Click3 = Tuple[int, float, float, bool]
Progress = Optional[Callable[[int, int], object]]

#: File names `write_outputs` writes in its folder.
SEG_FILE, LABELS_FILE, MONTAGE_FILE, RESULT_FILE = "seg.dcm", "labels.nii.gz", "montage.png", "result.json"


# ---------------------------------------------------------------------------------------------------- prompts
@dataclasses.dataclass(frozen=True)
class Prompt:
    """One structure to segment: its name and its clicks (slice, row, col, positive), all on one slice."""

    name: str
    clicks: Tuple[Click3, ...]

    @property
    def seed_slice(self) -> int:
        return int(self.clicks[0][0])

    def to_dict(self) -> dict:
        return {"name": self.name, "clicks": [[int(s), _num(r), _num(c), bool(p)] for s, r, c, p in self.clicks]}


def _num(v: float):
    """A coordinate for JSON: an int when whole (40, not 40.0)."""
    return int(v) if float(v).is_integer() else float(v)


def _sign(value, where: str) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, str) and value.strip() in ("+", "-", "pos", "neg"):
        return value.strip() in ("+", "pos")
    raise ValueError(f"{where}: the 4th value says positive (true or \"+\") or negative (false or \"-\"), "
                     f"got {value!r}")


def as_click(value, where: str = "click") -> Click3:
    """(slice, row, col) or (slice, row, col, positive) -> (int slice, float row, float col, bool positive).

    `positive` is a bool or "+" / "-"; the slice must be a whole number. ValueError naming `where` otherwise.
    """
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) not in (3, 4):
        raise ValueError(f"{where}: expected [slice, row, col] or [slice, row, col, positive], got {value!r}")
    coords = []
    for v in value[:3]:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real) or not math.isfinite(float(v)):
            raise ValueError(f"{where}: slice, row and col must be numbers (voxel indices), got {value!r}")
        coords.append(float(v))
    if not coords[0].is_integer():
        raise ValueError(f"{where}: the slice index must be a whole number, got {coords[0]:g}")
    positive = _sign(value[3], where) if len(value) == 4 else True
    return int(coords[0]), coords[1], coords[2], positive


def as_prompts(prompts) -> List[Prompt]:
    """Prompt objects, or dicts {"name": str, "clicks": [[s, r, c(, positive)], ...]}, -> a list of `Prompt`.

    Checks the form only (see `check_prompts` for the volume): ValueError naming the prompt otherwise.
    """
    if isinstance(prompts, (Prompt, dict)):
        prompts = [prompts]
    if isinstance(prompts, (str, bytes)) or not hasattr(prompts, "__iter__"):
        raise ValueError(f"prompts must be a list of structures, got {type(prompts).__name__}")
    out = []
    for i, p in enumerate(prompts):
        if isinstance(p, Prompt):
            p = p.to_dict()
        where = f"structure {i + 1}"
        if not isinstance(p, dict):
            raise ValueError(f"{where}: expected an object {{\"name\": ..., \"clicks\": [...]}}, got {p!r}")
        unknown = sorted(set(p) - {"name", "clicks"})
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; a structure has \"name\" "
                             "and \"clicks\"")
        name = p.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{where}: \"name\" must be a non-empty string, got {name!r}")
        where = f"structure {i + 1} ({name.strip()!r})"
        clicks = p.get("clicks")
        if isinstance(clicks, (str, bytes)) or not isinstance(clicks, (list, tuple)) or not clicks:
            raise ValueError(f"{where}: \"clicks\" must be a non-empty list of [slice, row, col, positive]")
        out.append(Prompt(name.strip(), tuple(as_click(c, f"{where} click {k + 1}") for k, c in enumerate(clicks))))
    return out


def prompts_from_json(text: str) -> List[Prompt]:
    """Parse the prompts file format (a JSON list of {"name", "clicks"}; see `radseg segment --help`)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    if not isinstance(data, list):
        raise ValueError("expected a JSON list of structures, [{\"name\": \"liver\", \"clicks\": [[40, 210, 150, "
                         f"true]]}}, ...], got a {type(data).__name__}")
    if not data:
        raise ValueError("the list of structures is empty")
    return as_prompts(data)


def check_prompts(prompts: Sequence[Prompt], shape) -> List[Prompt]:
    """`prompts` checked against a volume of `shape` [slices, rows, cols]: unique names, every click inside,
    the clicks of a structure on one slice, at least one positive click each. ValueError saying which otherwise."""
    prompts = as_prompts(prompts)
    if not prompts:
        raise ValueError("no structure to segment: give at least one prompt (a name and its clicks)")
    n, rows, cols = (int(v) for v in shape)
    seen = {}
    for i, p in enumerate(prompts):
        where = f"structure {i + 1} ({p.name!r})"
        if p.name in seen:
            raise ValueError(f"{where}: the name is also structure {seen[p.name] + 1}'s; give each structure its "
                             "own name")
        seen[p.name] = i
        for k, (s, r, c, _) in enumerate(p.clicks):
            if not (0 <= s < n and 0 <= r <= rows - 1 and 0 <= c <= cols - 1):
                raise ValueError(f"{where}: click {_fmt(p.clicks[k])} is outside the volume, whose voxels are slice "
                                 f"0..{n - 1}, row 0..{rows - 1}, col 0..{cols - 1}")
        slices = sorted({s for s, _, _, _ in p.clicks})
        if len(slices) > 1:
            raise ValueError(f"{where}: its clicks are on slices {', '.join(map(str, slices))}; all clicks of a "
                             "structure must be on one slice (its seed slice), from which it is propagated")
        if not any(pos for _, _, _, pos in p.clicks):
            raise ValueError(f"{where}: has only negative clicks; a structure starts with a positive click on it")
    return prompts


def _fmt(click: Click3) -> str:
    s, r, c, p = click
    return f"{s},{r:g},{c:g},{'+' if p else '-'}"


# ---------------------------------------------------------------------------------------------------- results
@dataclasses.dataclass
class StructureResult:
    """One structure's segmentation.

    Attributes:
        name, label (its value in the label map, 1-based), clicks, seed_slice.
        mask: bool [slices, rows, cols].
        propagated: whether the propagation model carried it beyond the seed slice.
        stopped: per direction ("up": towards higher slice indices, "down": lower) the last slice reached, why it
            stopped and that slice's area (`radseg.propagation.session.PropagationRun.stopped`); None when not
            propagated.
        timings_ms: "click" (the seed slice's clicks, summed) and "propagate".
    """

    name: str
    label: int
    clicks: Tuple[Click3, ...]
    seed_slice: int
    mask: np.ndarray
    spacing: tuple
    propagated: bool = False
    stopped: Optional[dict] = None
    timings_ms: Dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def voxels(self) -> int:
        return int(np.count_nonzero(self.mask))

    @property
    def volume_ml(self) -> float:
        return self.voxels * float(np.prod(self.spacing)) / 1000.0

    @property
    def slices(self) -> Optional[Tuple[int, int]]:
        """(first, last) slice index holding the structure, or None when the mask is empty."""
        k = np.flatnonzero(self.mask.reshape(self.mask.shape[0], -1).any(axis=1))
        return (int(k[0]), int(k[-1])) if k.size else None

    def summary(self) -> dict:
        return {"name": self.name, "label": self.label,
                "clicks": [[int(s), _num(r), _num(c), bool(p)] for s, r, c, p in self.clicks],
                "seed_slice": self.seed_slice, "slices": list(self.slices) if self.slices else None,
                "voxels": self.voxels, "volume_ml": round(self.volume_ml, 3), "propagated": self.propagated,
                "stopped": self.stopped, "timings_ms": dict(self.timings_ms)}


@dataclasses.dataclass
class VolumeSegmentation:
    """What `segment_volume` returns: one `StructureResult` per prompt, in prompt order, and how they were made."""

    structures: List[StructureResult]
    shape: tuple
    spacing: tuple
    modality: str
    models: Dict[str, Optional[dict]]
    timings_ms: Dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def masks(self) -> Dict[str, np.ndarray]:
        return {s.name: s.mask for s in self.structures}

    def labels(self) -> np.ndarray:
        """Label map [slices, rows, cols]: 0 background, structure k (1-based, prompt order) k; uint8 (uint16
        beyond 255 structures). Where structures overlap, the later one holds the voxel."""
        dtype = np.uint8 if len(self.structures) <= 255 else np.uint16
        out = np.zeros(self.shape, dtype)
        for s in self.structures:
            out[s.mask] = s.label
        return out

    def overlaps(self) -> List[Tuple[str, str, int]]:
        """(earlier name, later name, voxels) for each pair of structures that share voxels."""
        found = []
        for i, a in enumerate(self.structures):
            for b in self.structures[i + 1:]:
                n = int(np.count_nonzero(a.mask & b.mask))
                if n:
                    found.append((a.name, b.name, n))
        return found

    def summary(self) -> dict:
        return {"shape": list(self.shape), "spacing_mm": [round(float(v), 6) for v in self.spacing],
                "modality": self.modality, "structures": [s.summary() for s in self.structures],
                "overlaps": [{"structures": [a, b], "voxels": n, "label_map_gives_them_to": b}
                             for a, b, n in self.overlaps()],
                "models": self.models, "timings_ms": dict(self.timings_ms)}


# ---------------------------------------------------------------------------------------------------- the work
def _model_info(model) -> dict:
    return {"path": str(model.path) if getattr(model, "path", None) is not None else None,
            "backend": model.backend, "refused": model.refused}


def _load(model, task: str, backend, threads):
    """A loaded model of `task`: `model` itself, or ``radseg.load(model)`` for a name or folder."""
    if isinstance(model, (str, os.PathLike)):
        from .load import load

        model = load(model, backend=backend, threads=threads)
    manifest = getattr(model, "manifest", None)
    if getattr(manifest, "task", None) != task:
        got = getattr(manifest, "task", type(model).__name__)
        raise ValueError(f"the {task} model given is a {got!r} model; pass a {task} model "
                         f"(radseg.load({task!r}) or an exported {task} model folder)")
    return model


def _array_and_geometry(volume, spacing, modality):
    """(float32 array, spacing (slice, row, col), modality or None) from a Volume or an array."""
    from .dicom.volume import Volume

    if isinstance(volume, Volume):
        array = volume.array
        spacing = volume.spacing if spacing is None else spacing
        modality = modality or (volume.modality or None)
    else:
        array = volume
    a = np.asarray(array)
    if a.ndim != 3:
        raise ValueError(f"volume must be 3D [slices, rows, cols], got shape {a.shape}")
    if spacing is None:
        warnings.warn("no voxel spacing given: assuming 1 mm x 1 mm x 1 mm; pass spacing=(slice_mm, row_mm, col_mm)",
                      RadsegWarning, stacklevel=3)
        spacing = (1.0, 1.0, 1.0)
    spacing = tuple(float(v) for v in spacing)
    if len(spacing) != 3 or not all(math.isfinite(v) and v > 0 for v in spacing):
        raise ValueError(f"spacing must be 3 positive mm values (slice, row, col), got {spacing!r}")
    return np.asarray(a, np.float32), spacing, (str(modality).upper() if modality else None)


def resolve_modality(modality: Optional[str], *models) -> str:
    """The modality key every model knows (case-insensitive), or ValueError; None assumes CT and warns."""
    if modality is None:
        warnings.warn("no modality given and none in the volume: assuming CT (values in Hounsfield units); pass "
                      "modality='CT' or 'MR'", RadsegWarning, stacklevel=3)
        modality = "CT"
    for m in models:
        if m is not None and str(modality).upper() not in {k.upper() for k in m.modalities}:
            raise ValueError(f"modality {modality!r} is not one the {m.manifest.task} model knows "
                             f"({', '.join(m.modalities)})")
    return str(modality).upper()


def segment_volume(volume, prompts, *, click_model="click", propagation_model="propagation", propagate: bool = True,
                   spacing=None, modality: Optional[str] = None, backend: Optional[str] = None,
                   threads: Optional[int] = None, progress: Progress = None) -> VolumeSegmentation:
    """Segment each prompt's structure: the click model on its seed slice, then (with `propagate`) the
    propagation model through the volume.

    Args:
        volume: a `radseg.dicom.Volume` (spacing and modality come from it) or a real array [slices, rows, cols];
            CT in Hounsfield units.
        prompts: `Prompt` objects or dicts {"name": str, "clicks": [(slice, row, col[, positive]), ...]} (see
            `check_prompts`).
        click_model, propagation_model: loaded models, or names / folders for `radseg.load` (with `backend`,
            `threads`). The propagation model is not loaded without `propagate`.
        spacing: (slice_mm, row_mm, col_mm), overriding the volume's; None for an array assumes 1 mm and warns.
        modality: "CT" or "MR", overriding the volume's; None with none in the volume assumes CT and warns.
        progress: called as progress(done, total) as the work goes (units: slices when propagating, structures
            otherwise); its return value is ignored.
    Returns:
        `VolumeSegmentation`.
    Raises:
        ValueError for prompts that do not fit the volume, a wrong kind of model, a modality a model does not
        know, or a single-slice volume with `propagate`; what `radseg.load` raises for a model it cannot load.
    """
    t_start = time.perf_counter()
    array, spacing, modality = _array_and_geometry(volume, spacing, modality)
    prompts = check_prompts(prompts, array.shape)
    if propagate and array.shape[0] < 2:
        raise ValueError(f"the volume has {array.shape[0]} slice: there is nothing to propagate through; pass "
                         "propagate=False")
    t0 = time.perf_counter()
    clicker = _load(click_model, "click", backend, threads)
    propagator = _load(propagation_model, "propagation", backend, threads) if propagate else None
    load_ms = (time.perf_counter() - t0) * 1e3
    loaded = isinstance(click_model, (str, os.PathLike)) or isinstance(propagation_model, (str, os.PathLike))
    modality = resolve_modality(modality, clicker, propagator)
    run = propagator.start(array, spacing=spacing, modality=modality) if propagator is not None else None
    n = array.shape[0]
    per = (n - 1) if propagate else 1
    total = per * len(prompts)
    results = []
    for i, p in enumerate(prompts):
        k = p.seed_slice
        t1 = time.perf_counter()
        sess = clicker.start(array[k], spacing=spacing[1:], modality=modality)
        seed = None
        for _, r, c, positive in p.clicks:
            seed = sess.click(r, c, positive=positive)
        t2 = time.perf_counter()
        mask = np.zeros(array.shape, bool)
        mask[k] = seed
        res = StructureResult(p.name, i + 1, p.clicks, k, mask, spacing,
                              timings_ms={"click": round((t2 - t1) * 1e3, 2)})
        if run is not None and seed.any():
            def step(done, _total, base=i * per):
                if progress is not None:
                    progress(base + min(done, per), total)

            res.mask = run.propagate(k, seed, progress=step)
            stopped = run.stopped
            res.propagated, res.stopped = True, {d: stopped[d] for d in ("up", "down") if d in stopped}
            res.timings_ms["propagate"] = round((time.perf_counter() - t2) * 1e3, 1)
        elif not seed.any():
            warnings.warn(f"structure {p.name!r}: the click model found nothing at its clicks on slice {k}; it is "
                          "left empty" + (" (nothing to propagate)" if run is not None else ""),
                          RadsegWarning, stacklevel=2)
        results.append(res)
        if progress is not None:
            progress((i + 1) * per, total)
    out = VolumeSegmentation(
        structures=results, shape=tuple(array.shape), spacing=spacing, modality=modality,
        models={"click": _model_info(clicker), "propagation": _model_info(propagator) if propagator else None},
        timings_ms={**({"load_models": round(load_ms, 1)} if loaded else {}),
                    "segment": round((time.perf_counter() - t_start) * 1e3 - load_ms, 1)})
    for a, b, count in out.overlaps():
        warnings.warn(f"structures {a!r} and {b!r} overlap in {count} voxels: the label map gives them to {b!r} "
                      "(the later one); each structure's own mask (and DICOM SEG segment) keeps them",
                      RadsegWarning, stacklevel=2)
    return out


# ---------------------------------------------------------------------------------------------------- inputs
def read_volume(path, series_uid: Optional[str] = None):
    """A `radseg.dicom.Volume` from a DICOM folder or file (`read_series`) or a .nii / .nii.gz file (`read_nifti`).

    Raises FileNotFoundError for a missing path, and what `radseg.dicom` raises for files it cannot read
    (`MultipleSeriesError` when a folder holds several series and `series_uid` is None).
    """
    from . import dicom as rd

    p = pathlib.Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if p.is_file() and p.name.lower().endswith((".nii", ".nii.gz")):
        vol = rd.read_nifti(p)
        vol.metadata["format"] = "nifti"
        return vol
    vol = rd.read_series(p, series_uid=series_uid)
    vol.metadata["format"] = "dicom"
    return vol


def describe_input(volume, path=None) -> dict:
    """A JSON-able description of the input volume for result.json."""
    out = {"path": str(path) if path is not None else volume.metadata.get("source"),
           "format": volume.metadata.get("format", "dicom" if volume.source_headers else "array"),
           "shape": list(volume.shape), "spacing_mm": [round(float(v), 6) for v in volume.spacing],
           "modality": volume.modality or None}
    if volume.source_headers:
        out.update(series_instance_uid=volume.series_instance_uid, study_instance_uid=volume.study_instance_uid,
                   frame_of_reference_uid=volume.frame_of_reference_uid,
                   series_description=volume.metadata.get("series_description"))
    if volume.generated_uids:
        out["generated_uids"] = {k: (v if isinstance(v, str) else f"{sum(1 for u in v if u)} generated")
                                 for k, v in volume.generated_uids.items()}
    return out


def as_volume(volume, spacing=None):
    """`volume` when it is a `radseg.dicom.Volume`, else one on a plain grid (origin 0, axes along LPS)."""
    from .dicom.volume import Volume

    if isinstance(volume, Volume):
        return volume
    a = np.asarray(volume)
    return Volume(array=a, spacing=tuple(spacing or (1.0, 1.0, 1.0)), origin=np.zeros(3),
                  direction=np.eye(3)[:, [2, 1, 0]], metadata={"format": "array"})


# ---------------------------------------------------------------------------------------------------- outputs
def write_labels(volume, labels: np.ndarray, path) -> str:
    """Write the label map on the volume's grid as NIfTI. A volume read from a NIfTI keeps that file's affine
    (sform and qform with their codes) exactly; others get `radseg.dicom.write_nifti`'s (dcm2niix layout)."""
    from . import dicom as rd
    from ._atomic import write_atomic
    from .dicom.errors import require

    source = volume.metadata.get("source")
    if volume.metadata.get("format") == "nifti" and source and os.path.isfile(source):
        nib = require("nibabel")
        rd.nifti.check_nifti_path(path)
        src = nib.load(source)
        img = nib.Nifti1Image(np.ascontiguousarray(labels.transpose(2, 1, 0)), None)
        img.set_sform(src.get_sform(), code=int(src.header["sform_code"]))
        img.set_qform(src.get_qform(), code=int(src.header["qform_code"]))
        img.header.set_xyzt_units(*src.header.get_xyzt_units())
        img.set_data_dtype(labels.dtype)
        gz = os.fspath(path).lower().endswith(".gz")
        return write_atomic(path, lambda tmp: nib.save(img, tmp), suffix=".nii.gz" if gz else ".nii")
    return rd.write_nifti(volume, path, array=labels)


def write_outputs(result: VolumeSegmentation, volume, out, *, seg="auto", fill_missing_uids: bool = False,
                  labels: bool = True, montage: bool = True, max_tiles: int = 24, extra: Optional[dict] = None,
                  input_path=None, timings: Optional[dict] = None) -> Dict[str, str]:
    """Write a run's files into the folder `out` (which must exist), each atomically; result.json last.

    seg.dcm: a DICOM SEG of the non-empty structures referencing the series (`seg` "auto": when `volume` came
    from DICOM; True insists, False leaves it out); `fill_missing_uids` as for `radseg.dicom.write_seg`.
    labels.nii.gz: `VolumeSegmentation.labels` on the volume's grid (`write_labels`). montage.png:
    `radseg.montage.make_montage`. result.json: the input (`describe_input`), `result.summary()`, the montage's
    layout, the files written and their timings (after `timings`, e.g. {"read": ms}), and `extra`.

    Returns {"seg": path, "labels": ..., "montage": ..., "result": ...} for the files written.
    Raises what `radseg.dicom.write_seg` raises (`SegError` for missing UIDs without `fill_missing_uids`), before
    any file is written.
    """
    from . import dicom as rd
    from ._atomic import write_atomic
    from .montage import make_montage, write_montage

    volume = as_volume(volume, result.spacing)
    out = pathlib.Path(out)
    written, written_ms, summary = {}, {}, result.summary()
    nonempty = {s.name: s.mask for s in result.structures if s.voxels}
    want_seg = bool(volume.source_headers) if seg == "auto" else bool(seg)
    montage_info = None
    if want_seg:
        t = time.perf_counter()
        if not nonempty:
            warnings.warn(f"every structure is empty: no {SEG_FILE} written (a DICOM SEG needs a segment with "
                          "voxels)", RadsegWarning, stacklevel=2)
        else:
            written["seg"] = rd.write_seg(volume, nonempty, out / SEG_FILE, fill_missing_uids=fill_missing_uids)
        written_ms["seg"] = round((time.perf_counter() - t) * 1e3, 1)
    if labels:
        t = time.perf_counter()
        written["labels"] = write_labels(volume, result.labels(), out / LABELS_FILE)
        written_ms["labels"] = round((time.perf_counter() - t) * 1e3, 1)
    if montage:
        t = time.perf_counter()
        m = make_montage(volume.array, [s.mask for s in result.structures], names=[s.name for s in result.structures],
                         clicks=[s.clicks for s in result.structures], modality=result.modality, max_tiles=max_tiles)
        written["montage"] = write_montage(out / MONTAGE_FILE, m)
        montage_info = m.info()
        written_ms["montage"] = round((time.perf_counter() - t) * 1e3, 1)
    doc = {"input": describe_input(volume, input_path), "modality": summary["modality"],
           "structures": summary["structures"], "overlaps": summary["overlaps"], "models": summary["models"],
           "outputs": {k: os.path.basename(v) for k, v in written.items()}}
    if montage_info is not None:
        doc["montage"] = montage_info
    doc["timings_ms"] = {**(timings or {}), **summary["timings_ms"], **{f"write_{k}": v for k, v in written_ms.items()}}
    doc.update(extra or {})
    text = dumps(doc) + "\n"
    written["result"] = write_atomic(out / RESULT_FILE, lambda tmp: pathlib.Path(tmp).write_text(text),
                                     suffix=".json")
    return written


def dumps(doc, indent: int = 1) -> str:
    """JSON with objects indented and lists of plain values on one line ([8, 31], [40, 210, 150, true])."""
    def plain(v):
        return v is None or isinstance(v, (bool, int, float, str, np.generic))

    def fmt(v, depth):
        pad, inner = " " * indent * depth, " " * indent * (depth + 1)
        if isinstance(v, dict):
            if not v:
                return "{}"
            items = [f"{inner}{json.dumps(str(k))}: {fmt(x, depth + 1)}" for k, x in v.items()]
            return "{\n" + ",\n".join(items) + "\n" + pad + "}"
        if isinstance(v, (list, tuple)):
            if all(plain(x) or (isinstance(x, (list, tuple)) and all(plain(y) for y in x)) for x in v):
                return json.dumps(v, default=_json_default)
            return "[\n" + ",\n".join(inner + fmt(x, depth + 1) for x in v) + "\n" + pad + "]"
        return json.dumps(v, default=_json_default)

    return fmt(doc, 0)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (pathlib.Path, os.PathLike)):
        return os.fspath(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


__all__ = ["Prompt", "StructureResult", "VolumeSegmentation", "segment_volume", "as_prompts", "as_click",
           "check_prompts", "prompts_from_json", "read_volume", "describe_input", "write_labels", "write_outputs",
           "resolve_modality"]
