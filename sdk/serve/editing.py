"""One person editing one structure in one volume: what the viewer page of `radseg serve` drives.

    edit = Editing(volume, models)                        # models: Models(click, propagation, body)
    edit.click(40, 210, 150)                              # (slice, row, col): that slice's mask, bool [rows, cols]
    edit.drag(214, 152)                                   # move the last click while the button is held
    edit.propagate(40)                                    # the seed slice's mask through the volume
    edit.click(55, 200, 140); edit.correct(55)            # redraw slice 55 with clicks, re-propagate from it
    edit.undo()                                           # takes back the correction
    edit.body()                                           # the body outline, a second layer
    edit.masks()                                          # {"structure": bool [S, R, C], "body": ...}

All positions are voxel indices of the volume's array [slices, rows, cols]. Each slice that is clicked gets its
own `radseg.click.ClickSession`: its clicks make that slice's mask (replacing whatever was there; a slice that
holds only negative clicks keeps its mask). Propagation starts a `radseg.propagation.PropagationRun` from one
slice; `correct` makes the current mask of a slice an anchor of that run and re-propagates from it.

Undo takes back the last click (wherever a drag left it), propagation, correction or body outline, in order;
`reset` clears everything, its history included. Not thread-safe: `SessionStore` gives each session a lock.
"""
from __future__ import annotations

import dataclasses
import threading
from typing import Callable, List, Optional

import numpy as np


NO_POSITIVE_CLICK = "no positive click on this slice yet: its mask stays as it was until one is added"


class EditError(ValueError):
    """A request that does not fit the session's state (the message says what to do first)."""


class StateError(EditError):
    """An action the session's state does not allow yet (correct before propagate, undo with no history)."""


class Cancelled(RuntimeError):
    """The client went away while the work ran; nothing was changed."""


@dataclasses.dataclass
class Models:
    """The loaded models a session uses; propagation and body may be None (their actions then refuse)."""

    click: object
    propagation: object = None
    body: object = None


@dataclasses.dataclass
class _Step:
    """One undoable action: the structure's slices it changed (their old masks) and how to take back the rest."""

    kind: str
    old_slices: dict
    restore: Callable[[], None] = lambda: None


