"""The model manifest: everything the SDK needs to run an exported model, stored beside it as ``manifest.json``.

Training writes it into every checkpoint, export copies it next to ``model.onnx``, and the SDK's preprocessing
(`radseg.click.preprocess`) reads every parameter from it, so that training and inference share one definition of
intensity normalisation, crop geometry and click encoding.

A manifest of another ``format_version`` is refused with a clear error (re-export the model, or upgrade radseg).
"""
from __future__ import annotations

import dataclasses
import json
import math
import pathlib
from dataclasses import dataclass, field
from typing import Any

FORMAT_VERSION = 1

_REQUIRED = ("format_version", "task", "input_name", "output_name", "input_size", "in_channels", "intensity")
_INTENSITY_METHODS = ("window", "percentile")


@dataclass(frozen=True)
class ModelManifest:
    """What a model expects and how it was made.

    Attributes:
        format_version: manifest schema version; this radseg reads 1.
        task: the model's task, e.g. "click".
        input_name / output_name: ONNX graph input and output names.
        input_size: working resolution S; the network sees [N, in_channels, S, S] float32.
        in_channels: 3 for the click model (image, foreground guidance, background guidance), or 4 with the
            mask before the click as well (`radseg.click.preprocess.make_input`).
        intensity: per modality ("CT", "MR"), how raw pixels map to the network's range (about [0, 1]):
            {"method": "window", "low": HU, "high": HU}: clip to [low, high], then (x - low) / (high - low);
            {"method": "percentile", "low": p, "high": p}: the same with the image's own p-th percentiles;
            optional "floor": raw values below it count as it (the body model's CT: -1024 HU).
        guidance: {"sigma_px": Gaussian sigma in pixels of the S x S crop, "scale": "max"} (each map scaled to max 1).
        crop: {"expand": bounding-box enlargement, "min_size_mm": smallest box side in mm,
            "min_size_px": smallest box side in image pixels, "initial_size_mm": box side when there is no mask yet,
            "refine_first_click": re-run the first click in the box around its own mask (optional, default false;
            see `radseg.click.preprocess.refine_box`)}.
        postprocess: {"keep_clicked_components": keep only the mask's components within "reach_mm" of a positive
            click (optional, default false; see `radseg.click.postprocess`)}.
        postprocess (body): {"fill_holes": fill each slice's holes (the body has none), default true;
            "min_thickness_mm": drop components thinner than this, except the slice's largest (default 0, off);
            "ct_min_median_hu": on CT, drop components of median at most this, except the largest (absent: off)}.
        stopping: propagation only, when to stop going through the volume: {"min_area_mm2": the mask has vanished
            below this area, "max_growth": the area grew by more than this factor from one slice to the next (a
            leak into a neighbouring organ), "growth_floor_mm2": growth is judged only once the area exceeds this,
            "converge_dice": a re-propagation stops where it agrees this well with the old mask, "min_confidence" and
            "uncertain_steps" (optional): stop after that many slices in a row answered with a mean probability
            below min_confidence}; see `radseg.propagation.engine`.
        model: architecture description (name, width, ...); informative.
        training: data, split, steps, wall time, the reproduce command.
        metrics: evaluation numbers.
        extra: any further keys found in the JSON, kept as they were.
    """

    format_version: int
    task: str
    input_name: str
    output_name: str
    input_size: int
    in_channels: int
    intensity: dict
    guidance: dict = field(default_factory=lambda: {"sigma_px": 2.0, "scale": "max"})
    crop: dict = field(default_factory=lambda: {"expand": 1.5, "min_size_mm": 32.0, "min_size_px": 24,
                                                "initial_size_mm": 160.0})
    postprocess: dict = field(default_factory=dict)
    stopping: dict = field(default_factory=dict)
    model: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        _validate(self)

    # ---- serialisation -------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        extra = d.pop("extra")
        d.update(extra)
        return d

    def to_json(self, path) -> pathlib.Path:
        """Write the manifest as indented JSON to `path` (a file path), atomically; returns the path."""
        from ._atomic import write_atomic

        path = pathlib.Path(path)
        text = json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"
        write_atomic(path, lambda tmp: pathlib.Path(tmp).write_text(text), suffix=".json")
        return path

    @classmethod
    def from_dict(cls, d: dict, source: str = "manifest") -> "ModelManifest":
        if not isinstance(d, dict):
            raise ValueError(f"{source}: a manifest must be a JSON object, got {type(d).__name__}")
        missing = [k for k in _REQUIRED if k not in d]
        if missing:
            raise ValueError(f"{source}: missing required manifest field(s) {missing}; re-export the model with "
                             f"`radseg export CHECKPOINT --out DIR`")
        version = d["format_version"]
        if version != FORMAT_VERSION:
            raise ValueError(
                f"{source}: manifest format_version {version!r} is not supported; this radseg reads version "
                f"{FORMAT_VERSION}. Re-export the model with this radseg (`radseg export CHECKPOINT --out DIR`) or "
                f"install the radseg version that wrote it."
            )
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        known = {k: v for k, v in d.items() if k in names}
        extra = {k: v for k, v in d.items() if k not in names}
        try:
            return cls(**known, extra=extra)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{source}: invalid manifest: {exc}") from None

    @classmethod
    def from_json(cls, path) -> "ModelManifest":
        """Read and validate a manifest file; FileNotFoundError or ValueError that say what to do."""
        path = pathlib.Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"model manifest not found: {path}; a model folder needs manifest.json beside "
                                    f"model.onnx (write both with `radseg export CHECKPOINT --out DIR`)")
        try:
            d = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path}: not valid JSON ({exc}); the manifest is corrupt, re-export the model") from None
        return cls.from_dict(d, source=str(path))

    def replace(self, **changes) -> "ModelManifest":
        return dataclasses.replace(self, **changes)


