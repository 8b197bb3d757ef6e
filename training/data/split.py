"""The fixed patient split and the structures kept out of training (recorded in every manifest).

Patients listed here never reach training; they are the validation and evaluation patients. CHAOS spleen is kept
out of training for every patient, so spleen-in-MR is a structure the model never saw (BTCV spleen is CT).
Structures of TotalSegmentator's CT that BTCV lacks (vertebrae, bladder, heart, colon, lungs, ...) are unseen too.
"""
from __future__ import annotations

BTCV_VALIDATION = ("sabs_02", "sabs_07", "sabs_13", "sabs_18")  # 4 of 22
CHAOS_VALIDATION = ("chaos_t2_03", "chaos_t2_15", "chaos_t2_31")  # 3 of 14
# (dataset, label id) pairs never used in training.
HELD_OUT_STRUCTURES = (("chaos", 4),)  # CHAOS spleen: the MR unseen structure
# 2 of the 8 left-atrium LGE-MR patients (used by the click model only; the propagation model never trains on them).
LA_VALIDATION = ("VIXBEFTNVHZWKAKURJBN", "VQ2L3WM8KEVF6L44E6G9")


def is_validation(dataset: str, case: str) -> bool:
    return case in (BTCV_VALIDATION if dataset == "btcv" else CHAOS_VALIDATION if dataset == "chaos" else ())


def as_dict() -> dict:
    """The split as stored in the manifest's training dict."""
    return {
        "btcv_validation_patients": list(BTCV_VALIDATION),
        "chaos_validation_patients": list(CHAOS_VALIDATION),
        "held_out_structures": [{"dataset": d, "label": l, "name": "spleen (MR)" if (d, l) == ("chaos", 4) else ""}
                                for d, l in HELD_OUT_STRUCTURES],
        "note": "split by patient; all other BTCV and CHAOS patients are training patients; CHAOS spleen is never "
                "trained on; TotalSegmentator CT structures absent from BTCV are unseen structures",
    }
