"""Carrying a mask through a volume: the pure loop behind `PropagationRun` (no state, no network of its own).

From a start slice and its mask, each direction steps one slice at a time, the mask just found being the prior of
the next slice; the directions that are still going are answered by one network call (a batch of up to two). A
direction stops when

* ``"volume end"``: the next slice would lie outside the volume, or the limit given (an anchor) is reached
  (``"anchor"``);
* ``"vanished"``: the new mask is smaller than ``stopping.min_area_mm2`` (the structure has ended);
* ``"leak"``: the new mask is more than ``stopping.max_growth`` times the previous one (once above
  ``stopping.growth_floor_mm2``): it has run into a neighbouring structure, and the slice is not kept;
* ``"converged"``: the new mask agrees with the one already there (Dice >= ``stopping.converge_dice``), so the
  slices beyond it would not change either (used when a correction re-propagates);
* ``"uncertain"``: the network's confidence (the mean probability inside the mask it answered) stayed below
  ``stopping.min_confidence`` for ``stopping.uncertain_steps`` slices in a row: it is no longer following a
  structure it recognises (past a structure's end it tends to carry a small blob on); those slices are not kept.
  Off unless the manifest sets ``min_confidence`` and `predict` reports confidences;
* ``"cancelled"``: the progress callback returned False.

Masks are bool [rows, cols] on the volume's slice grid; slice indices count along axis 0 of [slices, rows, cols].
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..metrics import dice

UP, DOWN = "up", "down"  # towards higher / lower slice indices
STEP = {UP: 1, DOWN: -1}

#: predict(slice indices, prior masks) -> the masks of those slices, one network batch; each item may also be a
#: (mask, confidence) pair, confidence in [0, 1] (see "uncertain").
Predict = Callable[[Sequence[int], Sequence[np.ndarray]], List[np.ndarray]]


@dataclass
class Stop:
    """Where a direction stopped: ``last`` is the last slice that holds a mask from this run (the start slice when
    the first step already stopped), ``reason`` one of the module docstring's, ``area_mm2`` that slice's area."""

    last: int
    reason: str
    area_mm2: float

    def as_dict(self) -> dict:
        return {"last": int(self.last), "reason": self.reason, "area_mm2": round(float(self.area_mm2), 1)}


def propagate(predict: Predict, start: int, start_mask: np.ndarray, limits: Dict[str, int], n_slices: int,
              pixel_mm2: float, stopping: dict, previous: Optional[Dict[int, np.ndarray]] = None,
              progress: Optional[Callable[[int, int], object]] = None) -> Tuple[Dict[int, np.ndarray], Dict[str, Stop]]:
    """Propagate `start_mask` from slice `start` in the directions of `limits`.

    Args:
        predict: the network step (see `Predict`).
        start: slice index of the mask to propagate from (it is not changed).
        start_mask: bool [rows, cols], non-empty.
        limits: direction -> the first slice index NOT to write in that direction (an anchor, or -1 / the slice
            count for the volume's ends); directions left out are not run.
        n_slices: the volume's slice count.
        pixel_mm2: area of one pixel, row_mm * col_mm.
        stopping: the manifest's stopping dict.
        previous: slice index -> the mask there before (for "converged"); None disables that test.
        progress: called as progress(done, total) after every network step: `done` slices predicted so far, `total`
            that plus the most the directions still going can take (it shrinks as directions stop, and equals
            `done` on the last call); returning False cancels.
    Returns:
        (slice index -> new mask, for every slice written; direction -> Stop).
    Raises:
        ValueError: `start` outside the volume, an unknown direction, or a limit not beyond `start` in its direction
            (the loop would walk off the volume).
    """
    if not 0 <= start < n_slices:
        raise ValueError(f"start slice {start} is outside the volume's {n_slices} slices")
    for d, lim in limits.items():
        if d not in STEP:
            raise ValueError(f"unknown direction {d!r}; directions are {sorted(STEP)}")
        if not (-1 <= lim <= n_slices and (lim - start) * STEP[d] >= 1):
            raise ValueError(f"limit {lim} for direction {d!r} is not beyond the start slice {start} within "
                             f"[-1, {n_slices}]")
    min_area = float(stopping.get("min_area_mm2", 8.0))
    max_growth = float(stopping.get("max_growth", 2.5))
    floor = float(stopping.get("growth_floor_mm2", 150.0))
    converge = float(stopping.get("converge_dice", 0.98))
    min_conf = stopping.get("min_confidence")
    uncertain_steps = int(stopping.get("uncertain_steps", 2))
    start_area = float(np.count_nonzero(start_mask)) * pixel_mm2
    areas = {start: start_area}
    low_run = {d: [] for d in limits}  # direction -> the slices of its current run of low-confidence answers
    state = {d: (start, start_mask, start_area) for d in limits}  # direction -> (last index, its mask, its area)
    stops: Dict[str, Stop] = {}
    written: Dict[int, np.ndarray] = {}
    done = 0
    while state:
        for d in list(state):  # directions whose next slice is the limit stop before asking the network
            last, _, area = state[d]
            if last + STEP[d] == limits[d]:
                stops[d] = Stop(last, "anchor" if 0 <= limits[d] < n_slices else "volume end", area)
                del state[d]
        if not state:
            break
        dirs = list(state)
        news = predict([state[d][0] + STEP[d] for d in dirs], [state[d][1] for d in dirs])
        for d, new in zip(dirs, news):
            conf = None
            if isinstance(new, tuple):
                new, conf = new
            last, prior, area = state[d]
            j = last + STEP[d]
            new_area = float(np.count_nonzero(new)) * pixel_mm2
            done += 1
            if new_area < min_area:
                stops[d] = Stop(last, "vanished", area)
            elif new_area > floor and new_area > max_growth * max(area, 1e-9):
                stops[d] = Stop(last, "leak", area)
            else:
                written[j], areas[j] = new, new_area
                low = min_conf is not None and conf is not None and conf < float(min_conf)
                low_run[d] = low_run[d] + [j] if low else []
                old = None if previous is None else previous.get(j)
                if len(low_run[d]) >= uncertain_steps:
                    for i in low_run[d]:
                        del written[i]
                    back = low_run[d][0] - STEP[d]
                    stops[d] = Stop(back, "uncertain", areas[back])
                elif old is not None and old.any() and dice(new, old) >= converge:
                    stops[d] = Stop(j, "converged", new_area)
                else:
                    state[d] = (j, new, new_area)
                    continue
            del state[d]
        # The total is what is done plus what the live directions could still take, so that a bar ends full when
        # directions stop early (vanished, leak) instead of stalling at the share of the volume they covered.
        total = done + sum(abs(limits[d] - state[d][0]) - 1 for d in state)
        if progress is not None and progress(done, total) is False:
            for d in list(state):
                stops[d] = Stop(state[d][0], "cancelled", state[d][2])
            state.clear()
    return written, stops


def keep_prior_components(mask: np.ndarray, prior: np.ndarray, reach_mm: float, spacing) -> np.ndarray:
    """The components of `mask` (8-connected) that overlap `prior` grown by `reach_mm`: a propagation step may only
    continue the structure it was given, not start another one elsewhere in its crop."""
    from ..geometry import binary_dilation, label_components

    if not mask.any():
        return mask
    near = binary_dilation(prior, float(reach_mm), spacing=spacing) if reach_mm > 0 else prior
    labels, sizes = label_components(mask, connectivity=2)
    if len(sizes) <= 2:
        return mask if (mask & near).any() else np.zeros_like(mask)
    keep = np.unique(labels[near & mask])
    return np.isin(labels, keep[keep > 0])