class Editing:
    """The state of one editing session over `volume` (a `radseg.dicom.Volume`); see the module docstring."""

    def __init__(self, volume, models: Models):
        self.volume = volume
        self.models = models
        self.array = np.asarray(volume.array)
        if self.array.ndim != 3:
            raise EditError(f"the image must be a volume [slices, rows, cols], got shape {self.array.shape}")
        self.shape = tuple(int(v) for v in self.array.shape)
        self.spacing = tuple(float(v) for v in volume.spacing)
        self.modality = (volume.modality or "CT").upper()
        self.structure = np.zeros(self.shape, bool)
        self.body_mask: Optional[np.ndarray] = None
        self._clicks: dict = {}  # slice -> ClickSession
        self._run = None  # the PropagationRun, once propagated
        self._history: List[_Step] = []
        self.last_warnings: List[str] = []  # of the last click or drag
        self.open_warnings: List[str] = [str(w) for w in (getattr(volume, "warnings", ()) or ())]
        if self.modality == "CT":
            from radseg.intensity import hounsfield_problem

            problem = hounsfield_problem(self.array)
            if problem:
                self.open_warnings.append(f"{problem}: these look like raw stored pixel values, not HU")

    # ---- clicks ----------------------------------------------------------------------------------------------
    def click(self, k: int, row: float, col: float, positive: bool = True) -> np.ndarray:
        """Add a click on slice `k`; returns that slice's mask (bool [rows, cols])."""
        k = self._slice_index(k, "click")
        session = self._clicks.get(k)
        if session is None:
            sp = self.spacing[1:]
            session = self.models.click.start(self.array[k], spacing=sp, modality=self.modality)
            self._clicks[k] = session
        old = self.structure[k].copy()
        mask = self._checked(session.click, row, col, positive=bool(positive))
        self.last_warnings = [] if any(c[2] for c in session.clicks) else [NO_POSITIVE_CLICK]

        def restore():
            session.undo()

        self._history.append(_Step("click", {k: old}, restore))
        self._show_click_mask(k, session, mask)
        return self.structure[k].copy()

    def drag(self, row: float, col: float) -> tuple:
        """Move the last click to (row, col) on its slice; returns (slice, its mask)."""
        if not self._history or self._history[-1].kind != "click":
            raise StateError("drag: the last action is not a click; click first, then drag while the button is held")
        k = next(iter(self._history[-1].old_slices))
        session = self._clicks[k]
        mask = self._checked(session.move_last_click, row, col)
        self.last_warnings = [] if any(c[2] for c in session.clicks) else [NO_POSITIVE_CLICK]
        self._show_click_mask(k, session, mask)
        return k, self.structure[k].copy()

    def _show_click_mask(self, k: int, session, mask: np.ndarray) -> None:
        if any(c[2] for c in session.clicks):  # only negative clicks so far: leave the slice as it was
            self.structure[k] = mask

    # ---- propagation -----------------------------------------------------------------------------------------
    def propagate(self, k: int, cancelled: Optional[threading.Event] = None) -> dict:
        """Carry slice `k`'s mask through the volume (a new run); returns {"stopped", "stats"}."""
        k = self._slice_index(k, "propagate")
        model = self._need(self.models.propagation, "propagation")
        if not self.structure[k].any():
            raise StateError(f"propagate: slice {k} has no mask; click on the structure on that slice first")
        run = model.start(self.array, spacing=self.spacing, modality=self.modality)
        masks = self._checked(run.propagate, k, self.structure[k].copy(), progress=_progress(cancelled))
        if run.stopped.get("up", {}).get("reason") == "cancelled" or \
                run.stopped.get("down", {}).get("reason") == "cancelled":
            raise Cancelled("propagate: the client went away; nothing was changed")
        previous_run = self._run

        def restore():
            self._run = previous_run

        self._history.append(_Step("propagate", self._replace(masks), restore))
        self._run = run
        return {"stopped": run.stopped, "stats": dict(run.last_stats)}

    def correct(self, k: int, cancelled: Optional[threading.Event] = None) -> dict:
        """Make slice `k`'s current mask an anchor of the run and re-propagate from it; returns as `propagate`."""
        k = self._slice_index(k, "correct")
        if self._run is None:
            raise StateError("correct: nothing has been propagated yet; propagate from a seed slice first")
        run = self._run
        masks = self._checked(run.correct, k, self.structure[k].copy(), progress=_progress(cancelled))
        if cancelled is not None and cancelled.is_set():
            run.undo()
            raise Cancelled("correct: the client went away; nothing was changed")

        def restore():
            run.undo()

        self._history.append(_Step("correct", self._replace(masks), restore))
        return {"stopped": run.stopped, "stats": dict(run.last_stats)}

    # ---- body ------------------------------------------------------------------------------------------------
    def body(self, cancelled: Optional[threading.Event] = None) -> np.ndarray:
        """The body outline of every slice (bool [slices, rows, cols]), kept as the session's second layer."""
        model = self._need(self.models.body, "body")
        def progress(done, total):
            if cancelled is not None and cancelled.is_set():
                raise Cancelled("body: the client went away; nothing was changed")

        mask = self._checked(model.segment, self.array, spacing=self.spacing, modality=self.modality,
                            progress=progress)
        old = self.body_mask

        def restore():
            self.body_mask = old

        self._history.append(_Step("body", {}, restore))
        self.body_mask = np.asarray(mask, bool)
        return self.body_mask

    # ---- history ---------------------------------------------------------------------------------------------
    def undo(self) -> str:
        """Take back the last action; returns its kind ("click", "propagate", "correct", "body")."""
        if not self._history:
            raise StateError("undo: there is nothing to undo")
        step = self._history.pop()
        step.restore()
        for k, m in step.old_slices.items():
            self.structure[k] = m
        return step.kind

    def reset(self) -> None:
        """Clear the structure, the body outline, every click and the history."""
        self.structure[:] = False
        self.body_mask = None
        self._clicks, self._run, self._history = {}, None, []

    # ---- state -----------------------------------------------------------------------------------------------
    def masks(self) -> dict:
        """{"structure": bool [S, R, C]} plus "body" once outlined; empty layers left out."""
        out = {}
        if self.structure.any():
            out["structure"] = self.structure
        if self.body_mask is not None and self.body_mask.any():
            out["body"] = self.body_mask
        return out

    def layer(self, name: str) -> Optional[np.ndarray]:
        """The bool [S, R, C] mask of layer "structure" or "body" (None: no body outline yet)."""
        if name == "structure":
            return self.structure
        if name == "body":
            return self.body_mask
        raise EditError(f"unknown layer {name!r}; layers are structure and body")

    def state(self) -> dict:
        """What the page shows beside the image: clicks per slice, the slices with a mask, what undo would do."""
        areas = np.count_nonzero(self.structure.reshape(self.shape[0], -1), axis=1)
        clicks = {int(k): [[float(r), float(c), bool(p)] for r, c, p in s.clicks]
                  for k, s in self._clicks.items() if s.clicks}
        return {"slices": {int(k): int(a) for k, a in enumerate(areas) if a},
                "clicks": clicks, "undo": self.undo_kind(),
                "propagated": self._run is not None,
                "anchors": sorted(int(a) for a in self._run.anchors) if self._run is not None else [],
                "stopped": self._run.stopped if self._run is not None else {},
                "body": self.body_mask is not None,
                "voxels": int(areas.sum()),
                "volume_ml": round(float(areas.sum()) * float(np.prod(self.spacing)) / 1000.0, 2)}

    def click_session(self, k: int):
        """The `ClickSession` of slice `k`, None before its first click."""
        return self._clicks.get(k)

    def undo_kind(self) -> Optional[str]:
        """What `undo` would take back ("click", "propagate", "correct", "body"), None when nothing."""
        return self._history[-1].kind if self._history else None

    # ---- internals -------------------------------------------------------------------------------------------
    def _replace(self, masks: np.ndarray) -> dict:
        """Make `masks` the structure; returns the old masks of the slices that changed."""
        masks = np.asarray(masks, bool)
        changed = np.flatnonzero((masks != self.structure).reshape(self.shape[0], -1).any(axis=1))
        old = {int(k): self.structure[k].copy() for k in changed}
        self.structure[...] = masks
        return old

    def _slice_index(self, k, where: str) -> int:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise EditError(f"{where}: the slice must be a whole number, got {k!r}")
        if not 0 <= int(k) < self.shape[0]:
            raise EditError(f"{where}: slice {k} is outside the volume's {self.shape[0]} slices "
                            f"(0 .. {self.shape[0] - 1})")
        return int(k)

    @staticmethod
    def _need(model, name: str):
        if model is None:
            raise StateError(f"the {name} model is not loaded on this server")
        return model

    @staticmethod
    def _checked(fn, *args, **kwargs):
        """fn(*args, **kwargs), its ValueErrors / TypeErrors (a point outside the slice, say) as EditError.

        Warnings are not caught here: `warnings.catch_warnings` swaps process-wide state and is not safe in a
        server's threads. What the SDK would warn about is said by `open_warnings` and `last_warnings` instead.
        """
        try:
            return fn(*args, **kwargs)
        except EditError:
            raise
        except (ValueError, TypeError) as exc:
            raise EditError(str(exc)) from exc


def _progress(cancelled: Optional[threading.Event]):
    """A propagation progress callback that cancels once `cancelled` is set."""
    if cancelled is None:
        return None
    return lambda done, total: not cancelled.is_set()
