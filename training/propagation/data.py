"""Training data for the propagation model: whole volumes in RAM and the (slice, prior slice) cases drawn from them.

A *case* is (volume, label, slice t, offset d): slice t is segmented from the label's mask on slice t + d
(|d| in 1..2, the paper's +/- 2), which must be non-empty. *End cases* are the structure's last END_SLICES slices
at each end and the END_SLICES slices beyond them (where the answer is "nothing here"): without enough of them a
propagation network carries a small blob on past the structure's end to the volume's end (measured: a first
model continued BTCV liver, spleen and kidneys 40-90 slices too far), so they get their own share of each batch.
Volumes are normalised once each with the SDK's own ``normalize_intensity(..., ndim=3)``, as the SDK does.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from radseg.intensity import normalize_intensity
from radseg.manifest import ModelManifest

from ..data.volumes import Volume

#: Largest slice offset between a case and its prior (the paper samples priors at up to +/- 2 slices).
MAX_OFFSET = 2
#: Slices at each end of a structure, inside and beyond it, that count as end cases.
END_SLICES = 3


@dataclass
class VolumeBank:
    """images[v]: float32 [slices, rows, cols] in [0, 1]; labels[v]: uint8, same shape; spacing[v]: (row, col) mm.

    cases: int64 [n, 4] of (volume, label id, slice t, offset d); case_class[n] indexes class_names
    ("btcv:liver", ...); case_end[n] marks end cases (see the module docstring).
    """

    images: list = field(default_factory=list)
    labels: list = field(default_factory=list)
    spacing: list = field(default_factory=list)
    source: list = field(default_factory=list)
    cases: list = field(default_factory=list)
    case_class: list = field(default_factory=list)
    case_end: list = field(default_factory=list)
    class_names: list = field(default_factory=list)

    def add_volume(self, vol: Volume, manifest: ModelManifest, keep_labels=None, min_area: int = 4) -> None:
        """Add `vol` and every case of its kept labels (a prior of at least `min_area` pixels)."""
        keep = sorted(vol.label_names) if keep_labels is None else sorted(keep_labels)
        v = len(self.images)
        self.images.append(normalize_intensity(vol.image, vol.modality, manifest, ndim=3))
        self.labels.append(np.ascontiguousarray(vol.labels))
        self.spacing.append(vol.slice_spacing())
        self.source.append((vol.dataset, vol.name))
        z = vol.labels.shape[0]
        for lab in keep:
            area = (vol.labels == lab).sum(axis=(1, 2))
            present = np.flatnonzero(area >= min_area)
            if present.size < 2:
                continue
            name = f"{vol.dataset}:{vol.label_names[lab]}"
            if name not in self.class_names:
                self.class_names.append(name)
            cls = self.class_names.index(name)
            first, last = int(present[0]), int(present[-1])
            for t in range(max(0, first - END_SLICES), min(z, last + END_SLICES + 1)):
                end = t < first + END_SLICES or t > last - END_SLICES
                for d in (-2, -1, 1, 2):
                    if 0 <= t + d < z and area[t + d] >= min_area:
                        self.cases.append((v, lab, t, d))
                        self.case_class.append(cls)
                        self.case_end.append(end)

    def finalize(self) -> "VolumeBank":
        self.cases = np.asarray(self.cases, np.int64).reshape(-1, 4)
        self.case_class = np.asarray(self.case_class, np.int64)
        self.case_end = np.asarray(self.case_end, bool)
        self._by_class = [np.flatnonzero(self.case_class == c) for c in range(len(self.class_names))]
        self._end_by_class = [np.flatnonzero((self.case_class == c) & self.case_end) for c in range(len(self.class_names))]
        return self

    def __len__(self) -> int:
        return len(self.cases)

    def mask(self, v: int, lab: int, t: int) -> np.ndarray:
        return self.labels[v][t] == lab

    def sample_balanced(self, rng: np.random.Generator, n: int, end_share: float = 0.0) -> np.ndarray:
        """n case indices: a class uniformly at random, then one of its cases uniformly at random, or with
        probability `end_share` one of its end cases."""
        classes = rng.integers(0, len(self._by_class), n)
        ends = rng.random(n) < end_share
        out = []
        for c, e in zip(classes, ends):
            pool = self._end_by_class[c] if e and self._end_by_class[c].size else self._by_class[c]
            out.append(pool[rng.integers(0, len(pool))])
        return np.array(out, np.int64)

    def subset_evenly(self, per_class: int, rng: np.random.Generator) -> np.ndarray:
        out = []
        for idx in self._by_class:
            out.extend(rng.choice(idx, min(per_class, idx.size), replace=False).tolist())
        return np.asarray(out, np.int64)
