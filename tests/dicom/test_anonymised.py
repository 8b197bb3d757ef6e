"""Anonymised sources: UIDs only the file meta holds, UIDs nobody holds (SegError, or fill_missing_uids=True),
header values that break their VR, and the shared `radseg.dicom.fill_missing_uids` helper."""
import contextlib
import copy
import os
import warnings

import numpy as np
import pytest

import radseg
from radseg.dicom import SegError, synthetic
from radseg.errors import RadsegWarning
from tests.conftest import shared_data

pydicom = pytest.importorskip("pydicom")
hd = pytest.importorskip("highdicom")

def _masks(shape):
    s, r, c = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
    body = (r - shape[1] / 2) ** 2 + (c - shape[2] / 2) ** 2 < (shape[1] / 3) ** 2
    return {"liver": body & (s % 2 == 0), "kidney_right": body & (c < shape[2] / 2) & (s >= 1)}


def _assert_round_trip(path, volume, masks):
    back = radseg.dicom.read_seg(path, volume)
    assert list(back) == list(masks)
    for name, mask in masks.items():
        np.testing.assert_array_equal(back[name], mask, err_msg=name)


@contextlib.contextmanager
def _no_radseg_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error", RadsegWarning)
        yield


def _blanked_datasets(tmp_path, keywords, meta_too=True, n=5):
    """In-memory datasets of a synthetic series whose `keywords` are blank (and, for SOP UIDs, their file meta)."""
    paths = synthetic.write_series(tmp_path / "ct", synthetic.phantom((n, 24, 20), seed=2), spacing=(2.0, 0.9, 0.8))
    datasets = [pydicom.dcmread(p) for p in paths]
    for ds in datasets:
        for kw in keywords:
            setattr(ds, kw, "")
            meta_kw = {"SOPInstanceUID": "MediaStorageSOPInstanceUID", "SOPClassUID": "MediaStorageSOPClassUID"}.get(kw)
            if meta_too and meta_kw:
                del ds.file_meta[meta_kw]
    return datasets


# ------------------------------------------------------------------------------------ the real TotalSegmentator CT
def test_totalseg_series_takes_instance_uids_from_the_file_meta():
    folder = shared_data("totalseg", "example_ct_dicom")
    vol = radseg.dicom.read_series(folder)
    for path, uid in zip(vol.files, vol.sop_instance_uids):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        assert str(ds.get("SOPInstanceUID", "")) == ""  # the dataset really lacks it
        assert uid == str(ds.file_meta.MediaStorageSOPInstanceUID)
    assert len(set(vol.sop_instance_uids)) == vol.shape[0]
    for header, uid in zip(vol.source_headers, vol.sop_instance_uids):
        assert header.SOPInstanceUID == uid and header.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2"
    assert vol.series_instance_uid == "" and vol.study_instance_uid == "" and vol.generated_uids == {}


def test_totalseg_seg_needs_fill_missing_uids_and_then_reads_back_pixel_exact(tmp_path):
    folder = shared_data("totalseg", "example_ct_dicom")
    vol = radseg.dicom.read_series(folder)
    masks = {"body": vol.array > -300, "bone": vol.array > 250, "liver": (vol.array > 40) & (vol.array < 120)}
    with pytest.raises(SegError) as info:
        radseg.dicom.write_seg(vol, masks, tmp_path / "seg.dcm")
    msg = str(info.value)
    assert "no StudyInstanceUID (missing in 20 of 20 source files, e.g. " in msg
    assert "no SeriesInstanceUID (missing in 20 of 20" in msg and "fill_missing_uids=True" in msg
    assert "SOPInstanceUID" not in msg and "NIfTI" not in msg  # the file meta supplied those; not a NIfTI volume
    assert os.listdir(tmp_path) == []
    file_meta_uids = vol.sop_instance_uids

    with pytest.warns(RadsegWarning, match="generated the DICOM UIDs.*StudyInstanceUID .*SeriesInstanceUID "):
        path = radseg.dicom.write_seg(vol, masks, tmp_path / "seg.dcm", fill_missing_uids=True)
    assert set(vol.generated_uids) == {"StudyInstanceUID", "SeriesInstanceUID"}
    assert vol.series_instance_uid == vol.generated_uids["SeriesInstanceUID"]
    assert vol.study_instance_uid == vol.generated_uids["StudyInstanceUID"]
    assert vol.sop_instance_uids == file_meta_uids  # the instances keep their own identity
    _assert_round_trip(path, vol, masks)
    seg = pydicom.dcmread(path)
    assert seg.StudyInstanceUID == vol.study_instance_uid
    ref = seg.ReferencedSeriesSequence[0]
    assert ref.SeriesInstanceUID == vol.series_instance_uid
    assert {str(item.ReferencedSOPInstanceUID) for item in ref.ReferencedInstanceSequence} == set(file_meta_uids)
    # A second SEG of the same volume references the same UIDs, without generating (or warning) again.
    with _no_radseg_warnings():
        second = radseg.dicom.write_seg(vol, {"body": masks["body"]}, tmp_path / "seg2.dcm", fill_missing_uids=True)
    assert pydicom.dcmread(second).ReferencedSeriesSequence[0].SeriesInstanceUID == vol.series_instance_uid
    assert str(pydicom.dcmread(vol.files[0], stop_before_pixels=True).get("SeriesInstanceUID", "")) == ""


