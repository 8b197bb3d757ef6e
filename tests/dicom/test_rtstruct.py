"""RTSTRUCT: write_rtstruct -> read_rtstruct is pixel-exact (holes, islands, diagonal pixels, the image border,
oblique and tilted grids, real series); the clinical structure sets of body_refs read like their independent
rasterisation; the written file is a valid RT Structure Set; bad inputs fail with messages that say why."""
import warnings

import numpy as np
import pytest

import radseg
from radseg.dicom import RtstructError, RtstructWarning, synthetic
from radseg.dicom.rtstruct import RT_STRUCTURE_SET_STORAGE, fill_contours, trace_contours
from tests.conftest import shared_data

pydicom = pytest.importorskip("pydicom")

BODY_REFS = ("body_refs", "rtstruct_ct")


# ------------------------------------------------------------------------------------------------ fixtures
@pytest.fixture
def volume(tmp_path):
    synthetic.write_series(tmp_path / "ct", synthetic.phantom((5, 40, 36), seed=1), spacing=(2.5, 0.7, 0.75))
    return radseg.dicom.read_series(tmp_path / "ct")


def _hard_masks(shape, seed=0):
    """Masks that break naive contouring: holes (one inside an island inside a hole), islands, pixels touching
    only at corners, a mask covering the whole slice and touching every border, single pixels, an empty ROI."""
    s, r, c = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
    rows, cols = shape[1:]
    body = ((r - rows / 2) / (rows * 0.42)) ** 2 + ((c - cols / 2) / (cols * 0.45)) ** 2 < 1
    hole = ((r - rows / 2) / (rows * 0.25)) ** 2 + ((c - cols / 2) / (cols * 0.25)) ** 2 < 1
    island = ((r - rows / 2) / (rows * 0.12)) ** 2 + ((c - cols / 2) / (cols * 0.12)) ** 2 < 1
    pit = (r == rows // 2) & (c == cols // 2)
    nested = body & ~hole | island & ~pit  # ring, island in its hole, a one-pixel hole in the island
    checker = ((r + c) % 2 == 0) & (r < 8) & (c < 8)  # every pixel touches its neighbours only at corners
    noise = np.random.default_rng(seed).random(shape) > 0.6
    border = np.zeros(shape, bool)
    border[0] = True                        # the whole first slice
    border[1, :, 0] = border[1, 0, :] = True  # an L along two edges
    border[2, -1, -1] = border[2, 0, -1] = border[2, -1, 0] = True  # corner pixels
    return {"BODY": nested, "checker": checker | (s == 3) & noise, "noise": noise, "border": border,
            "empty": np.zeros(shape, bool)}


def _assert_round_trip(volume, masks, path, **kwargs):
    out = radseg.dicom.write_rtstruct(volume, masks, path, **kwargs)
    assert out == path
    with warnings.catch_warnings():
        warnings.simplefilter("error", RtstructWarning)
        back = radseg.dicom.read_rtstruct(path, volume)
    assert list(back) == list(masks)
    for name, mask in masks.items():
        assert back[name].dtype == np.bool_ and back[name].shape == volume.shape
        np.testing.assert_array_equal(back[name], mask, err_msg=name)
    return back


# ------------------------------------------------------------------------------------------------ 2D geometry
def test_crack_contours_fill_back_exactly_on_random_masks():
    rng = np.random.default_rng(3)
    for _ in range(300):
        shape = tuple(rng.integers(1, 24, size=2))
        mask = rng.random(shape) < rng.random()
        polygons = trace_contours(mask)
        np.testing.assert_array_equal(fill_contours(polygons, shape), mask)
        for poly in polygons:  # vertices are pixel corners, and no three consecutive ones are collinear
            assert np.all(np.abs(poly - np.round(poly)) == 0.5)
            step = np.diff(np.concatenate([poly, poly[:1]]), axis=0)
            turn = step[:, 0] * np.roll(step, -1, axis=0)[:, 1] - step[:, 1] * np.roll(step, -1, axis=0)[:, 0]
            assert np.all(turn != 0)


def test_holes_are_separate_contours_with_the_opposite_winding():
    mask = np.zeros((12, 12), bool)
    mask[1:11, 1:11] = True
    mask[3:5, 3:5] = mask[6:9, 6:9] = False
    polygons = trace_contours(mask)
    assert len(polygons) == 3  # one outer boundary, two holes
    area = [0.5 * np.sum(p[:, 1] * np.roll(p[:, 0], -1) - np.roll(p[:, 1], -1) * p[:, 0]) for p in polygons]
    assert sorted(np.abs(area)) == [4, 9, 100]  # crack polygons cover exactly the pixels
    signs = {abs(a): np.sign(a) for a in area}
    assert signs[100] == -signs[4] == -signs[9]
    # Diagonal neighbours are outlined separately and share a corner.
    diag = np.array([[1, 0], [0, 1]], bool)
    assert [len(p) for p in trace_contours(diag)] == [4, 4]


def test_even_odd_fill_of_overlapping_polygons_cancels_the_overlap():
    square = np.array([[0.5, 0.5], [0.5, 6.5], [6.5, 6.5], [6.5, 0.5]])
    filled = fill_contours([square, square + 3], (10, 10))
    expected = np.zeros((10, 10), bool)
    expected[1:7, 1:7] ^= True
    expected[4:10, 4:10] ^= True
    np.testing.assert_array_equal(filled, expected)
    assert not fill_contours([square[:2]], (10, 10)).any()  # two points bound no area


# ------------------------------------------------------------------------------------------------ round trips
def test_round_trip_is_pixel_exact_on_hard_masks(volume, tmp_path):
    _assert_round_trip(volume, _hard_masks(volume.shape), tmp_path / "rs.dcm")


def test_round_trip_on_an_oblique_tilted_uneven_grid(tmp_path):
    a = np.deg2rad(25)
    iop = (np.cos(a), np.sin(a), 0.0, -np.sin(a) * np.sin(0.3), np.cos(a) * np.sin(0.3), np.cos(0.3))
    col, row = np.array(iop[:3]), np.array(iop[3:])
    normal = np.cross(col, row)
    steps = np.array([0.0, 2.0, 4.5, 6.0, 9.0])  # uneven steps
    positions = np.array([10, -20, 30.0]) + steps[:, None] * (normal + 0.2 * row)[None, :]  # and gantry tilt
    synthetic.write_series(tmp_path / "obl", synthetic.phantom((5, 30, 34), seed=2), spacing=(2.0, 0.9, 1.1),
                           orientation=iop, slice_positions=positions)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", radseg.RadsegWarning)  # the reader notes the tilt and the uneven steps
        vol = radseg.dicom.read_series(tmp_path / "obl", uneven="allow")
    assert vol.tilt_deg > 5 and not vol.is_regular
    masks = _hard_masks(vol.shape, seed=5)
    _assert_round_trip(vol, masks, tmp_path / "rs.dcm")
    ds = pydicom.dcmread(tmp_path / "rs.dcm")
    uids = list(vol.sop_instance_uids)
    for contour in ds.ROIContourSequence[0].ContourSequence:  # each contour lies in the plane of its image
        s = uids.index(contour.ContourImageSequence[0].ReferencedSOPInstanceUID)
        points = np.array(contour.ContourData, float).reshape(-1, 3)
        assert np.abs((points - vol.slice_positions[s]) @ vol.slice_normal).max() < 1e-5


def test_round_trip_on_real_series(tmp_path):
    ct = radseg.dicom.read_series(shared_data("dcmqi", "data", "segmentations", "ct-3slice"))  # GE CT, 512x512
    mr = radseg.dicom.read_series(shared_data("dcmqi_adc_mr", "701-ADCb500"))  # oblique prostate MR
    assert abs(mr.direction[0, 2]) > 0.1  # the row direction tilts out of the LPS axes
    a = ct.array
    ct_masks = {"BODY": a > -300, "bone": (a > 400) & (np.arange(a.shape[0]) == 1)[:, None, None]}
    b = mr.array.astype(np.float32)
    some = np.isin(np.arange(b.shape[0]), (0, 7, 19))[:, None, None]  # the noisy MR's contours are many: 3 slices
    mr_masks = {"BODY": (b > np.percentile(b, 30)) & some, "bright": (b > np.percentile(b, 97)) & some}
    _assert_round_trip(ct, ct_masks, tmp_path / "ct.dcm")
    _assert_round_trip(mr, mr_masks, tmp_path / "mr.dcm")
    # One multi-frame instance: each contour references its frame.
    mf = radseg.dicom.read_series(shared_data("dcmqi", "data", "segmentations", "24x38x3", "multiframe", "mf.dcm"))
    square = np.zeros(mf.shape, bool)
    square[:, 5:20, 4:15] = True  # two of its three frames are nearly uniform: give every frame a contour
    _assert_round_trip(mf, {"BODY": square ^ (mf.array > np.median(mf.array))}, tmp_path / "mf.dcm")
    frames = {int(c.ContourImageSequence[0].ReferencedFrameNumber)
              for c in pydicom.dcmread(tmp_path / "mf.dcm").ROIContourSequence[0].ContourSequence}
    assert frames == {1, 2, 3}


def test_round_trip_with_generated_uids(volume, tmp_path):
    from radseg.dicom._headers import shallow_copy

    stripped = []
    for ds in volume.source_headers:
        copy = shallow_copy(ds)
        del copy.FrameOfReferenceUID
        stripped.append(copy)
    volume.source_headers, volume.frame_of_reference_uid = tuple(stripped), ""
    masks = {"BODY": _hard_masks(volume.shape)["BODY"]}
    with pytest.raises(RtstructError, match="FrameOfReferenceUID.*fill_missing_uids=True"):
        radseg.dicom.write_rtstruct(volume, masks, tmp_path / "rs.dcm")
    assert not (tmp_path / "rs.dcm").exists()
    with pytest.warns(radseg.RadsegWarning, match="generated the DICOM UIDs"):
        _assert_round_trip(volume, masks, tmp_path / "rs.dcm", fill_missing_uids=True)
    assert volume.frame_of_reference_uid == volume.generated_uids["FrameOfReferenceUID"]


# ------------------------------------------------------------------------------------------------ the file
def test_written_file_is_a_valid_rt_structure_set(volume, tmp_path):
    from pydicom import config

    masks = _hard_masks(volume.shape)
    masks["Cœur"] = masks.pop("noise")  # a non-ASCII ROI name (UTF-8)
    path = tmp_path / "rs.dcm"
    old = config.settings.writing_validation_mode
    config.settings.writing_validation_mode = config.RAISE  # every value must fit its VR
    try:
        radseg.dicom.write_rtstruct(volume, masks, path, roi_types={"border": "AVOIDANCE"},
                                    colors={"checker": (1, 2, 3)})
    finally:
        config.settings.writing_validation_mode = old
    ds = pydicom.dcmread(path)
    meta = ds.file_meta
    assert meta.MediaStorageSOPClassUID == ds.SOPClassUID == RT_STRUCTURE_SET_STORAGE
    assert meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian and ds.preamble == b"\0" * 128
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyDate",
                    "StudyTime", "ReferringPhysicianName", "StudyID", "AccessionNumber", "Modality",
                    "SeriesInstanceUID", "SeriesNumber", "OperatorsName", "Manufacturer", "StructureSetLabel",
                    "StructureSetDate", "StructureSetTime", "SOPClassUID", "SOPInstanceUID"):
        assert keyword in ds, keyword
    assert ds.Modality == "RTSTRUCT" and ds.StudyInstanceUID == volume.study_instance_uid
    assert ds.SeriesInstanceUID != volume.series_instance_uid
    assert ds.PatientID == volume.source_headers[0].PatientID
    # References: frame of reference -> study -> series -> every image of the volume.
    ref_for = ds.ReferencedFrameOfReferenceSequence[0]
    assert ref_for.FrameOfReferenceUID == volume.frame_of_reference_uid
    study = ref_for.RTReferencedStudySequence[0]
    assert study.ReferencedSOPInstanceUID == volume.study_instance_uid
    series = study.RTReferencedSeriesSequence[0]
    assert series.SeriesInstanceUID == volume.series_instance_uid
    assert [i.ReferencedSOPInstanceUID for i in series.ContourImageSequence] == list(volume.sop_instance_uids)
    # ROIs: numbers agree across the three sequences; names, types and colours as asked.
    rois = {int(r.ROINumber): r for r in ds.StructureSetROISequence}
    assert [r.ROIName for r in rois.values()] == list(masks)
    assert all(r.ReferencedFrameOfReferenceUID == volume.frame_of_reference_uid for r in rois.values())
    types = {rois[int(o.ReferencedROINumber)].ROIName: o.RTROIInterpretedType for o in ds.RTROIObservationsSequence}
    assert types == {"BODY": "EXTERNAL", "checker": "ORGAN", "border": "AVOIDANCE", "empty": "ORGAN",
                     "Cœur": "ORGAN"}
    colors = {rois[int(c.ReferencedROINumber)].ROIName: list(c.ROIDisplayColor) for c in ds.ROIContourSequence}
    assert colors["checker"] == [1, 2, 3] and colors["BODY"] == [0, 255, 0]
    slice_uids = set(volume.sop_instance_uids)
    numbers = []
    for rc in ds.ROIContourSequence:
        name = rois[int(rc.ReferencedROINumber)].ROIName
        contours = rc.get("ContourSequence", []) or []
        assert (len(contours) == 0) == (name == "empty")
        for contour in contours:
            assert contour.ContourGeometricType == "CLOSED_PLANAR"
            assert len(contour.ContourData) == 3 * int(contour.NumberOfContourPoints)
            for value in contour.ContourData:  # written unchecked for speed: each must be a valid DS
                pydicom.valuerep.validate_value("DS", value.original_string, config.RAISE)
            image = contour.ContourImageSequence[0]
            assert image.ReferencedSOPInstanceUID in slice_uids
            assert image.ReferencedSOPClassUID == volume.source_headers[0].SOPClassUID
            numbers.append(int(contour.ContourNumber))
    assert len(set(numbers)) == len(numbers)
    assert radseg.dicom.read_rtstruct(path, volume)["Cœur"].sum() == masks["Cœur"].sum()


