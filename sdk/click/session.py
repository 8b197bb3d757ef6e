"""Interactive click segmentation on one 2D image: `ClickModel.start(image, ...)` -> `ClickSession`.

    model = radseg.load("click")
    sess = model.start(image, spacing=(row_mm, col_mm), modality="CT")   # image: 2D [rows, cols], CT in HU
    mask = sess.click(row, col, positive=True)                           # bool [rows, cols] on the image grid
    mask = sess.move_last_click(row, col)                                # drag: the last click moves
    mask = sess.undo(); sess.reset()

Every click runs the network on a crop around the clicks and the current mask (`radseg.click.preprocess`): the
image is normalised once at `start`, each click crops, resamples to the model's S x S, encodes the clicks, runs the
backend and pastes the logits back. Every method validates its arguments first and leaves the session unchanged
when it raises.
"""
from __future__ import annotations

import math
import numbers
import time
import warnings
from typing import Dict, List, Optional, Tuple

import numpy as np

from .._validate import as_spacing
from .._model import LoadedModel
from ..errors import RadsegWarning
from ..manifest import ModelManifest
from . import postprocess, preprocess

#: Images must be at least this many pixels on each side, and at most MAX_SIDE (a 2D slice, not a mosaic).
MIN_SIDE = 8
MAX_SIDE = 8192
#: move_last_click keeps the previous crop box while the moved click stays this far inside it (fraction of the
#: box side from each edge); otherwise the box is recomputed as for a new click.
DRAG_MARGIN = 0.15

Click = Tuple[float, float, bool]

_NO_POSITIVE_CLICK = ("a negative click with no positive click before it: the mask stays empty; a structure starts "
                      "with a positive click on it")


class ClickModel(LoadedModel):
    """A loaded click model: the backend that runs it and the manifest that parameterises its preprocessing
    (attributes: see `radseg._model.LoadedModel`).

    Made by `radseg.load`; holds no per-image state, so one model serves many sessions (one at a time per thread).
    """

    task = "click"

    def start(self, image, spacing=None, modality: Optional[str] = None) -> "ClickSession":
        """Begin segmenting one 2D image.

        Args:
            image: real array [rows, cols]; CT in Hounsfield units, MR in the scanner's raw units. Each side must lie
                in [MIN_SIDE, MAX_SIDE]; NaN and inf are refused.
            spacing: (row_mm, col_mm), the pixel size (DICOM PixelSpacing order). None assumes 1 mm and warns.
            modality: one of ``self.modalities`` (case-insensitive), e.g. "CT" or "MR". None assumes CT and warns.
        Returns:
            a `ClickSession` with no clicks and an empty mask.

        Warns (`radseg.RadsegWarning`): when spacing or modality is assumed, and when a CT image cannot be in
        Hounsfield units (`preprocess.hounsfield_problem`: raw stored values that were never rescaled).
        """
        if spacing is None:
            warnings.warn("no pixel spacing given: assuming 1 mm x 1 mm pixels, which sizes the crop wrongly for "
                          "most images; pass spacing=(row_mm, col_mm) (DICOM PixelSpacing)", RadsegWarning, stacklevel=2)
            spacing = (1.0, 1.0)
        if modality is None:
            warnings.warn("no modality given: assuming CT (values in Hounsfield units); pass modality='CT' or "
                          "modality='MR'", RadsegWarning, stacklevel=2)
            modality = "CT"
        return ClickSession(self, image, spacing, modality)

    def warmup(self) -> "ClickModel":
        """Run the network once on zeros, so the first real click does not pay the runtime's first-run
        allocations (tens of ms on ONNX Runtime CPU). `radseg.load` calls it."""
        s, c = self.manifest.input_size, self.manifest.in_channels
        self.runtime.run({self.manifest.input_name: np.zeros((1, c, s, s), np.float32)})
        return self

    def predict(self, norm_image, clicks, mask, spacing, box=None):
        """The mask for `clicks`: (bool mask [rows, cols], CropBox used, seconds in preprocess / inference /
        postprocess, summed over passes, and "passes").

        One network pass in `box` (default: `preprocess.crop_box` around the clicks and `mask`); on a first click
        whose mask calls for a better-fitting box (`preprocess.refine_box`, when the manifest enables it) a
        second pass in that box. A caller-given box is kept as it is (a drag must not move the crop). Then the
        manifest's post-processing (`radseg.click.postprocess`: keep the components the positive clicks touch).
        """
        timing = {"preprocess": 0.0, "inference": 0.0, "postprocess": 0.0, "passes": 0}
        out, used = self._one_pass(norm_image, clicks, mask, spacing, box, timing)
        if box is None and (mask is None or not np.asarray(mask).any()):
            t0 = time.perf_counter()
            refined = preprocess.refine_box(norm_image.shape, clicks, out, spacing, self.manifest, used)
            timing["postprocess"] += time.perf_counter() - t0
            if refined is not None:
                out, used = self._one_pass(norm_image, clicks, mask, spacing, refined, timing)
        if self.manifest.postprocess:
            t0 = time.perf_counter()
            out = postprocess.apply_manifest(out, clicks, spacing, self.manifest.postprocess)
            timing["postprocess"] += time.perf_counter() - t0
        return out, used, timing

    def _one_pass(self, norm_image, clicks, mask, spacing, box, timing):
        t0 = time.perf_counter()
        with self._blas_limit():
            x, box = preprocess.make_input(norm_image, clicks, mask, spacing, self.manifest, box=box)
        t1 = time.perf_counter()
        logits = self.runtime.run({self.manifest.input_name: x})[self.manifest.output_name]
        t2 = time.perf_counter()
        with self._blas_limit():
            out = preprocess.logits_to_mask(logits, box, norm_image.shape)
        t3 = time.perf_counter()
        timing["preprocess"] += t1 - t0
        timing["inference"] += t2 - t1
        timing["postprocess"] += t3 - t2
        timing["passes"] += 1
        return out, box

    def __repr__(self) -> str:
        return f"ClickModel(path={str(self.path)!r}, backend={self.backend!r}, input_size={self.manifest.input_size})"


