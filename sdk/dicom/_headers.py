"""Header helpers shared by the reader, the SEG writer and `fill_missing_uids`: copies that never touch the
caller's datasets, instance UIDs with the file-meta fallback, and VR checks of what a SEG copies from its source.

Why copies need care: a "shallow copy" built with ``Dataset.add(elem)`` shares the DataElement objects with the
original, so ``copy.PatientName = x`` would change the original too (pydicom assigns to the existing element's
value). Everything here replaces elements (and the file meta) instead of assigning into them.
"""
from __future__ import annotations

from typing import Optional

from .errors import require

_PIXEL_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)  # PixelData, FloatPixelData, DoubleFloatPixelData

# Where the file meta holds an instance's identity when the dataset lacks it (some anonymisers blank the dataset's
# SOPInstanceUID / SOPClassUID and leave the Part 10 header alone: TotalSegmentator's example CT is such a series).
META_FALLBACK = {"SOPInstanceUID": "MediaStorageSOPInstanceUID", "SOPClassUID": "MediaStorageSOPClassUID"}


def text(ds, keyword: str) -> str:
    """The value of `keyword` in `ds` as a stripped string; '' when absent or empty."""
    value = ds.get(keyword) if ds is not None else None
    return "" if value is None else str(value).strip()


def meta_value(ds, keyword: str) -> str:
    """`keyword` from the dataset, else from its file meta (SOPInstanceUID / SOPClassUID only); '' when neither."""
    value = text(ds, keyword)
    if not value and keyword in META_FALLBACK:
        value = text(getattr(ds, "file_meta", None), META_FALLBACK[keyword])
    return value


def shallow_copy(ds, *, pixels: bool = True):
    """A new Dataset holding `ds`'s elements (shared, never modified here), its file meta and preamble.

    With ``pixels=False`` the pixel data elements are left out (what a volume keeps for SEG references).
    """
    pydicom = require("pydicom")
    out = pydicom.Dataset()
    for elem in ds:
        if pixels or int(elem.tag) not in _PIXEL_TAGS:
            out.add(elem)
    if hasattr(ds, "file_meta"):
        out.file_meta = ds.file_meta
    out.preamble = getattr(ds, "preamble", None)
    return out


def set_element(ds, keyword: str, value) -> None:
    """Put a *new* element `keyword` = `value` in `ds` (the dictionary VR), leaving any shared old element intact."""
    pydicom = require("pydicom")
    from pydicom.datadict import dictionary_VR, tag_for_keyword

    tag = tag_for_keyword(keyword)
    ds[tag] = pydicom.DataElement(tag, dictionary_VR(tag), value)


def set_meta_element(ds, keyword: str, value) -> None:
    """Set `keyword` in `ds.file_meta` on a copy of the file meta (it may be shared with the caller's dataset)."""
    require("pydicom")
    from pydicom.dataset import FileMetaDataset

    copy = FileMetaDataset()  # not FileMetaDataset(meta): that shares meta's element dict
    for elem in getattr(ds, "file_meta", None) or ():
        copy.add(elem)
    set_element(copy, keyword, value)
    ds.file_meta = copy


def adopt_meta_uids(ds) -> list[str]:
    """Fill SOPInstanceUID / SOPClassUID of `ds` from its file meta where only the file meta holds them.

    Returns the keywords filled. Not a generation: the file meta names the same instance.
    """
    filled = []
    for keyword in META_FALLBACK:
        if not text(ds, keyword):
            value = meta_value(ds, keyword)
            if value:
                set_element(ds, keyword, value)
                filled.append(keyword)
    return filled


# ---------------------------------------------------------------------------------------------- VR checks
# String VRs whose values pydicom's validators check (length, characters, format). Binary and numeric VRs carry
# no anonymiser hashes and are not checked.
_STRING_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UI", "UR"}
_SEXES = {"", "M", "F", "O"}  # highdicom refuses any other PatientSex


