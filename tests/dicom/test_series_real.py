"""read_series on real series from ../shared/data (skipped with a reason when absent) and on pydicom's bundled
files (always available)."""
import json

import numpy as np
import pytest

import radseg
from tests.conftest import shared_data
from tests.dicom._nrrd import read_nrrd

pydicom = pytest.importorskip("pydicom")
nib = pytest.importorskip("nibabel")


def test_totalseg_jpeg2000_ct_lines_up_with_its_label_map():
    folder = shared_data("totalseg", "example_ct_dicom")
    vol = radseg.dicom.read_series(folder)
    assert vol.shape == (20, 512, 512) and vol.modality == "CT" and vol.array.dtype == np.int16
    np.testing.assert_allclose(vol.spacing, (2.0, 0.9765625, 0.9765625), atol=1e-6)
    # Sorted along the normal (ascending z), not by file name or InstanceNumber.
    z = vol.slice_positions[:, 2]
    assert np.all(np.diff(z) > 0) and z[0] == pytest.approx(-804.5)
    labels = radseg.dicom.read_nifti_onto(shared_data("totalseg", "example_seg_dicom.nii.gz"), vol)
    ids = {name: int(k) for k, name in json.loads((folder.parent / "labels.json").read_text())["total"].items()}
    # Mean HU inside the labels, as SOURCE.txt states them.
    expected = {"liver": 89, "spleen": 80, "aorta": 177, "vertebrae_T12": 267, "stomach": -56}
    for name, hu in expected.items():
        inside = labels == ids[name]
        assert inside.sum() > 1000, name
        assert float(vol.array[inside].mean()) == pytest.approx(hu, abs=1.0), name


def test_dcmqi_ct_sorted_by_position_with_hu():
    folder = shared_data("dcmqi", "data", "segmentations", "ct-3slice")
    vol = radseg.dicom.read_series(folder)
    assert [p.rsplit("/", 1)[-1] for p in vol.files] == ["03.dcm", "02.dcm", "01.dcm"]  # SOURCE: nrrd k=0 <-> 03
    raw = pydicom.dcmread(folder / "02.dcm")
    np.testing.assert_array_equal(vol.array[1], raw.pixel_array.astype(np.int32) * int(raw.RescaleSlope)
                                  + int(raw.RescaleIntercept))
    label, affine = read_nrrd(folder.parent / "liver_seg.nrrd")
    np.testing.assert_allclose(affine, vol.affine[:, [2, 1, 0, 3]], atol=1e-4)  # nrrd (i, j, k) = (col, row, slice)


def test_oblique_mr_geometry_follows_its_headers():
    folder = shared_data("dcmqi_adc_mr", "701-ADCb500")
    vol = radseg.dicom.read_series(folder)
    assert vol.shape == (20, 256, 256) and vol.is_regular
    for s in (0, 7, 19):
        ds = pydicom.dcmread(vol.files[s], stop_before_pixels=True)
        iop = np.array(ds.ImageOrientationPatient, float)
        ipp = np.array(ds.ImagePositionPatient, float)
        ps = np.array(ds.PixelSpacing, float)
        r, c = 100, 37
        want = ipp + iop[:3] * ps[1] * c + iop[3:] * ps[0] * r  # PS3.3 C.7.6.2.1.1
        np.testing.assert_allclose(vol.voxel_to_patient([s, r, c]), want, atol=0.01)
        np.testing.assert_allclose(vol.patient_to_voxel(want), [s, r, c], atol=0.01)
        np.testing.assert_array_equal(vol.array[s], ds.pixel_array if hasattr(ds, "PixelData") else
                                      pydicom.dcmread(vol.files[s]).pixel_array)
    assert np.abs(vol.direction[:, 1] - [0, 1, 0]).max() > 0.1  # really oblique


D2N_CASES = ["ge/anatomical", "generic/compressed_j2k", "philips/anatomical", "siemens/anatomical", "hitachi/anatomical"]


