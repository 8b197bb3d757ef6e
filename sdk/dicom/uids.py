"""The UIDs anonymised series lack, and the one documented way radseg fills them: `fill_missing_uids`.

A DICOM SEG references its source images by SOPInstanceUID and SOPClassUID, joins their study
(StudyInstanceUID), names their series (SeriesInstanceUID, which highdicom needs for the references) and shares
their FrameOfReferenceUID; a PACS indexes uploads by the same UIDs. Some anonymisers blank them in the dataset.

`fill_missing_uids(datasets)` fills, in place:

* SOPInstanceUID / SOPClassUID from the file meta (MediaStorageSOPInstanceUID / MediaStorageSOPClassUID) where it
  holds them. That is the same instance, not an invention: not warned about, not reported as generated.
* Otherwise a new SOPInstanceUID per dataset (`pydicom.uid.generate_uid`), written to the file meta too; and one
  new StudyInstanceUID, one SeriesInstanceUID and one FrameOfReferenceUID shared by all the datasets that lack
  them, so call it once per series. A SOP class cannot be made up: `DicomError`.

It warns once (`radseg.errors.RadsegWarning`) naming what it generated and returns it. It never modifies an
element or file meta that the datasets may share with others (shallow copies of the caller's files, as
`read_series` keeps): it replaces them, so filling such copies leaves the originals untouched.

``radseg.dicom.write_seg(volume, masks, path, fill_missing_uids=True)`` runs the same code on copies of the
volume's source headers and makes the volume adopt the result (see `write_seg`).
"""
from __future__ import annotations

import warnings
from typing import Optional, Sequence

from ..errors import RadsegWarning
from ._headers import adopt_meta_uids, meta_value, set_element, set_meta_element
from .errors import DicomError, require

INSTANCE_KEYWORDS = ("SOPInstanceUID", "SOPClassUID")
SHARED_KEYWORDS = ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID")
ALL_KEYWORDS = INSTANCE_KEYWORDS + SHARED_KEYWORDS


def missing_uids(datasets: Sequence, keywords: Sequence[str] = ALL_KEYWORDS) -> dict[str, list[int]]:
    """{keyword: indices of the datasets that lack it}, for the keywords missing anywhere (empty: none missing).

    A SOPInstanceUID / SOPClassUID held only by the file meta counts as present.
    """
    out: dict[str, list[int]] = {}
    for keyword in keywords:
        lacking = [i for i, ds in enumerate(datasets) if not meta_value(ds, keyword)]
        if lacking:
            out[keyword] = lacking
    return out


def generate_missing_uids(datasets: Sequence, *, frame_of_reference: bool = True) -> dict:
    """What `fill_missing_uids` does, without the warning (for callers that word their own). Same return value."""
    require("pydicom")
    from pydicom.uid import generate_uid

    datasets = list(datasets)
    no_class = missing_uids(datasets, ("SOPClassUID",)).get("SOPClassUID", [])
    if no_class:
        raise DicomError(
            f"{len(no_class)} of {len(datasets)} datasets (e.g. number {no_class[0]}) have no SOPClassUID, neither "
            "in the dataset nor in the file meta (MediaStorageSOPClassUID); a SOP class says what the object is and "
            "cannot be generated: set it (e.g. CT Image Storage 1.2.840.10008.5.1.4.1.1.2)"
        )
    generated: dict = {}
    shared = SHARED_KEYWORDS if frame_of_reference else SHARED_KEYWORDS[:2]
    for keyword, lacking in missing_uids(datasets, shared).items():
        uid = generate_uid()  # one for all: the datasets are one series of one study in one frame of reference
        for i in lacking:
            set_element(datasets[i], keyword, uid)
        generated[keyword] = str(uid)
    new_sops = [""] * len(datasets)
    for i, ds in enumerate(datasets):
        adopt_meta_uids(ds)
        if not meta_value(ds, "SOPInstanceUID"):
            new_sops[i] = str(generate_uid())
            set_element(ds, "SOPInstanceUID", new_sops[i])
            # The Part 10 header must name the same instance, or readers and PACS disagree about which it is.
            set_meta_element(ds, "MediaStorageSOPInstanceUID", new_sops[i])
    if any(new_sops):
        generated["SOPInstanceUID"] = tuple(new_sops)
    return generated


