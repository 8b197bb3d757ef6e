"""Folder scans skip hidden folders and Python virtual environments (a checkout's .git, .venv), and say so."""
import shutil

import numpy as np
import pytest

import radseg
from radseg.dicom import synthetic
from radseg.errors import RadsegWarning

pydicom = pytest.importorskip("pydicom")


@pytest.fixture
def checkout(tmp_path):
    """A folder like a project checkout: one series, plus pydicom test files in tool folders that must be skipped."""
    from pydicom.data import get_testdata_file

    phantom = synthetic.phantom((4, 20, 16), seed=7)
    synthetic.write_series(tmp_path / "data" / "ct", phantom)
    ct_small, mr_small = get_testdata_file("CT_small.dcm"), get_testdata_file("MR_small.dcm")
    venv = tmp_path / ".venv" / "lib" / "site-packages" / "pydicom" / "data"
    venv.mkdir(parents=True)
    (tmp_path / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    shutil.copy(ct_small, venv / "CT_small.dcm")
    plain_venv = tmp_path / "env"  # a virtual environment without a leading dot
    (plain_venv / "lib").mkdir(parents=True)
    (plain_venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    shutil.copy(mr_small, plain_venv / "lib" / "MR_small.dcm")
    for name in (".hidden", "__pycache__", "node_modules", "data/.cache"):
        (tmp_path / name).mkdir(parents=True)
        shutil.copy(mr_small, tmp_path / name / "MR_small.dcm")
    return tmp_path, phantom


def test_read_series_reads_just_the_series_and_reports_the_skipped_folders(checkout):
    root, phantom = checkout
    with pytest.warns(RadsegWarning, match=r"skipped 6 hidden or virtual-environment folder\(s\)"):
        vol = radseg.dicom.read_series(root)
    np.testing.assert_array_equal(vol.array, phantom)
    skipped = sorted(p[len(str(root)) + 1:] for p in vol.metadata["skipped_folders"])
    assert skipped == [".hidden", ".venv", "__pycache__", "data/.cache", "env", "node_modules"]
    (note,) = [w for w in vol.warnings if w.startswith("skipped 6")]
    assert ".venv" in note and "env" in note
    assert [s["files"] for s in radseg.dicom.list_series(root)] == [4]


def test_a_hidden_folder_named_explicitly_is_read(checkout):
    root, _ = checkout
    vol = radseg.dicom.read_series(root / ".hidden")
    assert vol.shape == (1, 64, 64) and vol.metadata["skipped_folders"] == []


def test_a_folder_with_only_skipped_folders_says_so(tmp_path):
    from pydicom.data import get_testdata_file

    (tmp_path / ".venv").mkdir()
    shutil.copy(get_testdata_file("CT_small.dcm"), tmp_path / ".venv" / "CT_small.dcm")
    with pytest.raises(radseg.dicom.DicomFileError, match=r"no DICOM files.*1 hidden or tool folders skipped.*\.venv"):
        radseg.dicom.read_series(tmp_path)
