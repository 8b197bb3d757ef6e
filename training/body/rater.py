"""The scripted rater that stands in for seed 000's human: keep a candidate outline only when it is plainly right.

The rule, per slice and candidate (all distances in mm through the pixel spacing):

1. **Tissue**: CT pixels above -500 HU (or just above the slice's minimum when the scan was stored clipped, as BTCV's
   [-125, 275] window is: its air reads -125 HU); MR pixels above Otsu's threshold of the logarithm of the blurred
   slice (scaled min -> 0, max -> 255): on the linear scale bright organs pull Otsu's cut above fat-suppressed
   subcutaneous tissue. The *body tissue* is that mask opened with a 1.5 mm disk (immobilisation masks, thin
   shells and noise do not survive it), its components of at least 1 cm^2 with holes filled, and beside the
   largest only the components at least 8 mm thick and, on CT, of median above -300 HU (a couch is neither;
   `body_tissue`).
2. **Organs inside**: at least 99.5 % of the slice's labelled pixels (any structure of the source's label map) lie
   inside the candidate.
3. **Nothing missing**: the candidate, grown by 2 mm (at least one pixel), covers at least 99 % of the body tissue
   (arms included).
4. **Nothing extra**: at most 0.5 % of the candidate's pixels lie farther than 2 mm (at least one pixel) outside
   the body tissue (no couch, no convex hull bridging air between the arms and the trunk, no air beside the
   body).
5. **Not a crop**: at most 25 % of the candidate's outline lies on the image border, and the body tissue covers at
   least 2 cm^2 (slices with no body are not rated).

Every rule is about the image and its labels, never about a reference outline; a candidate passes only if all
hold. `rate` gives the verdict and the measured quantities, so the rule can be audited candidate by candidate.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from radseg.body.candidates import gaussian_blur5, otsu_threshold, scale_to_uint8
from radseg.body.preprocess import drop_airy_components, drop_thin_components
from radseg.geometry import binary_dilation, binary_opening, fill_holes, remove_small_components

CT_AIR_HU = -500.0
OPEN_MM, TOLERANCE_MM, MIN_THICKNESS_MM, CT_MIN_MEDIAN_HU = 1.5, 2.0, 8.0, -300.0
MIN_COMPONENT_MM2, MIN_BODY_MM2 = 100.0, 200.0
ORGANS_INSIDE, COVERED, EXTRA, BORDER = 0.995, 0.99, 0.005, 0.25


@dataclass
class Verdict:
    """One candidate's rating: ``accepted`` and the measured quantities behind it."""

    accepted: bool
    reasons: list = field(default_factory=list)
    organs_inside: float = 1.0
    covered: float = 0.0
    extra: float = 0.0
    border: float = 0.0


def tissue_mask(image: np.ndarray, modality: str) -> np.ndarray:
    """bool [rows, cols]: the pixels brighter than air (rule 1, before the opening)."""
    if modality.upper() == "CT":
        return image > max(CT_AIR_HU, float(image.min()) + 3.0)
    # Otsu on the log of the blurred slice: bright organs no longer pull the cut above dark (fat-suppressed)
    # subcutaneous tissue, which stays well above the air's noise.
    logs = np.log1p(gaussian_blur5(scale_to_uint8(image)).astype(np.float64))
    if logs.max() <= 0:
        return np.zeros(image.shape, bool)
    scaled = np.rint(logs * (255.0 / logs.max())).astype(np.uint8)
    return scaled > otsu_threshold(scaled)


def body_tissue(image: np.ndarray, modality: str, spacing: Sequence[float]) -> np.ndarray:
    """bool [rows, cols]: rule 1's body tissue.

    The tissue opened with a 1.5 mm disk (drops thermoplastic masks, thin shells and noise), its components of at
    least 1 cm^2 with their holes filled -- a scalp over a dark skull encloses the brain, so filled it is the
    head -- and then, beside the largest component, only those at least 8 mm thick (the widest inscribed disc;
    `radseg.body.preprocess.drop_thin_components`: a couch band is thinner) and, on CT, of median above
    -300 HU (`drop_airy_components`: a couch shell filled around its foam core is mostly air; an arm is soft
    tissue). The body network's post-processing uses the same two functions.
    """
    opened = binary_opening(tissue_mask(image, modality), OPEN_MM, spacing)
    min_px = int(np.ceil(MIN_COMPONENT_MM2 / (spacing[0] * spacing[1])))
    body = fill_holes(remove_small_components(opened, min_px, connectivity=2))
    body = drop_thin_components(body, spacing, MIN_THICKNESS_MM)
    if modality.upper() == "CT":
        body = drop_airy_components(body, image, CT_MIN_MEDIAN_HU)
    return body


def _outline(mask: np.ndarray) -> np.ndarray:
    """Foreground pixels with a 4-neighbour in the background (the image edge counts as background)."""
    p = np.pad(mask, 1)
    inner = p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
    return mask & ~inner


def border_share(mask: np.ndarray) -> float:
    """Share of the mask's outline pixels that lie on the image border."""
    edge = _outline(mask)
    n = int(edge.sum())
    if n == 0:
        return 0.0
    on_border = int(edge[0].sum() + edge[-1].sum() + edge[1:-1, 0].sum() + edge[1:-1, -1].sum())
    return on_border / n


class SliceRater:
    """Rates the candidates of one slice; the slice's body tissue is computed once."""

    def __init__(self, image: np.ndarray, modality: str, spacing: Sequence[float],
                 labels: Optional[np.ndarray] = None):
        self.spacing = (float(spacing[0]), float(spacing[1]))
        self.body = body_tissue(np.asarray(image, np.float32), modality, self.spacing)
        # at least one pixel: on a 3 mm grid 2 mm would demand a pixel-perfect outline
        self.tolerance_mm = max(TOLERANCE_MM, max(self.spacing))
        self.near_body = binary_dilation(self.body, self.tolerance_mm, self.spacing)
        self.labels = None if labels is None else np.asarray(labels) > 0
        self.body_mm2 = float(self.body.sum()) * self.spacing[0] * self.spacing[1]

    @property
    def ratable(self) -> bool:
        """Whether the slice holds enough body to rate (rule 5)."""
        return self.body_mm2 >= MIN_BODY_MM2

    def rate(self, candidate: np.ndarray) -> Verdict:
        m = np.asarray(candidate, bool)
        v = Verdict(accepted=False)
        if not self.ratable:
            v.reasons.append("no body in the slice")
            return v
        if not m.any():
            v.reasons.append("empty")
            return v
        if self.labels is not None and self.labels.any():
            v.organs_inside = float((m & self.labels).sum() / self.labels.sum())
            if v.organs_inside < ORGANS_INSIDE:
                v.reasons.append(f"organs inside {v.organs_inside:.3f} < {ORGANS_INSIDE}")
        v.covered = float((binary_dilation(m, self.tolerance_mm, self.spacing) & self.body).sum() / self.body.sum())
        if v.covered < COVERED:
            v.reasons.append(f"body covered {v.covered:.3f} < {COVERED}")
        v.extra = float((m & ~self.near_body).sum() / m.sum())
        if v.extra > EXTRA:
            v.reasons.append(f"outside the body {v.extra:.4f} > {EXTRA}")
        v.border = border_share(m)
        if v.border > BORDER:
            v.reasons.append(f"outline on the image border {v.border:.2f} > {BORDER}")
        v.accepted = not v.reasons
        return v