def test_nothing_is_left_behind_when_the_folder_is_missing(volume, tmp_path):
    with pytest.raises(OSError):
        radseg.dicom.write_rtstruct(volume, {"BODY": _hard_masks(volume.shape)["BODY"]}, tmp_path / "no" / "rs.dcm")
    assert list(tmp_path.iterdir()) == [tmp_path / "ct"]


# ------------------------------------------------------------------------------------------------ clinical files
def _nifti_on_volume(path, vol):
    """The NIfTI mask on the volume's [slices, rows, cols] grid, with the axis mapping worked out from the two
    geometries (and checked), not assumed."""
    nib = pytest.importorskip("nibabel")
    img = nib.load(str(path))
    data = np.asarray(img.dataobj)
    affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ img.affine  # nibabel's world is RAS, DICOM's LPS
    origin = vol.patient_to_voxel(affine[:3, 3])
    assert np.allclose(origin, np.round(origin), atol=1e-3), origin
    axes, flips = [None] * 3, []
    for a in range(3):
        step = vol.patient_to_voxel(affine[:3, 3] + affine[:3, a]) - origin  # one NIfTI step, in volume voxels
        b = int(np.argmax(np.abs(step)))
        assert np.allclose(np.abs(step), np.eye(3)[b], atol=1e-3), (a, step)  # a pure axis permutation
        axes[b] = a
        flips.append((b, step[b] < 0))
    out = data.transpose(axes)
    for b, flip in flips:
        out = np.flip(out, b) if flip else out
    assert out.shape == vol.shape
    return out != 0, axes


