"""Propagation through a volume: `PropagationModel.start(volume, ...)` -> `PropagationRun`.

    prop = radseg.load("propagation")
    run = prop.start(volume, spacing=(slice_mm, row_mm, col_mm), modality="CT")   # [slices, rows, cols], CT in HU
    masks = run.propagate(seed_index, seed_mask)    # bool [slices, rows, cols]: up and down from the seed
    masks = run.correct(index, mask)                # that slice becomes an anchor; re-propagates to the next anchors
    run.anchors; run.stopped; masks = run.undo()

A run holds one structure. Each step segments a slice from its neighbour's mask (`radseg.propagation.preprocess`,
`radseg.propagation.engine`); both directions go through the network as one batch of two. Anchors (the seed and
every correction) are never overwritten. Every method validates its arguments first and leaves the run unchanged
when it raises.
"""
from __future__ import annotations

import numbers
import warnings
from typing import Callable, Dict, List, Optional

import numpy as np

from .._model import LoadedModel
from .._validate import as_spacing
from ..crop import logits_to_mask
from ..errors import RadsegWarning
from ..intensity import hounsfield_problem, intensity_bounds, intensity_spec, check_volume, scale_to_bounds

from . import engine
from .preprocess import make_inputs

Progress = Optional[Callable[[int, int], object]]


class PropagationModel(LoadedModel):
    """A loaded propagation model: its backend and manifest (attributes: see `radseg._model.LoadedModel`). Made by
    `radseg.load`; holds no per-volume state."""

    task = "propagation"

    def __init__(self, runtime, manifest, path=None, blas_threads: Optional[int] = 1):
        super().__init__(runtime, manifest, path, blas_threads)
        if manifest.in_channels != 2:  # make_inputs builds exactly (slice, prior)
            raise ValueError(f"PropagationModel needs 2 input channels (slice, prior), the manifest says "
                             f"{manifest.in_channels}")

    def warmup(self) -> "PropagationModel":
        """One pass on zeros, batch of two (the runtime's first-run allocations, and a check that the graph takes
        the manifest's input shape)."""
        s, c = self.manifest.input_size, self.manifest.in_channels
        self.runtime.run({self.manifest.input_name: np.zeros((2, c, s, s), np.float32)})
        return self

    def start(self, volume, spacing=None, modality: Optional[str] = None) -> "PropagationRun":
        """Begin propagating one structure through `volume`.

        Args:
            volume: real array [slices, rows, cols] (at least 2 slices, each side of a slice 8..8192 pixels); CT in
                Hounsfield units, MR in the scanner's raw units; NaN and inf are refused.
            spacing: (slice_mm, row_mm, col_mm). None assumes 1 mm and warns (`radseg.RadsegWarning`).
            modality: one of ``self.modalities`` ("CT", "MR"; case-insensitive). None assumes CT and warns.
        """
        if spacing is None:
            warnings.warn("no voxel spacing given: assuming 1 mm x 1 mm x 1 mm, which sizes the crop and the "
                          "stopping areas wrongly for most volumes; pass spacing=(slice_mm, row_mm, col_mm)",
                          RadsegWarning, stacklevel=2)
            spacing = (1.0, 1.0, 1.0)
        if modality is None:
            warnings.warn("no modality given: assuming CT (values in Hounsfield units); pass modality='CT' or "
                          "modality='MR'", RadsegWarning, stacklevel=2)
            modality = "CT"
        return PropagationRun(self, volume, spacing, modality)

    def predict(self, slices: List[np.ndarray], priors: List[np.ndarray], spacing) -> List[np.ndarray]:
        """(mask, confidence) for normalised `slices` ([rows, cols] float32) from their `priors` (bool, non-empty):
        one network batch, pasted back, then the manifest's post-processing (keep the components near the prior);
        `confidence` is the mean probability inside the answer (`confidence`)."""
        with self._blas_limit():
            x, boxes = make_inputs(slices, priors, spacing, self.manifest)
        logits = self.runtime.run({self.manifest.input_name: x})[self.manifest.output_name]
        post = self.manifest.postprocess
        out = []
        with self._blas_limit():
            for i, box in enumerate(boxes):
                mask = logits_to_mask(logits[i, 0], box, slices[i].shape)
                if post.get("keep_prior_components", False):
                    mask = engine.keep_prior_components(mask, priors[i], float(post.get("reach_mm", 5.0)), spacing)
                out.append((mask, confidence(logits[i, 0])))
        return out

    def __repr__(self) -> str:
        return f"PropagationModel(path={str(self.path)!r}, backend={self.backend!r})"


def confidence(logits: np.ndarray) -> float:
    """The mean sigmoid probability over the crop pixels the network calls foreground (logit > 0); 0 for none.
    High inside a structure the network recognises, lower where it guesses (measured on training patients)."""
    pos = logits > 0
    if not pos.any():
        return 0.0
    return float(np.mean(1.0 / (1.0 + np.exp(-logits[pos].astype(np.float64)))))


