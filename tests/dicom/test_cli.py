"""`radseg dicom info` and `radseg dicom to-nifti`, run as a user would (subprocess)."""
import json
import subprocess
import sys

import numpy as np
import pytest

from radseg.dicom import synthetic

nib = pytest.importorskip("nibabel")


def _radseg(*args):
    return subprocess.run([sys.executable, "-m", "radseg", "dicom", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    synthetic.write_series(root / "ct", synthetic.phantom((4, 20, 18)), spacing=(3.0, 0.5, 0.6), series_uid="1.2.3.9")
    return root / "ct"


def test_info_json(folder):
    proc = _radseg("info", str(folder), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["series"][0]["series_uid"] == "1.2.3.9" and out["series"][0]["files"] == 4
    vol = out["volume"]
    assert vol["shape"] == [4, 20, 18] and vol["spacing_mm"] == [3.0, 0.5, 0.6] and vol["regular"] is True
    assert vol["origin_lps_mm"] == [-100.0, -120.0, -50.0] and vol["modality"] == "CT"


def test_info_text_and_errors(folder, tmp_path):
    proc = _radseg("info", str(folder))
    assert proc.returncode == 0 and "spacing [3.0, 0.5, 0.6] mm" in proc.stdout
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"x" * 300)
    proc = _radseg("info", str(bad))
    assert proc.returncode == 1 and "bad.dcm" in proc.stderr and "not a DICOM file" in proc.stderr


def test_to_nifti(folder, tmp_path):
    out = tmp_path / "ct.nii.gz"
    proc = _radseg("to-nifti", str(folder), str(out))
    assert proc.returncode == 0, proc.stderr
    img = nib.load(out)
    assert img.shape == (18, 20, 4)
    np.testing.assert_allclose(np.abs(np.diag(img.affine))[:3], [0.6, 0.5, 3.0], atol=1e-6)


def test_info_skips_a_virtual_environment_and_says_so(folder, tmp_path):
    """`radseg dicom info .` in a checkout: the series is described, pydicom's test files inside .venv are not
    taken for more series, and the output says which folders were skipped."""
    import shutil

    from pydicom.data import get_testdata_file

    shutil.copytree(folder, tmp_path / "ct")
    venv = tmp_path / ".venv"
    (venv / "lib").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    shutil.copy(get_testdata_file("CT_small.dcm"), venv / "lib" / "CT_small.dcm")
    proc = _radseg("info", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("series ") == 1 and "1.2.3.9" in proc.stdout
    assert "skipped 1 hidden or virtual-environment folder" in proc.stdout and ".venv" in proc.stdout


def test_to_nifti_refuses_other_file_names_before_reading(folder, tmp_path):
    proc = _radseg("to-nifti", str(folder), str(tmp_path / "ct.nrrd"))
    assert proc.returncode == 2 and ".nii or .nii.gz" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "ct.nrrd").exists()