@pytest.mark.parametrize("case,series,rtstruct,dice_min,off", [
    ("visible_human", "dicom", "dicom/RS_Body_SpinalCord.dcm", 0.99, 0),
    ("breast_dicompyler", "ct.0.dcm", "rtss.dcm", 0.99, 137),
])
def test_clinical_rtstruct_matches_its_independent_rasterisation(case, series, rtstruct, dice_min, off):
    folder = shared_data(*BODY_REFS, case)
    vol = radseg.dicom.read_series(folder / series)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        masks = radseg.dicom.read_rtstruct(folder / rtstruct, vol)
    reference, axes = _nifti_on_volume(folder / "body_mask_BODY.nii.gz", vol)
    assert axes == [2, 1, 0]  # NIfTI (col, row, slice) for both, as the affines say
    np.testing.assert_array_equal(reference, radseg.dicom.read_nifti_onto(folder / "body_mask_BODY.nii.gz", vol) != 0)
    body = masks["BODY"]
    for s in range(vol.shape[0]):
        dice = 2 * np.sum(body[s] & reference[s]) / (body[s].sum() + reference[s].sum())
        assert dice >= dice_min, (case, s, dice)
        assert np.sum(body[s] ^ reference[s]) <= 2  # measured: 1 pixel on one visible-human slice, else 0
    inside, outside = vol.array[body].mean(), vol.array[~body].mean()
    assert inside > -100 and outside < -800, (inside, outside)  # the body is tissue, the rest air
    rtroi = [w for w in caught if issubclass(w.category, RtstructWarning)]
    if off:  # one CT slice of 98 contoured planes: the other planes' contours lie on no slice, and are named
        assert len(rtroi) == 1 and f"'BODY' ({off})" in str(rtroi[0].message)
        assert "437 of 441 contours" in str(rtroi[0].message)
    else:
        assert not rtroi and masks["SpinalCord"].any()