class PropagationRun:
    """One structure carried through one volume. Not thread-safe.

    Attributes (read-only):
        masks: bool [slices, rows, cols], the current segmentation (a copy).
        anchors: {slice index: bool [rows, cols]}: the seed and every correction; propagation never changes them.
        stopped: {"up": {...}, "down": {...}}: per direction (towards higher / lower slice indices) the last slice
            reached ("last"), why it stopped ("reason": volume end, vanished, leak, uncertain, anchor, converged,
            cancelled;
            see `radseg.propagation.engine`) and that slice's area in mm^2.
        shape, spacing (slice_mm, row_mm, col_mm), modality.
        last_stats: of the last propagate / correct: {"slices_written" (set or cleared), "network_steps" (network
            calls), "slices_predicted" (slices they segmented: up to two per call)}.
    """

    def __init__(self, model: PropagationModel, volume, spacing, modality: str):
        a = check_volume(volume)
        if a.shape[0] < 2:
            raise ValueError(f"volume has {a.shape[0]} slice: there is nothing to propagate through; segment a single "
                             "slice with the click model (radseg.load('click'))")
        if not all(8 <= n <= 8192 for n in a.shape[1:]):
            raise ValueError(f"volume slices are {a.shape[1]} x {a.shape[2]}: each side must lie in [8, 8192] pixels")
        self.spacing = tuple(as_spacing(spacing, 3, "spacing"))
        intensity_spec(modality, model.manifest)  # unknown modality: ValueError before any work
        self.modality = next(k for k in model.manifest.intensity if k.upper() == str(modality).upper())
        problem = hounsfield_problem(a) if self.modality.upper() == "CT" else None
        if problem:
            warnings.warn(f"{problem}: these look like raw stored pixel values; convert them to HU first "
                          "(HU = stored * RescaleSlope + RescaleIntercept; radseg.dicom.read_series does this)",
                          RadsegWarning, stacklevel=3)
        self._model = model
        self._volume = a
        self._bounds = intensity_bounds(a, self.modality, model.manifest)  # one normalisation for the volume
        self._norm: Dict[int, np.ndarray] = {}
        self.shape = tuple(int(v) for v in a.shape)
        self._masks = np.zeros(self.shape, bool)
        self._anchors: Dict[int, np.ndarray] = {}
        self._stopped: Dict[str, dict] = {}
        self._history: List[tuple] = []  # per correction: (changed slices' old masks, old anchors, old stopped)
        self.last_stats: Dict[str, int] = {}

    # ---- state -----------------------------------------------------------------------------------------------
    @property
    def masks(self) -> np.ndarray:
        return self._masks.copy()

    @property
    def anchors(self) -> Dict[int, np.ndarray]:
        return {k: v.copy() for k, v in sorted(self._anchors.items())}

    @property
    def stopped(self) -> Dict[str, dict]:
        return {d: dict(v) for d, v in self._stopped.items()}

    # ---- interaction -----------------------------------------------------------------------------------------
    def propagate(self, seed_index, seed_mask, progress: Progress = None) -> np.ndarray:
        """Start over from `seed_mask` on slice `seed_index` and carry it up and down the volume.

        Args:
            seed_index: slice index, 0 <= seed_index < slices.
            seed_mask: bool (or 0/1 integer) [rows, cols], non-empty: the structure on that slice.
            progress: called as progress(done, total) after each network step; returning False cancels (the
                slices done so far are kept; `stopped` says "cancelled").
        Returns:
            bool [slices, rows, cols].
        """
        k = self._check_index(seed_index, "propagate")
        seed = self._check_mask(seed_mask, "propagate", allow_empty=False)
        _check_progress(progress, "propagate")
        written, stops = self._run(k, seed, {engine.UP: self.shape[0], engine.DOWN: -1}, None, progress)
        masks = np.zeros(self.shape, bool)
        masks[k] = seed
        for j, m in written.items():
            masks[j] = m
        self._masks, self._anchors, self._history = masks, {k: seed.copy()}, []
        self._stopped = {d: s.as_dict() for d, s in stops.items()}
        return self._masks.copy()

    def correct(self, index, mask, progress: Progress = None) -> np.ndarray:
        """Make `mask` the answer on slice `index` (it becomes an anchor) and re-propagate from it towards the next
        anchor on each side (or the volume's end), stopping early where the new masks agree with the old ones.

        An empty `mask` says the structure is not on that slice: the slices beyond it (away from the other anchors)
        are cleared up to the volume's end, unless an anchor lies that way. Likewise, where the re-propagation
        towards the volume's end vanishes or leaks, the slices beyond that stop are cleared (as a fresh
        `propagate` would leave them); towards an anchor they are kept (the anchor says the structure is there).

        Args:
            index: slice index, 0 <= index < slices (an anchor already there is replaced).
            mask: bool (or 0/1 integer) [rows, cols]; may be empty.
            progress: as for `propagate`.
        Returns:
            bool [slices, rows, cols].
        """
        if not self._anchors:
            raise ValueError("correct: nothing has been propagated yet; call propagate(seed_index, seed_mask) first")
        k = self._check_index(index, "correct")
        new = self._check_mask(mask, "correct", allow_empty=True)
        _check_progress(progress, "correct")
        limits = self._limits(k)
        old_anchors = {i: m.copy() for i, m in self._anchors.items()}
        old_stopped = self.stopped
        ends = {d for d, lim in limits.items() if lim in (-1, self.shape[0])}  # no anchor beyond k that way
        if new.any():
            previous = {j: self._masks[j] for j in self._between(k, limits)}
            written, stops = self._run(k, new, limits, previous, progress)
            for d in ends:  # the structure ends earlier now: what the old run found beyond belongs to nothing
                if stops[d].reason in ("vanished", "leak"):
                    for j in range(stops[d].last + engine.STEP[d], limits[d], engine.STEP[d]):
                        if self._masks[j].any():
                            written[j] = np.zeros(self.shape[1:], bool)
            self.last_stats["slices_written"] = len(written)
        else:  # nothing to propagate from: clear outwards where no anchor lies beyond
            written = {j: np.zeros(self.shape[1:], bool) for d in ends
                       for j in range(k + engine.STEP[d], limits[d], engine.STEP[d])}
            stops = {d: engine.Stop(k, "vanished", 0.0) for d in ends}
            self.last_stats = {"slices_written": len(written), "network_steps": 0, "slices_predicted": 0}
        changed = {j: self._masks[j].copy() for j in list(written) + [k]}
        self._history.append((changed, old_anchors, old_stopped))
        self._masks[k] = new
        for j, m in written.items():
            self._masks[j] = m
        self._anchors[k] = new.copy()
        for d, s in stops.items():  # the overall extent changes only where no anchor lies beyond the correction
            if d in ends and s.reason not in ("anchor", "converged"):
                self._stopped[d] = s.as_dict()
        return self._masks.copy()

    def undo(self) -> np.ndarray:
        """Take back the last correction (its slices, its anchor and the stop it changed); returns the masks."""
        if not self._history:
            raise ValueError("undo: there is no correction to undo (propagate() starts a run over)")
        changed, anchors, stopped = self._history.pop()
        for j, m in changed.items():
            self._masks[j] = m
        self._anchors, self._stopped = anchors, stopped
        return self._masks.copy()

    # ---- internals -------------------------------------------------------------------------------------------
    def _slice(self, j: int) -> np.ndarray:
        if j not in self._norm:
            if len(self._norm) > 64:  # a bounded cache: a run walks the volume, it does not jump around
                self._norm.pop(next(iter(self._norm)))
            self._norm[j] = scale_to_bounds(self._volume[j], self._bounds)
        return self._norm[j]

    def _run(self, k, mask, limits, previous, progress):
        steps = {"slices": 0, "steps": 0}
        in_plane = self.spacing[1:]

        def predict(indices, priors):
            steps["steps"] += 1
            steps["slices"] += len(indices)
            return self._model.predict([self._slice(j) for j in indices], list(priors), in_plane)

        written, stops = engine.propagate(predict, k, mask, limits, self.shape[0], in_plane[0] * in_plane[1],
                                          self._model.manifest.stopping, previous=previous, progress=progress)
        self.last_stats = {"slices_written": len(written), "network_steps": steps["steps"],
                           "slices_predicted": steps["slices"]}
        return written, stops

    def _limits(self, k: int) -> Dict[str, int]:
        above = [a for a in self._anchors if a > k]
        below = [a for a in self._anchors if a < k]
        return {engine.UP: min(above) if above else self.shape[0], engine.DOWN: max(below) if below else -1}

    @staticmethod
    def _between(k: int, limits: Dict[str, int]) -> List[int]:
        return [j for d, lim in limits.items() for j in range(k + engine.STEP[d], lim, engine.STEP[d])]

    def _check_index(self, index, where: str) -> int:
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, numbers.Integral):
            raise TypeError(f"{where}: the slice index must be an integer, got {type(index).__name__} {index!r}")
        k = int(index)
        if not 0 <= k < self.shape[0]:
            raise ValueError(f"{where}: slice index {k} is outside the volume's {self.shape[0]} slices "
                             f"(0 .. {self.shape[0] - 1})")
        return k

    def _check_mask(self, mask, where: str, allow_empty: bool) -> np.ndarray:
        m = np.asarray(mask)
        if m.dtype != np.bool_ and not np.issubdtype(m.dtype, np.integer):
            raise TypeError(f"{where}: the mask must be bool or integer (nonzero = inside), got dtype {m.dtype}; "
                            "threshold probabilities first")
        if m.shape != self.shape[1:]:
            raise ValueError(f"{where}: the mask has shape {m.shape}, a slice of this volume is {self.shape[1:]} "
                             "[rows, cols]")
        m = m != 0
        if not allow_empty and not m.any():
            raise ValueError(f"{where}: the seed mask is empty: there is nothing to propagate; draw the structure "
                             "or segment it with the click model first")
        return m

    def __repr__(self) -> str:
        return (f"PropagationRun(shape={self.shape}, spacing={self.spacing}, modality={self.modality!r}, "
                f"anchors={sorted(self._anchors)})")


def _check_progress(progress, where: str) -> None:
    if progress is not None and not callable(progress):
        raise TypeError(f"{where}: progress must be None or a callable progress(done, total), got "
                        f"{type(progress).__name__}")
