"""`radseg body points` through the real console script: the outline of a NIfTI, SEG or RTSTRUCT mask of the
series as PLY, identical whichever file holds the mask; mistakes are one line with the documented exit code."""
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

import radseg
from radseg.body.points import outline_points
from radseg.dicom import synthetic
from tests.conftest import shared_data

plyfile = pytest.importorskip("plyfile")
pytest.importorskip("pydicom")
pytest.importorskip("nibabel")
pytestmark = pytest.mark.filterwarnings("ignore:no anatomy code known:radseg.errors.RadsegWarning")


def radseg_script() -> str:
    script = pathlib.Path(sys.executable).with_name("radseg")
    found = str(script) if script.is_file() else shutil.which("radseg")
    if not found:
        pytest.fail("the radseg console script is not installed beside this Python; install with pip install -e .")
    return found


def run(*args):
    env = {k: v for k, v in os.environ.items() if k != "RADSEG_DEBUG"}
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.run([radseg_script(), *map(str, args)], capture_output=True, text=True, env=env, timeout=120,
                          stdin=subprocess.DEVNULL)


def ply_points(path):
    vertex = plyfile.PlyData.read(str(path))["vertex"]
    return np.stack([vertex["x"], vertex["y"], vertex["z"]], axis=1)


def one_line_error(proc, code, *fragments):
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("radseg body points: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    """An oblique synthetic CT, its body mask (with a hole) and that mask as NIfTI, SEG and RTSTRUCT."""
    d = tmp_path_factory.mktemp("body_cli")
    iop = (0.96, 0.28, 0.0, 0.0, 0.0, -1.0)  # coronal-ish and oblique
    synthetic.write_series(d / "ct", synthetic.phantom((4, 32, 30), seed=3), spacing=(3.0, 0.8, 0.9),
                           orientation=iop)
    vol = radseg.dicom.read_series(d / "ct")
    mask = vol.array > -500
    mask[:, 14:17, 13:16] = False
    radseg.dicom.write_nifti(vol.with_array(mask.astype(np.uint8)), d / "mask.nii.gz")
    radseg.dicom.write_seg(vol, {"body": mask}, d / "seg.dcm")
    radseg.dicom.write_rtstruct(vol, {"BODY": mask, "bone": vol.array > 300}, d / "rs.dcm")
    radseg.dicom.write_rtstruct(vol, {"a": mask, "b": mask}, d / "two.dcm")
    return d, vol, mask


@pytest.mark.parametrize("mask_file", ["mask.nii.gz", "seg.dcm", "rs.dcm"])
def test_points_of_a_mask_file(series, tmp_path, mask_file):
    d, vol, mask = series
    proc = run("body", "points", d / "ct", "--out", tmp_path / "body.ply", "--mask", d / mask_file)
    assert proc.returncode == 0, proc.stderr
    expected = outline_points(vol, mask)
    assert f"wrote {tmp_path / 'body.ply'}: {len(expected)} outline points on 4 of 4 slices" in proc.stdout
    np.testing.assert_array_equal(ply_points(tmp_path / "body.ply"), expected.astype(np.float32))


def test_points_of_a_clinical_rtstruct(tmp_path):
    folder = shared_data("body_refs", "rtstruct_ct", "visible_human", "dicom")
    proc = run("body", "points", folder, "--out", tmp_path / "vh.ply", "--mask", folder / "RS_Body_SpinalCord.dcm")
    assert proc.returncode == 0, proc.stderr
    vol = radseg.dicom.read_series(folder)
    body = radseg.dicom.read_rtstruct(folder / "RS_Body_SpinalCord.dcm", vol)["BODY"]
    np.testing.assert_array_equal(ply_points(tmp_path / "vh.ply"), outline_points(vol, body).astype(np.float32))
    proc = run("body", "points", folder, "--out", tmp_path / "cord.ply", "--mask", folder / "RS_Body_SpinalCord.dcm",
               "--roi", "SpinalCord")
    assert proc.returncode == 0, proc.stderr
    assert 0 < len(ply_points(tmp_path / "cord.ply")) < len(ply_points(tmp_path / "vh.ply"))


def test_mistakes_are_one_line_errors(series, tmp_path):
    d, vol, _ = series
    out = tmp_path / "x.ply"
    one_line_error(run("body", "points", d / "ct", "--out", out, "--mask", vol.files[0]), 1,
                   "a DICOM CT, not a SEG or RTSTRUCT")
    one_line_error(run("body", "points", d / "ct", "--out", out, "--mask", d / "missing.nii.gz"), 1, "no such file")
    one_line_error(run("body", "points", d / "ct", "--out", out, "--mask", d / "two.dcm"), 2, "--roi NAME")
    one_line_error(run("body", "points", d / "ct", "--out", out, "--mask", d / "rs.dcm", "--roi", "liver"), 2,
                   "BODY, bone")
    one_line_error(run("body", "points", d / "ct", "--out", out, "--roi", "BODY"), 2, "--mask")
    one_line_error(run("body", "points", d / "ct", "--out", tmp_path / "x.txt", "--mask", d / "rs.dcm"), 2, ".ply")
    one_line_error(run("body", "points", d / "ct", "--mask", d / "rs.dcm"), 2, "--out")
    # Without --mask the body model segments; a model that cannot be loaded is a clean error too.
    one_line_error(run("body", "points", d / "ct", "--out", out, "--model", tmp_path / "no_model"), 1, "--model")
    assert not out.exists()


def test_a_structure_set_of_another_series_is_refused(series, tmp_path):
    d, _, _ = series
    breast = shared_data("body_refs", "rtstruct_ct", "breast_dicompyler", "rtss.dcm")
    one_line_error(run("body", "points", d / "ct", "--out", tmp_path / "x.ply", "--mask", breast), 1,
                   "frame of reference")


def test_an_empty_mask_writes_an_empty_cloud_and_says_so(series, tmp_path):
    d, vol, _ = series
    radseg.dicom.write_nifti(vol.with_array(np.zeros(vol.shape, np.uint8)), tmp_path / "empty.nii.gz")
    proc = run("body", "points", d / "ct", "--out", tmp_path / "e.ply", "--mask", tmp_path / "empty.nii.gz")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == ("radseg body points: warning: the body mask is empty on every slice: the point "
                                   "cloud has no points")
    assert ply_points(tmp_path / "e.ply").shape == (0, 3)