# ------------------------------------------------------------------------------------------------ bad input
def test_bad_masks_say_what_is_wrong(volume, tmp_path):
    good = np.zeros(volume.shape, bool)
    cases = [
        ({}, "non-empty dict"),
        ({"BODY": good[:-1]}, r"shape \(4, 40, 36\), the volume is \(5, 40, 36\)"),
        ({"BODY": good.astype(np.float32)}, "must be bool"),
        ({"BODY": np.full(volume.shape, 2, np.uint8)}, "split a label map"),
        ({"": good}, "non-empty ROI names"),
        ({"x" * 65: good}, "at most 64 characters"),
        ({"left\\right": good}, "backslashes"),
    ]
    for masks, message in cases:
        with pytest.raises(ValueError, match=message):
            radseg.dicom.write_rtstruct(volume, masks, tmp_path / "rs.dcm")
    with pytest.raises(ValueError, match="RTROIInterpretedType"):
        radseg.dicom.write_rtstruct(volume, {"BODY": good}, tmp_path / "rs.dcm", roi_types={"BODY": "SKIN"})
    with pytest.raises(ValueError, match="does not have"):
        radseg.dicom.write_rtstruct(volume, {"BODY": good}, tmp_path / "rs.dcm", colors={"liver": (1, 2, 3)})
    with pytest.raises(ValueError, match="three integers 0..255"):
        radseg.dicom.write_rtstruct(volume, {"BODY": good}, tmp_path / "rs.dcm", colors={"BODY": (0, 0, 256)})
    with pytest.raises(TypeError, match="radseg.dicom.Volume"):
        radseg.dicom.write_rtstruct(volume.array, {"BODY": good}, tmp_path / "rs.dcm")
    assert list(tmp_path.iterdir()) == [tmp_path / "ct"]
    # 0/1 integers are a mask.
    radseg.dicom.write_rtstruct(volume, {"BODY": good.astype(np.uint8)}, tmp_path / "rs.dcm")


