"""DICOM SEG: write_seg -> read_seg is pixel-exact; our files read the same with highdicom; dcmqi's SEGs read the
same as their NRRD label maps; failures leave nothing half-written."""
import os
import warnings

import numpy as np
import pytest

import radseg
from radseg.dicom import SegError, synthetic
from tests.conftest import shared_data
from tests.dicom._nrrd import read_nrrd

pydicom = pytest.importorskip("pydicom")
hd = pytest.importorskip("highdicom")
# _masks() names two structures without an anatomy code on purpose; test_unknown_anatomy_names_warn checks that.
pytestmark = pytest.mark.filterwarnings("ignore:no anatomy code known:radseg.errors.RadsegWarning")

SEGS = ("dcmqi", "data", "segmentations")


@pytest.fixture
def volume(tmp_path):
    synthetic.write_series(tmp_path / "ct", synthetic.phantom((8, 40, 36), seed=1), spacing=(2.5, 0.7, 0.75))
    return radseg.dicom.read_series(tmp_path / "ct")


def _masks(shape, seed=0):
    rng = np.random.default_rng(seed)
    s, r, c = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
    liver = (r - shape[1] / 2) ** 2 + (c - shape[2] / 3) ** 2 < (shape[1] / 4) ** 2
    kidney = liver & (c > shape[2] / 3) & (s >= 2) & (s <= 4)  # overlaps the liver, only on slices 2..4
    noise = rng.random(shape) > 0.7  # ragged, many isolated pixels
    return {"liver": liver, "kidney_left": kidney, "my custom ROI": noise, "empty structure": np.zeros(shape, bool)}


def test_round_trip_is_pixel_exact_with_overlaps_and_empty_segments(volume, tmp_path):
    masks = _masks(volume.shape)
    path = radseg.dicom.write_seg(volume, masks, tmp_path / "seg.dcm")
    back = radseg.dicom.read_seg(path, volume)
    assert list(back) == list(masks)
    for name in masks:
        assert back[name].dtype == np.bool_
        np.testing.assert_array_equal(back[name], masks[name], err_msg=name)


def test_highdicom_reads_our_seg_the_same(volume, tmp_path):
    masks = _masks(volume.shape, seed=4)
    path = radseg.dicom.write_seg(volume, masks, tmp_path / "seg.dcm")
    seg = hd.seg.segread(path)
    pixels = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=list(volume.sop_instance_uids), segment_numbers=[1, 2, 3, 4],
        combine_segments=False,
    )
    for k, name in enumerate(masks):
        np.testing.assert_array_equal(pixels[..., k] != 0, masks[name], err_msg=name)


def test_frames_reference_their_source_slices_and_anatomy_is_coded(volume, tmp_path):
    path = radseg.dicom.write_seg(volume, _masks(volume.shape), tmp_path / "seg.dcm")
    ds = pydicom.dcmread(path)
    assert ds.Modality == "SEG" and ds.SegmentationType == "BINARY"
    assert ds.FrameOfReferenceUID == volume.frame_of_reference_uid
    assert ds.ReferencedSeriesSequence[0].SeriesInstanceUID == volume.series_instance_uid
    for frame in ds.PerFrameFunctionalGroupsSequence:
        uid = frame.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        s = volume.sop_instance_uids.index(uid)
        ipp = [float(v) for v in frame.PlanePositionSequence[0].ImagePositionPatient]
        np.testing.assert_allclose(ipp, volume.slice_positions[s], atol=1e-4)
    segs = {item.SegmentLabel: item for item in ds.SegmentSequence}
    assert segs["liver"].SegmentedPropertyTypeCodeSequence[0].CodeValue == "10200004"
    kidney = segs["kidney_left"].SegmentedPropertyTypeCodeSequence[0]
    assert kidney.CodeValue == "64033007" and kidney.SegmentedPropertyTypeModifierCodeSequence[0].CodeMeaning == "Left"
    assert segs["my custom ROI"].SegmentedPropertyTypeCodeSequence[0].CodeMeaning == "Tissue"
    assert segs["liver"].SegmentAlgorithmType == "SEMIAUTOMATIC"