def describe_generated(generated: dict, count: int) -> str:
    """One line naming what `generate_missing_uids` made up for `count` datasets ('' when nothing)."""
    parts = []
    sops = generated.get("SOPInstanceUID")
    if sops:
        parts.append(f"SOPInstanceUID for {sum(1 for u in sops if u)} of {count} instances")
    parts += [f"{kw} {generated[kw]}" for kw in SHARED_KEYWORDS if kw in generated]
    return ", ".join(parts)


def fill_missing_uids(datasets: Sequence, *, frame_of_reference: bool = True) -> dict:
    """Fill, in place, the UIDs that `datasets` (one series: pydicom Datasets) lack; warn naming what was generated.

    Args:
        datasets: the instances of one series. Modified by replacing elements (see the module docstring).
        frame_of_reference: also give the datasets lacking a FrameOfReferenceUID one new shared UID (default).
            Only correct when they really share one patient coordinate system, as the slices of one series do.
    Returns:
        What was *generated* (file-meta fallbacks are not): {"StudyInstanceUID": uid, "SeriesInstanceUID": uid,
        "FrameOfReferenceUID": uid, "SOPInstanceUID": (one entry per dataset: the new UID, '' where it had one)},
        with only the keys that were generated; {} when nothing was missing.
    Raises:
        DicomError when a dataset has no SOPClassUID, neither in the dataset nor in its file meta.
    """
    generated = generate_missing_uids(datasets, frame_of_reference=frame_of_reference)
    if generated:
        warnings.warn(
            f"generated DICOM UIDs the datasets lack: {describe_generated(generated, len(datasets))}; what is "
            "made from them (a SEG, an upload) references these new UIDs, not the unknown originals",
            RadsegWarning, stacklevel=2,
        )
    return generated


def adopt_generated_uids(volume, slice_sources: Sequence[int], product: str) -> list:
    """Generate the UIDs the volume's source headers lack, on copies, and make the volume adopt them: its source
    headers, SOP instance UIDs (per slice, through `slice_sources`), study / series / frame-of-reference UIDs, and
    ``volume.generated_uids``. Warns (`radseg.RadsegWarning`) naming what was generated for the `product` ("SEG",
    "RTSTRUCT") that will reference them. Returns the filled headers. One implementation for `write_seg` and
    `write_rtstruct`, so that a SEG and an RTSTRUCT of one volume reference the same UIDs."""
    from ._headers import shallow_copy, text

    filled = [shallow_copy(ds) for ds in volume.source_headers]
    generated = generate_missing_uids(filled)
    warnings.warn(f"generated the DICOM UIDs the source images lack (fill_missing_uids=True): "
                  f"{describe_generated(generated, len(filled))}; recorded in volume.generated_uids, and the "
                  f"{product} references them, not the unknown originals", RadsegWarning, stacklevel=4)
    volume.source_headers = tuple(filled)
    volume.sop_instance_uids = tuple(meta_value(filled[j], "SOPInstanceUID") for j in slice_sources)
    volume.study_instance_uid = text(filled[0], "StudyInstanceUID")
    volume.series_instance_uid = text(filled[0], "SeriesInstanceUID")
    volume.frame_of_reference_uid = text(filled[0], "FrameOfReferenceUID")
    volume.generated_uids.update(generated)
    return filled


def seg_uid_problem(datasets: Sequence, fill: bool) -> Optional[tuple]:
    """(what is wrong, how to fix it) when a SEG of the series `datasets` cannot be written for lack of UIDs
    (a SOPClassUID, which cannot be generated; or any other UID while `fill` is off), else None. One check for
    `radseg segment --series` and `radseg batch`, which word the prefix themselves."""
    missing = missing_uids(datasets)
    if "SOPClassUID" in missing:
        return (f"{len(missing['SOPClassUID'])} of {len(datasets)} images have no SOPClassUID, so seg.dcm cannot "
                "reference them (and it cannot be generated)",
                "set SOPClassUID in the files (CT Image Storage is 1.2.840.10008.5.1.4.1.1.2)")
    if missing and not fill:
        return (f"the images lack {', '.join(sorted(missing))}, which seg.dcm must reference",
                "add --fill-missing-uids to generate them (warned about and recorded in result.json), or add the "
                "UIDs to the files")
    return None