def test_a_nifti_volume_cannot_be_referenced(volume, tmp_path):
    radseg.dicom.write_nifti(volume, tmp_path / "ct.nii.gz")
    nvol = radseg.dicom.read_nifti(tmp_path / "ct.nii.gz")
    with pytest.raises(RtstructError, match="no DICOM source instances"):
        radseg.dicom.write_rtstruct(nvol, {"BODY": np.ones(nvol.shape, bool)}, tmp_path / "rs.dcm")


def test_reading_files_that_are_not_this_series_structure_set(volume, tmp_path):
    (tmp_path / "notes.dcm").write_text("not DICOM\n")
    with pytest.raises(RtstructError, match="not a DICOM file"):
        radseg.dicom.read_rtstruct(tmp_path / "notes.dcm", volume)
    with pytest.raises(RtstructError, match="not an RT Structure Set .Modality 'CT'"):
        radseg.dicom.read_rtstruct(volume.files[0], volume)
    radseg.dicom.write_seg(volume, {"liver": np.ones(volume.shape, bool)}, tmp_path / "seg.dcm")
    with pytest.raises(RtstructError, match="Modality 'SEG'"):
        radseg.dicom.read_rtstruct(tmp_path / "seg.dcm", volume)
    # Same grid, another frame of reference.
    synthetic.write_series(tmp_path / "other", volume.array, spacing=volume.spacing, shuffle_seed=None)
    other = radseg.dicom.read_series(tmp_path / "other")
    masks = {"BODY": _hard_masks(volume.shape)["BODY"]}
    radseg.dicom.write_rtstruct(other, masks, tmp_path / "rs.dcm")
    with pytest.raises(RtstructError, match="frame of reference .* the volume's is"):
        radseg.dicom.read_rtstruct(tmp_path / "rs.dcm", volume)
    back = radseg.dicom.read_rtstruct(tmp_path / "rs.dcm", volume, check_frame_of_reference=False)
    np.testing.assert_array_equal(back["BODY"], masks["BODY"])