@pytest.mark.filterwarnings("default:no anatomy code known:radseg.errors.RadsegWarning")
def test_unknown_anatomy_names_warn_once_naming_them_and_the_generic_code(volume, tmp_path):
    with pytest.warns(radseg.RadsegWarning) as record:
        radseg.dicom.write_seg(volume, _masks(volume.shape), tmp_path / "seg.dcm")
    (msg,) = [str(w.message) for w in record if "anatomy code" in str(w.message)]
    assert "'my custom ROI', 'empty structure'" in msg and "85756007 'Tissue'" in msg
    assert "liver" not in msg.split(":")[0] and "kidney_left" not in msg.split(":")[0]
    known = {"liver": volume.array > 0, "kidney_left": volume.array > 30}
    with warnings.catch_warnings():
        warnings.simplefilter("error", radseg.RadsegWarning)
        radseg.dicom.write_seg(volume, known, tmp_path / "known.dcm")


def test_oblique_mr_round_trip(tmp_path):
    vol = radseg.dicom.read_series(shared_data("dcmqi_adc_mr", "701-ADCb500"))
    masks = _masks(vol.shape, seed=2)
    back = radseg.dicom.read_seg(radseg.dicom.write_seg(vol, masks, tmp_path / "seg.dcm"), vol)
    for name in masks:
        np.testing.assert_array_equal(back[name], masks[name], err_msg=name)


def test_gantry_tilt_round_trip(tmp_path):
    tilt = np.radians(12.0)
    iop = (1, 0, 0, 0, np.cos(tilt), -np.sin(tilt))
    z = np.arange(6) * 3.0
    synthetic.write_series(tmp_path / "tilt", synthetic.phantom((6, 30, 30)), orientation=iop,
                           slice_positions=np.c_[np.zeros(6), np.zeros(6), z])
    with pytest.warns(radseg.dicom.DicomGeometryWarning, match="gantry tilt of 12.00"):
        vol = radseg.dicom.read_series(tmp_path / "tilt")
    masks = _masks(vol.shape, seed=3)
    back = radseg.dicom.read_seg(radseg.dicom.write_seg(vol, masks, tmp_path / "seg.dcm"), vol)
    for name in masks:
        np.testing.assert_array_equal(back[name], masks[name], err_msg=name)


def test_sources_without_frame_of_reference_cannot_get_a_seg(tmp_path):
    folder = shared_data("dicom2nifti", "tests", "data", "failing", "gantrytilting", "001")
    with pytest.warns(radseg.dicom.DicomGeometryWarning):
        vol = radseg.dicom.read_series(folder)
    with pytest.raises(SegError, match="no FrameOfReferenceUID"):
        radseg.dicom.write_seg(vol, {"a": vol.array > 0}, tmp_path / "seg.dcm")
    assert os.listdir(tmp_path) == []


@pytest.mark.filterwarnings("ignore:The string \"Anonymous\":UserWarning")  # highdicom on the source's PatientName
def test_multiframe_source_round_trip(tmp_path):
    vol = radseg.dicom.read_series(shared_data(*SEGS, "24x38x3", "multiframe", "mf.dcm"))
    masks = _masks(vol.shape, seed=5)
    path = radseg.dicom.write_seg(vol, masks, tmp_path / "seg.dcm")
    back = radseg.dicom.read_seg(path, vol)
    for name in masks:
        np.testing.assert_array_equal(back[name], masks[name], err_msg=name)
    ds = pydicom.dcmread(path)
    for frame in ds.PerFrameFunctionalGroupsSequence:  # frames point at the right frame of the source
        src = frame.DerivationImageSequence[0].SourceImageSequence[0]
        s = vol.frame_numbers.index(int(src.ReferencedFrameNumber))
        ipp = [float(v) for v in frame.PlanePositionSequence[0].ImagePositionPatient]
        np.testing.assert_allclose(ipp, vol.slice_positions[s], atol=1e-4)


def test_dcmqi_segs_match_their_nrrd_label_maps():
    base = shared_data(*SEGS)
    ct = radseg.dicom.read_series(base / "ct-3slice")
    liver = radseg.dicom.read_seg(base / "liver.dcm", ct)
    nrrd, _ = read_nrrd(base / "liver_seg.nrrd")  # (i, j, k) = (col, row, ascending z) on the CT grid
    np.testing.assert_array_equal(liver["Liver"], nrrd.transpose(2, 1, 0) != 0)
    overlaps = radseg.dicom.read_seg(base / "partial_overlaps.dcm", ct)
    labels = np.stack([read_nrrd(base / f"partial_overlaps-{k}.nrrd")[0].transpose(2, 1, 0) for k in (1, 2, 3)])
    numbers = {int(it.SegmentNumber): it.SegmentLabel for it in pydicom.dcmread(
        base / "partial_overlaps.dcm", stop_before_pixels=True).SegmentSequence}
    for number, name in numbers.items():  # segment n is label value n in one of the three maps
        np.testing.assert_array_equal(overlaps[name], (labels == number).any(axis=0), err_msg=name)
    small = radseg.dicom.read_series(base / "24x38x3" / "image")
    got = radseg.dicom.read_seg(base / "24x38x3" / "seg" / "label.seg", small)
    want = read_nrrd(base / "24x38x3" / "nrrd" / "label.nrrd")[0].transpose(2, 1, 0) != 0
    (mask,) = got.values()
    np.testing.assert_array_equal(mask, want)


