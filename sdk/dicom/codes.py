"""Coded anatomy for DICOM SEG segments: structure names -> SNOMED CT category, type and laterality.

`segment_codes("kidney_left")` gives (Anatomical Structure, Kidney, Left). Names are matched case-insensitively
after turning '_' and '-' into spaces and dropping a leading or trailing 'left'/'right' (which becomes the
laterality modifier) and trailing numbers or vertebra levels ('vertebrae T12' -> Vertebra). Unknown names get
category and type 'Tissue' (SCT 85756007), and `write_seg` warns (RadsegWarning) listing them; the segment label
always keeps the caller's name.
"""
from __future__ import annotations

import re
from typing import Optional

from .errors import require

# name -> (pydicom codedict SCT keyword, category keyword)
_ANATOMY = "AnatomicalStructure"
_ALTERED = "MorphologicallyAltered"
_TISSUE = "Tissue"
_TABLE = {
    "liver": ("Liver", _ANATOMY), "spleen": ("Spleen", _ANATOMY), "kidney": ("Kidney", _ANATOMY),
    "pancreas": ("Pancreas", _ANATOMY), "stomach": ("Stomach", _ANATOMY), "gallbladder": ("Gallbladder", _ANATOMY),
    "gall bladder": ("Gallbladder", _ANATOMY), "aorta": ("Aorta", _ANATOMY),
    "inferior vena cava": ("InferiorVenaCava", _ANATOMY), "ivc": ("InferiorVenaCava", _ANATOMY),
    "esophagus": ("Esophagus", _ANATOMY), "oesophagus": ("Esophagus", _ANATOMY), "heart": ("Heart", _ANATOMY),
    "lung": ("Lung", _ANATOMY), "bladder": ("Bladder", _ANATOMY), "urinary bladder": ("Bladder", _ANATOMY),
    "prostate": ("Prostate", _ANATOMY), "brain": ("Brain", _ANATOMY), "hippocampus": ("Hippocampus", _ANATOMY),
    "left atrium": ("LeftAtrium", _ANATOMY), "atrium": ("Atrium", _ANATOMY), "colon": ("Colon", _ANATOMY),
    "duodenum": ("Duodenum", _ANATOMY), "small bowel": ("SmallIntestine", _ANATOMY),
    "small intestine": ("SmallIntestine", _ANATOMY), "adrenal gland": ("AdrenalGland", _ANATOMY),
    "adrenal": ("AdrenalGland", _ANATOMY), "portal vein": ("PortalVein", _ANATOMY),
    "splenic vein": ("SplenicVein", _ANATOMY), "vertebra": ("Vertebra", _ANATOMY),
    "vertebrae": ("Vertebra", _ANATOMY), "spinal cord": ("SpinalCord", _ANATOMY), "spine": ("Spine", _ANATOMY),
    "trachea": ("Trachea", _ANATOMY), "femur": ("Femur", _ANATOMY), "rib": ("Rib", _ANATOMY),
    "sternum": ("Sternum", _ANATOMY), "thyroid": ("Thyroid", _ANATOMY), "thyroid gland": ("Thyroid", _ANATOMY),
    "uterus": ("Uterus", _ANATOMY), "rectum": ("Rectum", _ANATOMY), "hip": ("Hip", _ANATOMY),
    "pelvis": ("Pelvis", _ANATOMY), "skull": ("Skull", _ANATOMY), "cerebellum": ("Cerebellum", _ANATOMY),
    "body": ("EntireBody", _ANATOMY), "body outline": ("EntireBody", _ANATOMY), "entire body": ("EntireBody", _ANATOMY),
    "skin": ("Skin", _TISSUE), "bone": ("Bone", _TISSUE), "muscle": ("Muscle", _TISSUE),
    "skeletal muscle": ("SkeletalMuscle", _TISSUE), "fat": ("AdiposeTissue", _TISSUE),
    "subcutaneous fat": ("AdiposeTissue", _TISSUE), "torso fat": ("AdiposeTissue", _TISSUE),
    "tumor": ("Tumor", _ALTERED), "tumour": ("Tumor", _ALTERED), "neoplasm": ("Neoplasm", _ALTERED),
    "lesion": ("Lesion", _ALTERED), "mass": ("Mass", _ALTERED),
}
_LATERALITY = {"left": ("7771000", "Left"), "right": ("24028007", "Right")}


def _normalise(name: str) -> tuple[str, Optional[str]]:
    words = re.sub(r"[_\-]+", " ", name.strip().lower()).split()
    side = None
    if words and words[0] in _LATERALITY and " ".join(words) not in _TABLE:
        side = words.pop(0)
    if words and words[-1] in _LATERALITY:
        side = words.pop()
    while words and re.fullmatch(r"[a-z]?\d+[a-z]?", words[-1]) and len(words) > 1:
        words.pop()  # vertebrae t12, rib 3, ...
    return " ".join(words), side


def segment_codes(name: str):
    """(category Code, type Code, laterality Code or None, known: bool) for a structure name."""
    require("pydicom")
    from pydicom.sr.coding import Code
    from pydicom.sr.codedict import codes

    base, side = _normalise(name)
    entry = _TABLE.get(base)
    if entry is None:
        tissue = codes.SCT.Tissue
        return tissue, tissue, None, False
    type_kw, category_kw = entry
    if category_kw == _ALTERED:
        category = Code("49755003", "SCT", "Morphologically Altered Structure")
    else:
        category = getattr(codes.SCT, category_kw)
    laterality = Code(_LATERALITY[side][0], "SCT", _LATERALITY[side][1]) if side else None
    return category, getattr(codes.SCT, type_kw), laterality, True
