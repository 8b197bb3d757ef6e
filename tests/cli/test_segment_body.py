"""`radseg segment --series DIR --body`: the body outline's files from a synthetic DICOM series with the tiny
hand-weighted body model, read back independently (RTSTRUCT onto the series, highdicom SEG, plyfile, nibabel);
the flags it refuses through the console script."""
import json

import numpy as np
import pytest

from radseg.cli import main
from tests.cli.test_contract import assert_one_line_error, run

pytest.importorskip("onnxruntime")
pytest.importorskip("torch")
pytest.importorskip("highdicom")
plyfile = pytest.importorskip("plyfile")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from radseg.dicom import synthetic
    from tests.body.tiny_model import make_tiny_body_dir

    d = tmp_path_factory.mktemp("segment_body")
    make_tiny_body_dir(d / "body", size=64)
    vol = np.full((6, 80, 96), -1000.0, np.float32)
    r, c = np.ogrid[:80, :96]
    trunk = ((r - 40) / 28.0) ** 2 + ((c - 48) / 36.0) ** 2 <= 1
    vol[:, trunk] = 40.0
    vol[:, (r - 40) ** 2 + (c - 48) ** 2 <= 36] = -900.0  # air inside (a lung): the outline has no holes
    synthetic.write_series(d / "series", vol, spacing=(2.0, 0.8, 0.8))
    return d, trunk


def test_body_outputs_read_back(files):
    import radseg.dicom as rd

    d, trunk = files
    out = d / "out"
    assert main(["segment", "--series", str(d / "series"), "--body", "--body-model", str(d / "body"),
                 "--out", str(out)]) == 0
    for name in ("seg.dcm", "rtstruct.dcm", "body.ply", "labels.nii.gz", "montage.png", "result.json"):
        assert (out / name).is_file(), name
    vol = rd.read_series(d / "series")
    outline = rd.read_rtstruct(out / "rtstruct.dcm", vol)["BODY"]
    assert outline.shape == vol.shape
    inter = (outline & trunk[None]).sum()
    assert 2 * inter / (outline.sum() + 6 * trunk.sum()) > 0.97   # the trunk, lung filled in
    assert outline[:, 40, 48].all()
    seg = rd.read_seg(out / "seg.dcm", vol)
    assert np.array_equal(next(iter(seg.values())), outline)
    points = plyfile.PlyData.read(str(out / "body.ply"))["vertex"]
    assert len(points) > 0
    doc = json.loads((out / "result.json").read_text())
    assert doc["body"]["slices_with_body"] == 6 and doc["body"]["points"] == len(points)
    assert doc["body"]["volume_ml"] == pytest.approx(outline.sum() * 2.0 * 0.8 * 0.8 / 1000, rel=1e-3)


@pytest.mark.parametrize("extra, flag", [(["--click", "2,40,48"], "--click"), (["--propagate"], "--propagate")])
def test_body_refuses_the_click_flags(files, extra, flag):
    d, _ = files
    proc = run(["segment", "--series", str(d / "series"), "--body", "--out", str(d / "bad"), *extra])
    assert_one_line_error(proc, 2, "segment")
    assert flag in proc.stderr


def test_body_needs_a_series(files):
    d, _ = files
    proc = run(["segment", "--demo", "--body", "--out", str(d / "bad2")])
    assert_one_line_error(proc, 2, "segment")
    assert "--body" in proc.stderr