def test_read_seg_refuses_a_seg_of_another_grid(volume, tmp_path):
    base = shared_data(*SEGS)
    with pytest.raises(SegError, match="FrameOfReferenceUID"):
        radseg.dicom.read_seg(base / "liver.dcm", volume)
    with pytest.raises(SegError, match="frames are 512x512"):
        radseg.dicom.read_seg(base / "liver.dcm", volume, check_frame_of_reference=False)
    with pytest.raises(SegError, match="not a DICOM SEG"):
        radseg.dicom.read_seg(volume.files[0], volume)
    moved = volume.with_array(volume.array)
    moved.origin = volume.origin + [0, 0, 1.0]  # half a slice off
    moved.slice_positions = volume.slice_positions + [0, 0, 1.0]
    path = radseg.dicom.write_seg(volume, {"liver": volume.array > 0}, tmp_path / "seg.dcm")
    with pytest.raises(SegError, match="not on the volume's grid"):
        radseg.dicom.read_seg(path, moved)


def test_bad_masks_and_volumes_are_refused_before_writing(volume, tmp_path):
    target = tmp_path / "seg.dcm"
    target.write_bytes(b"previous")
    for masks, match in [({}, "non-empty dict"), ({"a": np.zeros((2, 2, 2), bool)}, "has shape"),
                         ({"a": np.zeros(volume.shape, np.float32)}, "bool or integer"), ({"": volume.array > 0}, "names")]:
        with pytest.raises(ValueError, match=match):
            radseg.dicom.write_seg(volume, masks, target)
    nifti_vol = radseg.dicom.Volume(volume.array, volume.spacing, volume.origin, volume.direction)
    with pytest.raises(SegError, match="read_series"):
        radseg.dicom.write_seg(nifti_vol, {"a": volume.array > 0}, target)
    assert target.read_bytes() == b"previous"
    assert sorted(os.listdir(tmp_path)) == ["ct", "seg.dcm"]


def test_nothing_half_written_when_the_final_rename_fails(volume, tmp_path):
    target = tmp_path / "out"
    target.mkdir()  # renaming a file onto a directory fails after the temporary file was written
    with pytest.raises(OSError):
        radseg.dicom.write_seg(volume, {"liver": volume.array > 0}, target)
    assert os.listdir(target) == [] and sorted(os.listdir(tmp_path)) == ["ct", "out"]
    with pytest.raises(OSError):
        radseg.dicom.write_seg(volume, {"liver": volume.array > 0}, tmp_path / "missing" / "seg.dcm")


def test_seg_and_nifti_files_get_the_callers_umask_not_0600(volume, tmp_path):
    """A PACS service running as another user must be able to read what radseg wrote (mkstemp makes 0600)."""
    pytest.importorskip("nibabel")
    old = os.umask(0o022)
    try:
        seg = radseg.dicom.write_seg(volume, {"liver": _masks(volume.shape)["liver"]}, tmp_path / "seg.dcm")
        nii = radseg.dicom.write_nifti(volume, tmp_path / "ct.nii.gz")
    finally:
        os.umask(old)
    assert os.stat(seg).st_mode & 0o777 == 0o644
    assert os.stat(nii).st_mode & 0o777 == 0o644


def test_sources_with_an_empty_specific_character_set_get_a_seg(tmp_path):
    # dcmqi's CT test series writes SpecificCharacterSet as present but empty, which highdicom refuses to read;
    # empty means the default repertoire, so the SEG leaves it out, and the source headers stay as they were.
    folder = shared_data("dcmqi", "data", "segmentations", "ct-3slice")
    vol = radseg.dicom.read_series(folder)
    assert any("SpecificCharacterSet" in h and not str(h.SpecificCharacterSet) for h in vol.source_headers)
    mask = np.zeros(vol.shape, bool)
    mask[:, 100:200, 150:260] = True
    radseg.dicom.write_seg(vol, {"liver": mask}, tmp_path / "seg.dcm")
    assert np.array_equal(radseg.dicom.read_seg(tmp_path / "seg.dcm", vol)["liver"], mask)
    assert all("SpecificCharacterSet" in h for h in vol.source_headers)
