"""Training data for the propagation model: whole volumes in RAM and the (slice, prior slice) cases drawn from them.

A *case* is (volume, label, slice t, offset d): slice t is segmented from the label's mask on slice t + d
(|d| in 1..2, the paper's +/- 2), which must be non-empty. Cases where the structure has already ended on slice t
(the prior is its last slice) are kept too, so the network learns to answer "nothing here" and propagation stops.
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


@dataclass
class VolumeBank:
    """images[v]: float32 [slices, rows, cols] in [0, 1]; labels[v]: uint8, same shape; spacing[v]: (row, col) mm.

    cases: int64 [n, 4] of (volume, label id, slice t, offset d); case_class[n] indexes class_names
    ("btcv:liver", ...).
    """

    images: list = field(default_factory=list)
    labels: list = field(default_factory=list)
    spacing: list = field(default_factory=list)
    source: list = field(default_factory=list)
    cases: list = field(default_factory=list)
    case_class: list = field(default_factory=list)
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
            for t in range(max(0, present[0] - 1), min(z, present[-1] + 2)):
                for d in (-2, -1, 1, 2):
                    if 0 <= t + d < z and area[t + d] >= min_area and (area[t] > 0 or abs(d) == 1):
                        self.cases.append((v, lab, t, d))
                        self.case_class.append(cls)

    def finalize(self) -> "VolumeBank":
        self.cases = np.asarray(self.cases, np.int64).reshape(-1, 4)
        self.case_class = np.asarray(self.case_class, np.int64)
        self._by_class = [np.flatnonzero(self.case_class == c) for c in range(len(self.class_names))]
        return self

    def __len__(self) -> int:
        return len(self.cases)

    def mask(self, v: int, lab: int, t: int) -> np.ndarray:
        return self.labels[v][t] == lab

    def sample_balanced(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n case indices: a class uniformly at random, then one of its cases uniformly at random."""
        classes = rng.integers(0, len(self._by_class), n)
        return np.array([self._by_class[c][rng.integers(0, len(self._by_class[c]))] for c in classes])

    def subset_evenly(self, per_class: int, rng: np.random.Generator) -> np.ndarray:
        out = []
        for idx in self._by_class:
            out.extend(rng.choice(idx, min(per_class, idx.size), replace=False).tolist())
        return np.asarray(out, np.int64)