# ------------------------------------------------------------------------------------ synthetic blank UIDs
def test_blank_sop_uids_without_file_meta_are_an_error_naming_the_tag(tmp_path):
    datasets = _blanked_datasets(tmp_path, ["SOPInstanceUID"])
    vol = radseg.dicom.read_series(datasets)
    assert vol.sop_instance_uids == ("",) * 5
    with pytest.raises(SegError, match=r"no SOPInstanceUID \(missing in 5 of 5 source files, e\.g\. <dataset .*"
                                       r"their file meta holds no MediaStorageSOPInstanceUID either.*"
                                       r"fill_missing_uids=True"):
        radseg.dicom.write_seg(vol, _masks(vol.shape), tmp_path / "seg.dcm")


def test_fill_missing_uids_generates_per_instance_uids_consistently(tmp_path):
    datasets = _blanked_datasets(tmp_path, ["SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID",
                                            "FrameOfReferenceUID"])
    originals = [copy.deepcopy(ds) for ds in datasets]
    vol = radseg.dicom.read_series(datasets)
    masks = _masks(vol.shape)
    with pytest.raises(SegError, match="no FrameOfReferenceUID") as info:
        radseg.dicom.write_seg(vol, masks, tmp_path / "seg.dcm")
    for kw in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"):
        assert f"no {kw} (missing in 5 of 5" in str(info.value)
    with pytest.warns(RadsegWarning, match=r"SOPInstanceUID for 5 of 5 instances.*FrameOfReferenceUID"):
        path = radseg.dicom.write_seg(vol, masks, tmp_path / "seg.dcm", fill_missing_uids=True)
    gen = vol.generated_uids
    assert set(gen) == {"SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID"}
    assert len(set(gen["SOPInstanceUID"])) == 5 and all(pydicom.uid.UID(u).is_valid for u in gen["SOPInstanceUID"])
    # What the volume reports is what the SEG's copies carried, slice for slice.
    assert sorted(vol.sop_instance_uids) == sorted(gen["SOPInstanceUID"])
    assert [h.SOPInstanceUID for h in vol.source_headers] == list(gen["SOPInstanceUID"])
    assert vol.frame_of_reference_uid == gen["FrameOfReferenceUID"]
    _assert_round_trip(path, vol, masks)
    seg = pydicom.dcmread(path)
    assert seg.FrameOfReferenceUID == vol.frame_of_reference_uid and seg.StudyInstanceUID == gen["StudyInstanceUID"]
    for frame in seg.PerFrameFunctionalGroupsSequence:  # each frame references its own slice's generated UID
        uid = frame.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        s = vol.sop_instance_uids.index(uid)
        np.testing.assert_allclose([float(v) for v in frame.PlanePositionSequence[0].ImagePositionPatient],
                                   vol.slice_positions[s], atol=1e-4)
    # highdicom finds the frames by the generated source UIDs too.
    pixels = hd.seg.segread(path).get_pixels_by_source_instance(
        source_sop_instance_uids=list(vol.sop_instance_uids), segment_numbers=[1, 2], combine_segments=False)
    np.testing.assert_array_equal(pixels[..., 0] != 0, masks["liver"])
    # The caller's datasets are untouched: elements and file meta alike.
    for ds, orig in zip(datasets, originals):
        assert ds == orig and ds.file_meta == orig.file_meta and "MediaStorageSOPInstanceUID" not in ds.file_meta


def test_missing_sop_class_cannot_be_generated(tmp_path):
    datasets = _blanked_datasets(tmp_path, ["SOPClassUID"])
    vol = radseg.dicom.read_series(datasets)
    for fill in (False, True):
        with pytest.raises(SegError, match="no SOPClassUID .*Set SOPClassUID in the files"):
            radseg.dicom.write_seg(vol, _masks(vol.shape), tmp_path / "seg.dcm", fill_missing_uids=fill)
    with pytest.raises(radseg.dicom.DicomError, match="cannot be generated"):
        radseg.dicom.fill_missing_uids(datasets)


def test_nifti_volume_and_missing_uids_get_different_messages(tmp_path):
    datasets = _blanked_datasets(tmp_path, ["StudyInstanceUID"])
    vol = radseg.dicom.read_series(datasets)
    nifti = radseg.dicom.Volume(vol.array, vol.spacing, vol.origin, vol.direction)
    with pytest.raises(SegError, match="was it read from NIfTI"):
        radseg.dicom.write_seg(nifti, _masks(vol.shape), tmp_path / "seg.dcm")
    with pytest.raises(SegError) as info:
        radseg.dicom.write_seg(vol, _masks(vol.shape), tmp_path / "seg.dcm")
    assert "NIfTI" not in str(info.value) and "no StudyInstanceUID" in str(info.value)