def invalid_reason(keyword: str, vr: str, value) -> Optional[str]:
    """Why `value` breaks its VR `vr` (pydicom's own validators, plus highdicom's PatientSex rule), or None.

    Multi-valued elements are checked value by value. Values are checked as their string form, as written.
    """
    pydicom = require("pydicom")
    from pydicom import config
    from pydicom.valuerep import validate_value

    if vr not in _STRING_VRS or value is None:
        return None
    values = list(value) if isinstance(value, (list, tuple, pydicom.multival.MultiValue)) else [value]
    for v in values:
        s = v.decode("latin-1", "replace") if isinstance(v, bytes) else str(v)
        try:
            validate_value(vr, s, config.RAISE)
        except ValueError as exc:
            return str(exc).split(" Please see")[0]
    if keyword == "PatientSex" and str(value).strip().upper() not in _SEXES:
        return f"PatientSex must be M, F, O or empty, got {str(value)!r}"
    return None


# What highdicom's Segmentation copies from the first source image, when its tables (below) are not there or do
# not know the SOP class: the type 2 attributes its constructor reads, plus common type 3 ones of the Patient and
# Study modules.
_FALLBACK_COPIED = {
    "PatientName": "2", "PatientID": "2", "PatientBirthDate": "2", "PatientSex": "2", "StudyDate": "2",
    "StudyTime": "2", "ReferringPhysicianName": "2", "StudyID": "2", "AccessionNumber": "2",
    "StudyInstanceUID": "1", "IssuerOfPatientID": "3", "PatientBirthTime": "3", "OtherPatientNames": "3",
    "PatientComments": "3", "StudyDescription": "3", "PhysiciansOfRecord": "3", "NameOfPhysiciansReadingStudy": "3",
    "PatientAge": "3", "PatientSize": "3", "PatientWeight": "3", "AdditionalPatientHistory": "3",
    "Occupation": "3", "AdmissionID": "3",
}


def copied_attributes(sop_class_uid: str) -> dict[str, str]:
    """{keyword: type ('1', '1C', '2', '2C', '3')} of the root attributes highdicom copies into a SEG.

    highdicom (`SOPClass.copy_patient_and_study_information`) copies every root attribute of the source IOD's
    Patient and Study information-entity modules; the tables are highdicom's own (a private module, so a fixed
    list stands in when they are not there).
    """
    try:
        from highdicom._standard_utils import get_iod_module_map, get_module_attribute_map, get_sop_class_iod_map

        iod = get_sop_class_iod_map()[str(sop_class_uid)]
        modules, attributes = get_iod_module_map()[iod], get_module_attribute_map()
    except (ImportError, KeyError, AttributeError):
        return dict(_FALLBACK_COPIED)
    out = {}
    for module in modules:
        if module["ie"] in ("Patient", "Study"):
            for item in attributes.get(module["key"], ()):
                if not item["path"]:
                    out[str(item["keyword"])] = str(item["type"])
    return out


def clean_copied_attributes(ds, sop_class_uid: str) -> dict[str, list[str]]:
    """Blank (type 2) or drop (type 1/1C/3) the attributes a SEG copies from `ds` whose values break their VR.

    Modifies `ds` by replacing or deleting elements (never by assigning into shared ones): call it on a copy.
    StudyInstanceUID is kept whatever it holds: the SEG must name the source study to reference it.
    Returns {"blanked": [...], "removed": [...], "kept": [...]}: "keyword (reason)" strings, for one warning.
    """
    pydicom = require("pydicom")
    from pydicom.datadict import tag_for_keyword

    report = {"blanked": [], "removed": [], "kept": []}
    for keyword, kind in copied_attributes(sop_class_uid).items():
        tag = tag_for_keyword(keyword)
        if tag is None or tag not in ds:
            continue
        elem = ds[tag]
        if elem.VR == "SQ":
            continue
        reason = invalid_reason(keyword, elem.VR, elem.value)
        if reason is None:
            continue
        if keyword == "StudyInstanceUID":
            report["kept"].append(f"{keyword} ({reason})")
        elif kind.startswith("2"):
            ds[tag] = pydicom.DataElement(tag, elem.VR, "")
            report["blanked"].append(f"{keyword} ({reason})")
        else:
            del ds[tag]
            report["removed"].append(f"{keyword} ({reason})")
    return report
