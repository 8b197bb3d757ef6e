"""Bad input: every error names the file and the problem, and the other files stay readable."""
import os

import pytest

import radseg
from radseg.dicom import DicomFileError, SeriesError, synthetic

pydicom = pytest.importorskip("pydicom")


@pytest.fixture
def series(tmp_path):
    folder = tmp_path / "ct"
    paths = synthetic.write_series(folder, synthetic.phantom((5, 16, 16)), shuffle_seed=None)
    return folder, paths


def _edit(path, fn):
    ds = pydicom.dcmread(path)
    fn(ds)
    ds.save_as(path)


def _read_skipping(folder, **kw):
    with pytest.warns(radseg.dicom.DicomGeometryWarning, match="skipped unreadable file"):
        return radseg.dicom.read_series(folder, errors="skip", **kw)


@pytest.mark.parametrize("cut,problem", [(-100, "truncated"), (400, "no pixel data")])
def test_truncated_file(series, cut, problem):
    folder, paths = series
    size = os.path.getsize(paths[-1])
    with open(paths[-1], "r+b") as f:
        f.truncate(size + cut if cut < 0 else cut)
    with pytest.raises(DicomFileError, match=problem) as info:
        radseg.dicom.read_series(folder)
    assert info.value.path == paths[-1]
    assert _read_skipping(folder).shape == (4, 16, 16)


def test_non_dicom_file_named_explicitly(series, tmp_path):
    _, paths = series
    junk = tmp_path / "notes.dcm"
    junk.write_bytes(b"hello" * 100)
    with pytest.raises(DicomFileError, match="not a DICOM file") as info:
        radseg.dicom.read_series(paths + [str(junk)])
    assert info.value.path == str(junk)
    assert radseg.dicom.read_series(paths).shape[0] == 5


def test_missing_pixel_data(series):
    folder, paths = series
    _edit(paths[0], lambda ds: ds.__delattr__("PixelData"))
    with pytest.raises(DicomFileError, match="no pixel data") as info:
        radseg.dicom.read_series(folder)
    assert info.value.path == paths[0]
    assert _read_skipping(folder).shape[0] == 4


@pytest.mark.parametrize("tag", ["ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing"])
def test_missing_geometry_tag(series, tag):
    folder, paths = series
    _edit(paths[-1], lambda ds: ds.__delattr__(tag))
    with pytest.raises(DicomFileError, match=f"missing geometry tag {tag}") as info:
        radseg.dicom.read_series(folder)
    assert info.value.path == paths[-1]
    assert _read_skipping(folder).shape[0] == 4


def test_broken_orientation_values(series):
    folder, paths = series

    def fn(ds):
        ds.ImageOrientationPatient = [1, 0, 0, 1, 0, 0]

    _edit(paths[2], fn)
    with pytest.raises(DicomFileError, match="orthogonal unit vectors"):
        radseg.dicom.read_series(folder)


def test_inconsistent_rows_and_columns(series, tmp_path):
    folder, paths = series
    other = synthetic.write_series(tmp_path / "small", synthetic.phantom((1, 8, 16)))[0]
    ds = pydicom.dcmread(other)
    ref = pydicom.dcmread(paths[0], stop_before_pixels=True)
    ds.SeriesInstanceUID, ds.ImagePositionPatient = ref.SeriesInstanceUID, [-100, -120, 50]
    ds.save_as(folder / "odd.dcm")
    with pytest.raises(SeriesError, match=r"image size.*\(8, 16\) in 1 slice\(s\) \(e\.g\. .*odd\.dcm\)"):
        radseg.dicom.read_series(folder)
    assert radseg.dicom.read_series(paths).shape == (5, 16, 16)


def test_mixed_orientations_in_one_series(series):
    folder, paths = series

    def fn(ds):
        ds.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]

    _edit(paths[1], fn)
    with pytest.raises(SeriesError, match="inconsistent ImageOrientationPatient.*IM0002"):
        radseg.dicom.read_series(folder)


def test_paths_and_arguments(tmp_path, series):
    folder, paths = series
    with pytest.raises(FileNotFoundError, match="does not exist"):
        radseg.dicom.read_series(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DicomFileError, match="no DICOM files"):
        radseg.dicom.read_series(tmp_path / "empty")
    with pytest.raises(ValueError, match="empty list"):
        radseg.dicom.read_series([])
    with pytest.raises(ValueError, match="uneven must be"):
        radseg.dicom.read_series(folder, uneven="maybe")
    with pytest.raises(ValueError, match="errors must be"):
        radseg.dicom.read_series(folder, errors="ignore")
    with pytest.raises(TypeError, match="folder, a file, or a list"):
        radseg.dicom.read_series(42)


def test_a_seg_named_explicitly_is_not_an_image(tmp_path, series):
    folder, paths = series
    vol = radseg.dicom.read_series(folder)
    seg = radseg.dicom.write_seg(vol, {"body": vol.array > -500}, tmp_path / "seg.dcm")
    with pytest.raises(DicomFileError, match="not an image"):
        radseg.dicom.read_series(paths + [seg])
    os.replace(seg, folder / "seg.dcm")  # inside the folder it is skipped
    assert radseg.dicom.read_series(folder).shape[0] == 5