def test_contours_off_every_slice_are_counted_in_one_warning(volume, tmp_path):
    masks = {"BODY": _hard_masks(volume.shape)["BODY"]}
    path = radseg.dicom.write_rtstruct(volume, masks, tmp_path / "rs.dcm")
    ds = pydicom.dcmread(path)
    contours = ds.ROIContourSequence[0].ContourSequence
    normal = volume.slice_normal
    for contour in list(contours)[:2]:  # move two contours half a slice along the normal
        points = np.array(contour.ContourData, float).reshape(-1, 3) + 0.5 * volume.spacing[0] * normal
        contour.ContourData = [f"{v:.6f}" for v in points.ravel()]
    contours[2].ContourGeometricType = "POINT"
    ds.save_as(path)
    with pytest.warns(RtstructWarning) as caught:
        back = radseg.dicom.read_rtstruct(path, volume)
    text = " ".join(str(w.message) for w in caught)
    assert f"2 of {len(contours)} contours lie on no slice" in text and "'BODY' (2)" in text
    assert "1 contours are not closed planar" in text
    assert back["BODY"].sum() < masks["BODY"].sum()
    # A wide enough tolerance takes them back (onto the nearest plane).
    with pytest.warns(RtstructWarning, match="not closed planar"):
        radseg.dicom.read_rtstruct(path, volume, tolerance_mm=0.5 * volume.spacing[0] + 0.01)
    with pytest.raises(ValueError, match="tolerance_mm"):
        radseg.dicom.read_rtstruct(path, volume, tolerance_mm=-1)
