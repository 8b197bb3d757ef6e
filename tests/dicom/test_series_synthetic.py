"""read_series on synthetic series with known geometry: sorting, orientations, grouping, gaps (no shared data)."""
import os

import numpy as np
import pytest

import radseg
from radseg.dicom import MultipleSeriesError, SeriesError, synthetic

pydicom = pytest.importorskip("pydicom")


@pytest.fixture
def phantom():
    return synthetic.phantom((6, 24, 20), seed=3)


def _ipps(paths):
    return np.array([[float(v) for v in pydicom.dcmread(p, stop_before_pixels=True).ImagePositionPatient] for p in paths])


def test_sorts_by_position_not_by_instance_number_or_file_name(tmp_path, phantom):
    paths = synthetic.write_series(tmp_path, phantom, shuffle_seed=7)
    names = [os.path.basename(p) for p in paths]
    assert names != sorted(names)  # the shuffle really scrambled file names and InstanceNumbers
    vol = radseg.dicom.read_series(tmp_path)
    np.testing.assert_array_equal(vol.array, phantom)
    assert vol.files == tuple(paths)
    assert vol.array.dtype == np.int16 and vol.spacing == pytest.approx((2.0, 0.8, 0.8))


@pytest.mark.parametrize("iop", [
    (0, 1, 0, 0, 0, -1),  # sagittal
    (1, 0, 0, 0, 0, -1),  # coronal
    (0.8660254, 0.5, 0, -0.1830127, 0.3169873, -0.9306049),  # double oblique
    (-1, 0, 0, 0, -1, 0),  # axial, rotated 180 degrees (feet-first prone style)
])
def test_any_orientation_places_every_slice_at_its_header_position(tmp_path, phantom, iop):
    synthetic.write_series(tmp_path, phantom, orientation=iop, spacing=(3.0, 0.7, 0.9))
    vol = radseg.dicom.read_series(tmp_path)
    ipps = _ipps(vol.files)
    np.testing.assert_allclose(vol.voxel_to_patient(np.c_[np.arange(6), np.zeros((6, 2))]), ipps, atol=1e-4)
    x, y = np.array(iop[:3]), np.array(iop[3:])
    np.testing.assert_allclose(vol.voxel_to_patient([2, 5, 7]) - vol.voxel_to_patient([2, 0, 0]),
                               y * 0.7 * 5 + x * 0.9 * 7, atol=1e-4)
    assert np.all(np.diff(ipps @ vol.slice_normal) > 0)  # ascending along the normal
    np.testing.assert_array_equal(vol.array, phantom)


def test_missing_slice_is_an_error_that_says_where(tmp_path, phantom):
    paths = synthetic.write_series(tmp_path, phantom, shuffle_seed=None)
    os.remove(paths[3])
    with pytest.raises(SeriesError, match=r"about 1 slice\(s\) missing") as info:
        radseg.dicom.read_series(tmp_path)
    assert os.path.basename(paths[2]) in str(info.value) and os.path.basename(paths[4]) in str(info.value)
    with pytest.warns(radseg.dicom.DicomGeometryWarning, match="uneven"):
        vol = radseg.dicom.read_series(tmp_path, uneven="allow")
    assert vol.shape[0] == 5 and not vol.is_regular
    np.testing.assert_allclose(vol.voxel_to_patient(np.c_[np.arange(5), np.zeros((5, 2))]), _ipps(vol.files), atol=1e-6)
    np.testing.assert_allclose(vol.patient_to_voxel(_ipps(vol.files)), np.c_[np.arange(5), np.zeros((5, 2))], atol=1e-6)
    with pytest.raises(radseg.dicom.DicomError, match="uneven"):
        radseg.dicom.to_nifti(vol)


def test_uneven_steps_are_reported(tmp_path, phantom):
    z = np.array([0, 2, 4, 6.7, 8.7, 10.7])
    synthetic.write_series(tmp_path, phantom, slice_positions=np.c_[np.zeros(6), np.zeros(6), z])
    with pytest.raises(SeriesError, match="uneven slice spacing.*2.700 mm"):
        radseg.dicom.read_series(tmp_path)


def test_several_series_must_be_chosen(tmp_path, phantom):
    synthetic.write_series(tmp_path / "a", phantom, series_uid="1.2.3.4.1")
    synthetic.write_series(tmp_path / "b", phantom[:3] + 100, series_uid="1.2.3.4.2", modality="MR", intercept=0)
    with pytest.raises(MultipleSeriesError) as info:
        radseg.dicom.read_series(tmp_path)
    assert "1.2.3.4.1" in str(info.value) and "1.2.3.4.2" in str(info.value) and "series_uid=" in str(info.value)
    assert sorted(s["series_uid"] for s in radseg.dicom.list_series(tmp_path)) == ["1.2.3.4.1", "1.2.3.4.2"]
    vol = radseg.dicom.read_series(tmp_path, series_uid="1.2.3.4.2")
    assert vol.modality == "MR" and vol.shape[0] == 3
    np.testing.assert_array_equal(vol.array, phantom[:3] + 100)
    with pytest.raises(SeriesError, match="not found"):
        radseg.dicom.read_series(tmp_path, series_uid="9.9")


def test_two_stacks_at_the_same_positions_are_refused(tmp_path, phantom):
    synthetic.write_series(tmp_path / "e1", phantom, series_uid="1.2.3.5")
    synthetic.write_series(tmp_path / "e2", phantom, series_uid="1.2.3.5")
    with pytest.raises(SeriesError, match="share a position"):
        radseg.dicom.read_series(tmp_path)


def test_single_slice_spacing_comes_from_its_thickness_or_the_caller(tmp_path, phantom):
    (path,) = synthetic.write_series(tmp_path, phantom[:1], spacing=(1.5, 0.8, 0.8))
    assert radseg.dicom.read_series(path).spacing[0] == pytest.approx(1.5)
    ds = pydicom.dcmread(path)
    del ds.SliceThickness
    ds.save_as(path)
    with pytest.raises(SeriesError, match="slice_spacing="):
        radseg.dicom.read_series(path)
    assert radseg.dicom.read_series(path, slice_spacing=4.0).spacing[0] == 4.0


def test_rescale_slope_gives_float_output(tmp_path, phantom):
    paths = synthetic.write_series(tmp_path, phantom)
    for p in paths:
        ds = pydicom.dcmread(p)
        ds.RescaleSlope = "0.5"
        ds.save_as(p)
    vol = radseg.dicom.read_series(tmp_path)
    assert vol.array.dtype == np.float32
    np.testing.assert_allclose(vol.array, (phantom.astype(np.float64) + 1024) * 0.5 - 1024)


def test_readme_and_thumbnails_in_a_folder_are_ignored(tmp_path, phantom):
    synthetic.write_series(tmp_path, phantom)
    (tmp_path / "README.txt").write_text("not dicom")
    (tmp_path / "thumb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 200)
    assert radseg.dicom.read_series(tmp_path).shape == phantom.shape


def test_in_memory_datasets_read_like_files_and_stay_untouched(tmp_path, phantom):
    paths = synthetic.write_series(tmp_path, phantom)
    datasets = [pydicom.dcmread(p) for p in reversed(paths)]
    vol = radseg.dicom.read_series(datasets)
    np.testing.assert_array_equal(vol.array, phantom)
    assert all("PixelData" in ds for ds in datasets)  # the caller's datasets keep their pixels
    assert all("PixelData" not in h for h in vol.source_headers)
    assert vol.files[0].startswith("<dataset ")