@pytest.mark.parametrize("case", D2N_CASES)
@pytest.mark.parametrize("reference", ["001_ground_truth.nii.gz", "001_ground_truth_reoriented.nii.gz"])
def test_dicom2nifti_geometry_cases_match_reference_nifti(case, reference):
    base = shared_data("dicom2nifti", "tests", "data", *case.split("/"))
    vol = radseg.dicom.read_series(base / "001")
    ref = nib.load(base / reference)
    # Orientation and spacing: both affines brought to the closest canonical (RAS) layout must agree...
    ours = nib.as_closest_canonical(radseg.dicom.to_nifti(vol))
    theirs = nib.as_closest_canonical(ref)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours.affine, theirs.affine, atol=1e-3)
    # ...and every voxel must land where dicom2nifti put it (pixels are noise, so any flip would show).
    np.testing.assert_array_equal(np.asarray(ours.dataobj).astype(np.int64), np.asarray(theirs.dataobj).astype(np.int64))
    on_grid = radseg.dicom.read_nifti_onto(base / reference, vol)
    np.testing.assert_array_equal(on_grid.astype(np.int64), vol.array.astype(np.int64))


def test_gantry_tilt_is_kept_exactly_and_reported():
    folder = shared_data("dicom2nifti", "tests", "data", "failing", "gantrytilting", "001")
    with pytest.warns(radseg.dicom.DicomGeometryWarning, match="gantry tilt"):
        vol = radseg.dicom.read_series(folder)
    assert vol.tilt_deg == pytest.approx(14.0, abs=0.05) and vol.is_regular
    for s, path in enumerate(vol.files):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        np.testing.assert_allclose(vol.voxel_to_patient([s, 0, 0]), np.array(ds.ImagePositionPatient, float), atol=1e-3)
        iop = np.array(ds.ImageOrientationPatient, float)
        np.testing.assert_allclose(vol.voxel_to_patient([s, 10, 0]) - vol.voxel_to_patient([s, 0, 0]),
                                   iop[3:] * 10 * float(ds.PixelSpacing[0]), atol=1e-6)


def test_multiframe_equals_its_single_frame_source():
    base = shared_data("dcmqi", "data", "segmentations", "24x38x3")
    mf = radseg.dicom.read_series(base / "multiframe" / "mf.dcm")
    single = radseg.dicom.read_series(base / "image")
    np.testing.assert_array_equal(mf.array, single.array)
    np.testing.assert_allclose(mf.affine, single.affine, atol=1e-6)
    assert mf.frame_numbers == (3, 2, 1) or sorted(mf.frame_numbers) == [1, 2, 3]
    assert len(mf.source_headers) == 1


def test_a_folder_with_non_image_objects_reads_the_image_series():
    # sr-example holds a SEG, an SR and a RWVM: no image series at all.
    with pytest.raises(radseg.dicom.SeriesError, match="no readable image"):
        radseg.dicom.read_series(shared_data("dcmqi", "data", "sr-example"))


# --------------------------------------------------------------------------- pydicom's bundled files (fresh clone)
def test_pydicom_bundled_ct_single_slice():
    from pydicom.data import get_testdata_file

    path = get_testdata_file("CT_small.dcm")
    vol = radseg.dicom.read_series(path)
    ds = pydicom.dcmread(path)
    assert vol.shape == (1, int(ds.Rows), int(ds.Columns))
    np.testing.assert_array_equal(vol.array[0], ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept))
    assert vol.spacing[0] == pytest.approx(float(ds.SliceThickness))
    np.testing.assert_allclose(vol.origin, np.array(ds.ImagePositionPatient, float))


def test_pydicom_bundled_mr_round_trips_through_nifti(tmp_path):
    from pydicom.data import get_testdata_file

    vol = radseg.dicom.read_series(get_testdata_file("MR_small.dcm"))
    out = radseg.dicom.write_nifti(vol, tmp_path / "mr.nii.gz")
    back = radseg.dicom.read_nifti(out)
    np.testing.assert_array_equal(back.array, vol.array)
    np.testing.assert_allclose(back.affine, vol.affine, atol=1e-4)


@pytest.mark.parametrize("variant", ["MR_small_RLE.dcm", "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm",
                                     "MR_small_bigendian.dcm", "MR_small_implicit.dcm"])
def test_pydicom_bundled_transfer_syntaxes_decode_to_the_same_pixels(variant):
    from pydicom.data import get_testdata_file

    reference = radseg.dicom.read_series(get_testdata_file("MR_small.dcm"))
    path = get_testdata_file(variant)
    ts = pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID
    if ts.is_compressed and not pydicom.pixels.get_decoder(ts).is_available:
        pytest.skip(f"no decoder for {ts.name} here: install radseg[dicom] (pylibjpeg, pyjpegls)")
    vol = radseg.dicom.read_series(path)
    np.testing.assert_array_equal(vol.array, reference.array)
    np.testing.assert_allclose(vol.affine, reference.affine)