# ------------------------------------------------------------------------------------ the shared helper
def test_fill_missing_uids_helper(tmp_path):
    datasets = _blanked_datasets(tmp_path, ["SOPInstanceUID", "SeriesInstanceUID"], n=3)
    datasets[1].file_meta.MediaStorageSOPInstanceUID = "1.2.3.4.5"  # one holds its UID in the file meta
    study = datasets[0].StudyInstanceUID
    with pytest.warns(RadsegWarning, match=r"SOPInstanceUID for 2 of 3 instances, SeriesInstanceUID "):
        generated = radseg.dicom.fill_missing_uids(datasets)
    assert set(generated) == {"SOPInstanceUID", "SeriesInstanceUID"}
    assert generated["SOPInstanceUID"][1] == "" and all(generated["SOPInstanceUID"][k] for k in (0, 2))
    assert datasets[1].SOPInstanceUID == "1.2.3.4.5"
    for ds, uid in zip(datasets, generated["SOPInstanceUID"]):
        assert ds.SeriesInstanceUID == generated["SeriesInstanceUID"] and ds.StudyInstanceUID == study
        if uid:
            assert ds.SOPInstanceUID == uid == ds.file_meta.MediaStorageSOPInstanceUID
    with _no_radseg_warnings():
        assert radseg.dicom.fill_missing_uids(datasets) == {}
    assert radseg.dicom.missing_uids(datasets) == {}


def test_fill_missing_uids_without_frame_of_reference(tmp_path):
    datasets = _blanked_datasets(tmp_path, ["FrameOfReferenceUID"], n=2)
    with _no_radseg_warnings():
        assert radseg.dicom.fill_missing_uids(datasets, frame_of_reference=False) == {}
    assert radseg.dicom.missing_uids(datasets) == {"FrameOfReferenceUID": [0, 1]}


# ------------------------------------------------------------------------------------ values that break their VR
BAD_VALUES = {  # what anonymisers write: hashes in dates and times, over-long names and IDs
    "PatientBirthDate": "a3f9c2e1b7",
    "StudyDate": "2x21b20c",
    "StudyTime": "ab12cd",
    "PatientName": "A" * 70 + "^Bob",
    "AccessionNumber": "ACC" + "f" * 20,
    "StudyID": "S" * 17,
    "PatientID": "P" * 65,
    "PatientSex": "X",
    "PatientAge": "forty",  # type 3: left out
    "StudyDescription": "d" * 70,  # type 3 LO
}


def test_header_values_breaking_their_vr_do_not_stop_a_seg(tmp_path):
    paths = synthetic.write_series(tmp_path / "ct", synthetic.phantom((4, 20, 20), seed=5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about each invalid value it is asked to write
        for p in paths:
            ds = pydicom.dcmread(p)
            for kw, value in BAD_VALUES.items():
                setattr(ds, kw, value)
            ds.save_as(p)
        vol = radseg.dicom.read_series(tmp_path / "ct")
    masks = _masks(vol.shape)
    with pytest.warns(RadsegWarning, match="break their value representation") as record:
        path = radseg.dicom.write_seg(vol, masks, tmp_path / "seg.dcm")
    (msg,) = [str(w.message) for w in record if "value representation" in str(w.message)]
    for kw in BAD_VALUES:
        assert kw in msg, kw
    blank, out = msg.split("left out of the SEG: ")
    assert "PatientAge" in out and "StudyDescription" in out and "PatientBirthDate" in blank
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the SEG reads without a single validation warning
        seg = pydicom.dcmread(path)
        for kw in BAD_VALUES:
            if kw in seg:
                pydicom.valuerep.validate_value(seg[kw].VR, str(seg[kw].value), pydicom.config.RAISE)
    for kw in ("PatientBirthDate", "StudyDate", "StudyTime", "PatientName", "AccessionNumber", "StudyID",
               "PatientID", "PatientSex"):
        assert kw in seg and str(seg[kw].value) == "", kw
    assert "PatientAge" not in seg and "StudyDescription" not in seg
    assert seg.StudyInstanceUID == vol.study_instance_uid
    _assert_round_trip(path, vol, masks)
    assert pydicom.dcmread(paths[0]).PatientBirthDate == BAD_VALUES["PatientBirthDate"]  # the source is unchanged


def test_valid_headers_give_no_warning(tmp_path):
    synthetic.write_series(tmp_path / "ct", synthetic.phantom((3, 16, 16)))
    vol = radseg.dicom.read_series(tmp_path / "ct")
    with _no_radseg_warnings():
        radseg.dicom.write_seg(vol, _masks(vol.shape), tmp_path / "seg.dcm")