class ClickSession:
    """Clicks on one image and the mask they produce. Not thread-safe; one session per image being edited.

    Attributes (read-only):
        mask: bool [rows, cols], the current segmentation (a copy).
        clicks: tuple of (row, col, positive), in image pixels, oldest first.
        shape, spacing, modality: of the image.
        last_timing: seconds spent in "preprocess" / "inference" / "postprocess" by the last click (summed over its
            network passes) and the number of "passes" (2 when a first click was refined).
    """

    def __init__(self, model: ClickModel, image, spacing, modality: str):
        a = preprocess.check_image(image)
        if not (MIN_SIDE <= a.shape[0] <= MAX_SIDE and MIN_SIDE <= a.shape[1] <= MAX_SIDE):
            raise ValueError(
                f"image shape {a.shape} is out of range: each side must lie in [{MIN_SIDE}, {MAX_SIDE}] pixels; "
                f"pass one 2D slice at its acquired resolution"
            )
        sp = tuple(as_spacing(spacing, 2, "spacing"))
        spec_key = _modality_key(modality, model.manifest)
        problem = preprocess.hounsfield_problem(a) if spec_key.upper() == "CT" else None
        if problem:
            warnings.warn(f"{problem}: these look like raw stored pixel values; convert them to HU first "
                          "(HU = stored * RescaleSlope + RescaleIntercept; radseg.dicom.read_series does this)",
                          RadsegWarning, stacklevel=3)
        self._model = model
        self._norm = preprocess.normalize_intensity(a, spec_key, model.manifest)
        self.shape: Tuple[int, int] = (int(a.shape[0]), int(a.shape[1]))
        self.spacing: Tuple[float, float] = sp
        self.modality: str = spec_key
        self.last_timing: Dict[str, float] = {}
        self._clicks: List[Click] = []
        self._masks: List[np.ndarray] = []  # mask after each click
        self._boxes: List[preprocess.CropBox] = []  # the box each click's pass used

    # ---- state -----------------------------------------------------------------------------------------------
    @property
    def clicks(self) -> Tuple[Click, ...]:
        return tuple(self._clicks)

    @property
    def mask(self) -> np.ndarray:
        return self._current().copy()

    @property
    def model(self) -> ClickModel:
        return self._model

    def _current(self) -> np.ndarray:
        return self._masks[-1] if self._masks else np.zeros(self.shape, bool)

    # ---- interaction -----------------------------------------------------------------------------------------
    def click(self, row, col, positive: bool = True) -> np.ndarray:
        """Add a click and return the new mask, bool [rows, cols].

        Args:
            row, col: the click position in image pixels (integers, or floats for sub-pixel positions), inside
                the image: 0 <= row <= rows - 1, 0 <= col <= cols - 1.
            positive: True for "this is the structure", False for "this is not".

        A structure starts with a positive click: while the session holds no positive click, the mask stays empty
        (no network pass) and a `radseg.RadsegWarning` says so; the click is kept, so undo works as usual.
        """
        point = self._check_point(row, col, "click")
        pos = _check_positive(positive)
        clicks = self._clicks + [(point[0], point[1], pos)]
        if not any(c[2] for c in clicks):
            warnings.warn(_NO_POSITIVE_CLICK, RadsegWarning, stacklevel=2)
            self._clicks, self.last_timing = clicks, {"preprocess": 0.0, "inference": 0.0, "postprocess": 0.0,
                                                      "passes": 0}
            self._masks.append(np.zeros(self.shape, bool))
            self._boxes.append(None)
            return self._masks[-1].copy()
        mask, box, timing = self._model.predict(self._norm, clicks, self._current(), self.spacing)
        self._clicks, self.last_timing = clicks, timing
        self._masks.append(mask)
        self._boxes.append(box)
        return mask.copy()

    def move_last_click(self, row, col) -> np.ndarray:
        """Move the last click to (row, col), keeping its sign, and return the new mask (a drag).

        The mask is recomputed from the state before the last click. While the moved click stays well inside the
        crop box of the last pass (DRAG_MARGIN of the side from each edge) that box is reused, so the crop does
        not jump under the user's cursor; further out, the box is recomputed as for a new click.
        """
        if not self._clicks:
            raise ValueError("move_last_click: there is no click to move; call click(row, col) first")
        point = self._check_point(row, col, "move_last_click")
        positive = self._clicks[-1][2]
        clicks = self._clicks[:-1] + [(point[0], point[1], positive)]
        before = self._masks[-2] if len(self._masks) > 1 else np.zeros(self.shape, bool)
        if not any(c[2] for c in clicks):  # dragging a lone negative click: still nothing to segment
            warnings.warn(_NO_POSITIVE_CLICK, RadsegWarning, stacklevel=2)
            self._clicks = clicks
            return self._current().copy()
        box = self._boxes[-1] if self._boxes[-1] is not None and _inside(self._boxes[-1], point, DRAG_MARGIN) else None
        mask, box, timing = self._model.predict(self._norm, clicks, before, self.spacing, box=box)
        self._clicks, self.last_timing = clicks, timing
        self._masks[-1], self._boxes[-1] = mask, box
        return mask.copy()

    def undo(self) -> np.ndarray:
        """Remove the last click and return the mask as it was before it (no network pass)."""
        if not self._clicks:
            raise ValueError("undo: there are no clicks to undo; check `len(session.clicks)` first")
        self._clicks = self._clicks[:-1]
        self._masks.pop()
        self._boxes.pop()
        return self._current().copy()

    def reset(self) -> np.ndarray:
        """Remove every click; returns the (empty) mask. The normalised image stays cached."""
        self._clicks, self._masks, self._boxes = [], [], []
        return self._current().copy()

    # ---- validation ------------------------------------------------------------------------------------------
    def _check_point(self, row, col, where: str) -> Tuple[float, float]:
        values = []
        for name, v in (("row", row), ("col", col)):
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
                raise TypeError(f"{where}: {name} must be a number (pixel index), got {type(v).__name__} {v!r}")
            v = float(v)
            if not math.isfinite(v):
                raise ValueError(f"{where}: {name} must be finite, got {v}")
            values.append(v)
        r, c = values
        rows, cols = self.shape
        if not (0 <= r <= rows - 1 and 0 <= c <= cols - 1):
            raise ValueError(
                f"{where}: (row={r:g}, col={c:g}) is outside the image of shape {self.shape}; rows must lie in "
                f"[0, {rows - 1}] and cols in [0, {cols - 1}] (points are (row, col), not (x, y))"
            )
        return r, c

    def __repr__(self) -> str:
        return f"ClickSession(shape={self.shape}, spacing={self.spacing}, modality={self.modality!r}, clicks={len(self._clicks)})"


def _modality_key(modality, manifest: ModelManifest) -> str:
    spec = preprocess.intensity_spec(modality, manifest)  # raises for unknown / non-string modalities
    return next(k for k, v in manifest.intensity.items() if v is spec)


def _check_positive(positive) -> bool:
    if not isinstance(positive, (bool, np.bool_)):
        raise TypeError(f"positive must be True (structure) or False (background), got {positive!r}")
    return bool(positive)


def _inside(box: "preprocess.CropBox", point: Tuple[float, float], margin: float) -> bool:
    """Is the image point inside `box`, at least `margin` of the box side from each edge? (edge coordinates)"""
    r, c = point[0] + 0.5, point[1] + 0.5
    mr, mc = box.size_rows * margin, box.size_cols * margin
    return (box.row0 + mr <= r <= box.row0 + box.size_rows - mr) and (box.col0 + mc <= c <= box.col0 + box.size_cols - mc)
