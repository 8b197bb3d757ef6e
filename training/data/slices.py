"""A RAM cache of 2D training/validation samples: normalised slices and their structure masks.

One *case* is (slice, structure) where the structure is present on the slice, as in the paper's slice-wise
evaluation. Images are stored once per slice, normalised with the SDK's own ``normalize_intensity`` (per slice for
MR, as the SDK normalises the 2D image it is given), so training sees exactly what inference sees.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from radseg.click.preprocess import normalize_intensity
from radseg.manifest import ModelManifest

from .volumes import Volume


@dataclass
class SliceBank:
    """images[i]: float32 [rows, cols] in [0, 1]; labels[i]: uint8 [rows, cols]; spacing[i]: (row_mm, col_mm).

    cases: int array [n, 3] of (slice index into images, label id, area in pixels); case_class[n]: index into
    class_names (e.g. "btcv:liver").
    """

    images: list = field(default_factory=list)
    labels: list = field(default_factory=list)
    spacing: list = field(default_factory=list)
    source: list = field(default_factory=list)  # (dataset, case, slice index)
    cases: list = field(default_factory=list)
    case_class: list = field(default_factory=list)
    class_names: list = field(default_factory=list)

    def add_volume(self, vol: Volume, manifest: ModelManifest, keep_labels=None, min_area: int = 1) -> None:
        """Add every slice of `vol` where a kept label covers at least `min_area` pixels."""
        keep = sorted(vol.label_names) if keep_labels is None else sorted(keep_labels)
        sp = vol.slice_spacing()
        for k in range(vol.labels.shape[0]):
            lab = vol.labels[k]
            present = [(l, int(a)) for l, a in ((l, np.count_nonzero(lab == l)) for l in keep) if a >= min_area]
            if not present:
                continue
            idx = len(self.images)
            self.images.append(normalize_intensity(vol.image[k], vol.modality, manifest))
            self.labels.append(np.ascontiguousarray(lab))
            self.spacing.append(sp)
            self.source.append((vol.dataset, vol.name, k))
            for l, a in present:
                name = f"{vol.dataset}:{vol.label_names[l]}"
                if name not in self.class_names:
                    self.class_names.append(name)
                self.cases.append((idx, l, a))
                self.case_class.append(self.class_names.index(name))

    def finalize(self) -> "SliceBank":
        self.cases = np.asarray(self.cases, np.int64).reshape(-1, 3)
        self.case_class = np.asarray(self.case_class, np.int64)
        return self

    def __len__(self) -> int:
        return len(self.cases)

    def gt(self, case: int) -> np.ndarray:
        i, l, _ = self.cases[case]
        return self.labels[i] == l

    def sample_balanced(self, rng: np.random.Generator, n: int, group_weights: dict | None = None) -> np.ndarray:
        """n case indices: a class, then a case of that class uniformly at random.

        Classes are drawn uniformly, or with `group_weights` ({group: weight}, a class's group being its name
        before ":", e.g. "btcv") each group gets its weight's share, split evenly over its classes; groups the
        dict does not name share the mean weight of those it names."""
        if not hasattr(self, "_by_class"):
            self._by_class = [np.flatnonzero(self.case_class == c) for c in range(len(self.class_names))]
        if group_weights:
            groups = [name.split(":")[0] for name in self.class_names]
            fallback = float(np.mean(list(group_weights.values())))
            size = {g: groups.count(g) for g in groups}
            p = np.array([group_weights.get(g, fallback) / size[g] for g in groups], np.float64)
            classes = rng.choice(len(groups), n, p=p / p.sum())
        else:
            classes = rng.integers(0, len(self._by_class), n)
        return np.array([self._by_class[c][rng.integers(0, len(self._by_class[c]))] for c in classes])

    def subset_evenly(self, per_class: int, rng: np.random.Generator) -> np.ndarray:
        """Up to `per_class` case indices per class, drawn without replacement (a fixed validation subset)."""
        out = []
        for c in range(len(self.class_names)):
            idx = np.flatnonzero(self.case_class == c)
            out.extend(rng.choice(idx, min(per_class, idx.size), replace=False).tolist())
        return np.array(sorted(out))
