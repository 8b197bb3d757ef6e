"""Which patients and structures a model never trained on, read from its manifest.

The training split travels in ``manifest.training["split"]`` (written by `radseg train click`, see
`radseg.training.data.split.as_dict`): validation patients per dataset and the (dataset, label id) pairs never
used in training. A manifest without it falls back on the split in `radseg.training.data.split`.
"""
from __future__ import annotations

from typing import Dict, List


def heldout(manifest) -> dict:
    """{"patients": {"btcv": [...], "chaos": [...]}, "unseen_structures": {"chaos": ["spleen"], ...},
    "datasets": the training data set names, "source": "manifest" | "radseg.training.data.split"}. Structure names are the dataset readers' label names."""
    split = manifest.training.get("split") if isinstance(manifest.training, dict) else None
    source = "manifest"
    if not isinstance(split, dict) or not any(k.endswith("_validation_patients") for k in split):
        from radseg.training.data import split as split_module

        split, source = split_module.as_dict(), "radseg.training.data.split"
    patients: Dict[str, List[str]] = {}
    for key, value in split.items():
        if key.endswith("_validation_patients"):
            patients[key[: -len("_validation_patients")]] = [str(p) for p in value]
    unseen: Dict[str, List[str]] = {}
    for item in split.get("held_out_structures", []):
        dataset, label = item["dataset"], int(item["label"])
        unseen.setdefault(dataset, []).append(_label_name(dataset, label))
    datasets = [str(d) for d in split.get("datasets", ("btcv", "chaos"))]  # older manifests: BTCV and CHAOS only
    return {"patients": patients, "unseen_structures": unseen, "datasets": datasets, "source": source}


def _label_name(dataset: str, label: int) -> str:
    from radseg.training.data import btcv, chaos

    table = {"btcv": btcv.LABELS, "chaos": chaos.LABELS}.get(dataset)
    if table is None or label not in table:
        raise ValueError(f"held-out structure ({dataset!r}, {label}) is not a known label")
    return table[label]