def _validate(m: ModelManifest) -> None:
    if not isinstance(m.format_version, int) or m.format_version != FORMAT_VERSION:
        raise ValueError(f"format_version must be {FORMAT_VERSION}, got {m.format_version!r}")
    for name in ("task", "input_name", "output_name"):
        if not isinstance(getattr(m, name), str) or not getattr(m, name):
            raise ValueError(f"{name} must be a non-empty string, got {getattr(m, name)!r}")
    for name in ("input_size", "in_channels"):
        v = getattr(m, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    for name in ("intensity", "guidance", "crop", "postprocess", "stopping", "model", "training", "metrics", "extra"):
        if not isinstance(getattr(m, name), dict):
            raise ValueError(f"{name} must be a dict, got {type(getattr(m, name)).__name__}")
    if not m.intensity:
        raise ValueError("intensity must name at least one modality, e.g. {'CT': {'method': 'window', ...}}")
    for modality, spec in m.intensity.items():
        if not isinstance(spec, dict) or spec.get("method") not in _INTENSITY_METHODS:
            raise ValueError(f"intensity[{modality!r}] must be a dict with method in {_INTENSITY_METHODS}, got {spec!r}")
        low, high = spec.get("low"), spec.get("high")
        if not (_finite(low) and _finite(high) and float(low) < float(high)):
            raise ValueError(f"intensity[{modality!r}] needs finite low < high, got low={low!r} high={high!r}")
        if "floor" in spec and not _finite(spec["floor"]):
            raise ValueError(f"intensity[{modality!r}].floor must be a finite number, got {spec['floor']!r}")
        if spec["method"] == "percentile" and not (0.0 <= float(low) and float(high) <= 100.0):
            raise ValueError(f"intensity[{modality!r}] percentiles must lie in [0, 100], got {low}, {high}")
    sigma = m.guidance.get("sigma_px", 2.0)
    if not (_finite(sigma) and float(sigma) > 0):
        raise ValueError(f"guidance.sigma_px must be a positive number, got {sigma!r}")
    if m.guidance.get("scale", "max") != "max":
        raise ValueError(f"guidance.scale must be 'max', got {m.guidance.get('scale')!r}")
    expand = m.crop.get("expand", 1.5)
    if not (_finite(expand) and float(expand) >= 1.0):
        raise ValueError(f"crop.expand must be a number >= 1, got {expand!r}")
    for key in ("min_size_mm", "min_size_px", "initial_size_mm"):
        v = m.crop.get(key, 1.0)
        if not (_finite(v) and float(v) > 0):
            raise ValueError(f"crop.{key} must be a positive number, got {v!r}")
    if not isinstance(m.crop.get("refine_first_click", False), bool):
        raise ValueError(f"crop.refine_first_click must be true or false, got {m.crop.get('refine_first_click')!r}")
    for key in ("keep_clicked_components", "keep_prior_components", "fill_holes"):
        if not isinstance(m.postprocess.get(key, False), bool):
            raise ValueError(f"postprocess.{key} must be true or false, got {m.postprocess.get(key)!r}")
    thin = m.postprocess.get("min_thickness_mm", 0.0)
    if not (_finite(thin) and float(thin) >= 0):
        raise ValueError(f"postprocess.min_thickness_mm must be a non-negative number, got {thin!r}")
    if "ct_min_median_hu" in m.postprocess and not _finite(m.postprocess["ct_min_median_hu"]):
        raise ValueError(f"postprocess.ct_min_median_hu must be a number, got {m.postprocess['ct_min_median_hu']!r}")
    reach = m.postprocess.get("reach_mm", 3.0)
    if not (_finite(reach) and float(reach) >= 0):
        raise ValueError(f"postprocess.reach_mm must be a non-negative number, got {reach!r}")
    for key, low in (("min_area_mm2", 0.0), ("growth_floor_mm2", 0.0), ("max_growth", 1.0), ("converge_dice", 0.0),
                     ("min_confidence", 0.0), ("uncertain_steps", 1.0)):
        v = m.stopping.get(key, low + 1.0)
        if not (_finite(v) and float(v) >= low):
            raise ValueError(f"stopping.{key} must be a number >= {low:g}, got {v!r}")


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def default_click_manifest(input_size: int = 96, **overrides) -> ModelManifest:
    """The click model's preprocessing defaults (what `radseg train click` starts from).

    CT: the HU window [-125, 275] of the BTCV training data, mapped to [0, 1]. MR: the image's own 0.5 and 99.5
    percentiles mapped to [0, 1]. Guidance: sigma 2 px at S (the paper's smoothing). Crop: bounding box of clicks and
    current mask x 1.5, at least 32 mm and 24 image pixels; 160 mm around the first click while there is no mask.
    """
    fields = dict(
        format_version=FORMAT_VERSION,
        task="click",
        input_name="input",
        output_name="logits",
        input_size=int(input_size),
        in_channels=3,
        intensity={
            "CT": {"method": "window", "low": -125.0, "high": 275.0},
            "MR": {"method": "percentile", "low": 0.5, "high": 99.5},
        },
        guidance={"sigma_px": 2.0, "scale": "max"},
        crop={"expand": 1.5, "min_size_mm": 32.0, "min_size_px": 24, "initial_size_mm": 160.0,
              "refine_first_click": True},
        postprocess={"keep_clicked_components": True, "reach_mm": 3.0},
    )
    fields.update(overrides)
    return ModelManifest(**fields)


def default_propagation_manifest(input_size: int = 96, **overrides) -> ModelManifest:
    """The propagation model's preprocessing and stopping defaults (what `radseg train propagation` starts from).

    Input [N, 2, S, S]: the slice and the prior (the neighbouring slice's mask), both resampled into a box square in
    mm around the prior (its bounding box x 1.75, at least 24 mm and 16 image pixels). Intensity: the click model's
    (CT: the HU window [-125, 275]; MR: the volume's 0.5 / 99.5 percentiles). Post-processing: keep the components
    within 5 mm of the prior. Stopping: below 8 mm^2 the mask has vanished; an area more than 2.5 times the previous
    slice's (once above 150 mm^2) is taken for a leak; a re-propagation stops where it agrees with the old mask
    (Dice 0.98).
    """
    fields = dict(
        format_version=FORMAT_VERSION,
        task="propagation",
        input_name="input",
        output_name="logits",
        input_size=int(input_size),
        in_channels=2,
        intensity={
            "CT": {"method": "window", "low": -125.0, "high": 275.0},
            "MR": {"method": "percentile", "low": 0.5, "high": 99.5},
        },
        guidance={"sigma_px": 2.0, "scale": "max"},
        crop={"expand": 1.75, "min_size_mm": 24.0, "min_size_px": 16, "initial_size_mm": 24.0},
        postprocess={"keep_prior_components": True, "reach_mm": 5.0},
        stopping={"min_area_mm2": 8.0, "max_growth": 2.5, "growth_floor_mm2": 150.0, "converge_dice": 0.98},
    )
    fields.update(overrides)
    return ModelManifest(**fields)


def default_body_manifest(input_size: int = 256, **overrides) -> ModelManifest:
    """The body model's preprocessing defaults (what `radseg train body` starts from).

    Input [N, 1, S, S]: the whole slice, each slice normalised on its own (CT and MR alike: its 0.5 / 99.5
    percentiles -> 0 / 1, CT values first floored at -1024 HU so that the padding outside a scanner's circular field
    of view does not count as the darkest air), then resampled bilinearly into a box square in mm that holds the
    whole slice (zero outside the slice = air). The logits come back bilinearly onto the slice grid, > 0 = body;
    holes are filled, and on CT the components beside the largest whose median is at most -300 HU (a couch or a
    headrest outlined around its foam core) are dropped.
    """
    fields = dict(
        format_version=FORMAT_VERSION,
        task="body",
        input_name="input",
        output_name="logits",
        input_size=int(input_size),
        in_channels=1,
        intensity={
            "CT": {"method": "percentile", "low": 0.5, "high": 99.5, "floor": -1024.0},
            "MR": {"method": "percentile", "low": 0.5, "high": 99.5},
        },
        crop={"expand": 1.0, "min_size_mm": 1.0, "min_size_px": 1, "initial_size_mm": 1.0},
        postprocess={"fill_holes": True, "ct_min_median_hu": -300.0},
    )
    fields.update(overrides)
    return ModelManifest(**fields)

