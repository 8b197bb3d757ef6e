"""NIfTI in and out: the dcm2niix/dicom2nifti layout, checked with nibabel's own affine arithmetic."""
import numpy as np
import pytest

import radseg
from radseg.dicom import DicomError, Volume

nib = pytest.importorskip("nibabel")


def _oblique_volume(shape=(5, 7, 6)):
    x = np.array([0.8660254, 0.5, 0.0])
    y = np.array([-0.1830127, 0.3169873, -0.9306049])
    y = y - x * (x @ y)
    y /= np.linalg.norm(y)
    arr = np.random.default_rng(0).integers(-1000, 1000, size=shape).astype(np.int16)
    return Volume(arr, spacing=(2.5, 0.7, 0.9), origin=(-10.0, 20.0, 5.0), direction=np.stack([np.cross(x, y), y, x], 1))


def test_layout_and_affine_follow_dcm2niix(tmp_path):
    vol = _oblique_volume()
    path = radseg.dicom.write_nifti(vol, tmp_path / "v.nii.gz")
    img = nib.load(path)
    data = np.asarray(img.dataobj)
    assert data.shape == (6, 7, 5)  # (i, j, k) = (col, row, slice)
    s, r, c = 3, 2, 4
    assert data[c, r, s] == vol.array[s, r, c]
    ras = nib.affines.apply_affine(img.affine, [c, r, s])
    np.testing.assert_allclose([-ras[0], -ras[1], ras[2]], vol.voxel_to_patient([s, r, c]), atol=1e-4)
    assert int(img.header["sform_code"]) == 1 and int(img.header["qform_code"]) == 1


def test_round_trip(tmp_path):
    vol = _oblique_volume()
    back = radseg.dicom.read_nifti(radseg.dicom.write_nifti(vol, tmp_path / "v.nii"))
    np.testing.assert_array_equal(back.array, vol.array)
    np.testing.assert_allclose(back.affine, vol.affine, atol=1e-4)
    assert back.array.dtype == np.int16
    mask = vol.array > 0
    labels = radseg.dicom.read_nifti(radseg.dicom.write_nifti(vol, tmp_path / "m.nii.gz", mask))
    np.testing.assert_array_equal(labels.array, mask.astype(np.uint8))


@pytest.mark.parametrize("ornt", [[[0, -1], [1, 1], [2, 1]], [[2, 1], [0, -1], [1, -1]], [[1, 1], [2, -1], [0, 1]]])
def test_read_onto_undoes_any_axis_order_and_flip(tmp_path, ornt):
    vol = _oblique_volume()
    img = radseg.dicom.to_nifti(vol)
    other = img.as_reoriented(np.array(ornt, dtype=float))
    assert not np.allclose(other.affine, img.affine)
    nib.save(other, tmp_path / "o.nii.gz")
    np.testing.assert_array_equal(radseg.dicom.read_nifti_onto(tmp_path / "o.nii.gz", vol), vol.array)


def test_read_onto_refuses_grids_that_need_resampling(tmp_path):
    vol = _oblique_volume()
    img = radseg.dicom.to_nifti(vol)
    shifted = img.affine.copy()
    shifted[:3, 3] += img.affine[:3, 0] * 0.5  # half a column
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj), shifted), tmp_path / "half.nii.gz")
    with pytest.raises(DicomError, match="fraction of a voxel"):
        radseg.dicom.read_nifti_onto(tmp_path / "half.nii.gz", vol)
    scaled = img.affine.copy()
    scaled[:3, :3] *= 2
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj), scaled), tmp_path / "big.nii.gz")
    with pytest.raises(DicomError, match="resample"):
        radseg.dicom.read_nifti_onto(tmp_path / "big.nii.gz", vol)
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj)[:, :, :3], img.affine), tmp_path / "short.nii.gz")
    with pytest.raises(DicomError, match="does not cover"):
        radseg.dicom.read_nifti_onto(tmp_path / "short.nii.gz", vol)


def test_tilted_volume_keeps_its_shear_in_the_sform(tmp_path):
    x, y = np.array([1.0, 0, 0]), np.array([0, np.cos(0.2), -np.sin(0.2)])
    vol = Volume(np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6), spacing=(5.0, 0.5, 0.6), origin=(1, 2, 3),
                 direction=np.stack([np.array([0, 0, 1.0]), y, x], 1))
    img = nib.load(radseg.dicom.write_nifti(vol, tmp_path / "t.nii.gz"))
    assert int(img.header["qform_code"]) == 0 and int(img.header["sform_code"]) == 1
    back = radseg.dicom.read_nifti(tmp_path / "t.nii.gz")
    np.testing.assert_allclose(back.affine, vol.affine, atol=1e-5)
    assert back.tilt_deg == pytest.approx(vol.tilt_deg, abs=1e-3)


def test_bad_arguments(tmp_path):
    vol = _oblique_volume()
    with pytest.raises(ValueError, match="shape"):
        radseg.dicom.write_nifti(vol, tmp_path / "x.nii", np.zeros((2, 2, 2)))
    with pytest.raises(TypeError, match="Volume"):
        radseg.dicom.to_nifti(np.zeros((2, 2, 2)))
    nib.save(nib.Nifti1Image(np.zeros((2, 2, 2, 3), np.float32), np.eye(4)), tmp_path / "4d.nii")
    with pytest.raises(DicomError, match="3D"):
        radseg.dicom.read_nifti(tmp_path / "4d.nii")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["4d.nii"]  # nothing half-written


@pytest.mark.parametrize("name", ["v.nrrd", "v", "v.nii.gz.bak", "v.gz", "v.mha"])
def test_write_nifti_refuses_other_endings_before_writing(tmp_path, name):
    with pytest.raises(ValueError, match=r"must end in \.nii or \.nii\.gz.*use \.nii or \.nii\.gz"):
        radseg.dicom.write_nifti(_oblique_volume(), tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_write_nifti_accepts_upper_case_endings(tmp_path):
    vol = _oblique_volume()
    back = radseg.dicom.read_nifti(radseg.dicom.write_nifti(vol, tmp_path / "V.NII.GZ"))
    np.testing.assert_array_equal(back.array, vol.array)
