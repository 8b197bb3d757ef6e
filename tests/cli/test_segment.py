"""`radseg segment` end to end on a real exported ONNX model: demo slices, DICOM / npy input, bad arguments."""
import json

import numpy as np
import pytest

from radseg.cli import main
from radseg.cli.segment import parse_click
from tests.backends.tiny_model import make_tiny_model_dir

pytest.importorskip("onnxruntime")
pytest.importorskip("torch")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return str(make_tiny_model_dir(tmp_path_factory.mktemp("tiny_seg"), size=64))


def _read_png(path):
    Image = pytest.importorskip("PIL.Image")
    return np.asarray(Image.open(path))


def _check_outputs(out, shape):
    mask = np.load(out / "mask.npy")
    assert mask.dtype == bool and mask.shape == shape and mask.any()
    np.testing.assert_array_equal(_read_png(out / "mask.png") > 0, mask)  # decoded by Pillow, independently
    ov = _read_png(out / "overlay.png")
    k = -(-512 // max(shape))  # small images are enlarged by a whole factor to at least 512 pixels
    assert ov.shape == (shape[0] * k, shape[1] * k, 3) and ov.dtype == np.uint8
    return mask, json.loads((out / "result.json").read_text())


def test_demo_without_shared_data_uses_pydicom_ct(model_dir, tmp_path, monkeypatch, capsys):
    pytest.importorskip("pydicom")
    from radseg.eval import datasets

    def nowhere(explicit=None):
        raise FileNotFoundError("data folder not found")

    monkeypatch.setattr(datasets, "find_data_root", nowhere)
    out = tmp_path / "o"
    assert main(["segment", "--demo", "--model", model_dir, "--out", str(out)]) == 0
    mask, res = _check_outputs(out, (128, 128))
    assert "CT_small.dcm" in res["image"] and res["clicks"] == [[22.0, 59.0, True]]
    assert mask[22, 59] and res["spacing_mm"] == pytest.approx([0.661468, 0.661468])
    assert "radseg segment: warning: no shared data folder found" in capsys.readouterr().err


def test_demo_with_a_missing_data_folder_is_an_error_naming_it(model_dir, tmp_path, capsys):
    missing = tmp_path / "absent"
    assert main(["segment", "--demo", "--data", str(missing), "--model", model_dir, "--out", str(tmp_path / "o")]) == 1
    assert f"--data {missing}: no such folder" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_demo_with_shared_data(model_dir, tmp_path):
    from tests.conftest import shared_data

    root = shared_data()
    pytest.importorskip("nibabel")
    out = tmp_path / "o"
    assert main(["segment", "--demo", "--data", str(root), "--model", model_dir, "--out", str(out)]) == 0
    mask, res = _check_outputs(out, (257, 257))
    assert "BTCV" in res["image"] and 0.0 <= res["dice_vs_reference"] <= 1.0


def test_image_npy_with_clicks(model_dir, tmp_path):
    img = np.full((80, 90), -1000, np.int16)
    np.save(tmp_path / "x.npy", img)
    out = tmp_path / "o"
    code = main(["segment", "--image", str(tmp_path / "x.npy"), "--click", "40,45", "--click", "40,50,-",
                 "--spacing", "1,1", "--model", model_dir, "--out", str(out)])
    assert code == 0
    mask, res = _check_outputs(out, (80, 90))
    assert mask[40, 45] and not mask[40, 50]
    assert res["clicks"] == [[40.0, 45.0, True], [40.0, 50.0, False]] and len(res["click_ms"]) == 2


def test_image_dicom(model_dir, tmp_path):
    pydicom_data = pytest.importorskip("pydicom.data")
    path = pydicom_data.get_testdata_file("CT_small.dcm")
    out = tmp_path / "o"
    assert main(["segment", "--image", path, "--click", "60,60", "--model", model_dir, "--out", str(out)]) == 0
    _, res = _check_outputs(out, (128, 128))
    assert res["modality"] == "CT"


@pytest.mark.parametrize("extra", [["--click", "400,10"], ["--click", "a,b"], ["--click", "1,2,x"],
                                   ["--spacing", "1"], []])
def test_bad_arguments_exit_2(model_dir, tmp_path, extra, capsys):
    np.save(tmp_path / "x.npy", np.zeros((32, 32), np.float32))
    code = main(["segment", "--image", str(tmp_path / "x.npy"), "--model", model_dir, "--out", str(tmp_path / "o")] + extra)
    assert code == 2
    assert "radseg segment:" in capsys.readouterr().err
    assert not (tmp_path / "o" / "mask.npy").exists()


def test_missing_image_file(model_dir, tmp_path, capsys):
    assert main(["segment", "--image", str(tmp_path / "none.dcm"), "--click", "1,1", "--model", model_dir,
                 "--out", str(tmp_path / "o")]) == 1
    assert "no such file" in capsys.readouterr().err


def test_outputs_are_readable_by_others_under_the_usual_umask(model_dir, tmp_path):
    import os

    img = np.full((40, 40), -1000, np.int16)
    np.save(tmp_path / "x.npy", img)
    old = os.umask(0o022)
    try:
        assert main(["segment", "--image", str(tmp_path / "x.npy"), "--click", "20,20", "--spacing", "1,1",
                     "--modality", "CT", "--model", model_dir, "--out", str(tmp_path / "o")]) == 0
    finally:
        os.umask(old)
    names = sorted(os.listdir(tmp_path / "o"))
    assert names == ["mask.npy", "mask.png", "overlay.png", "result.json"]  # no temporary files left
    for name in names:
        assert os.stat(tmp_path / "o" / name).st_mode & 0o777 == 0o644, name


def test_parse_click():
    assert parse_click("10,20") == (10.0, 20.0, True)
    assert parse_click(" 10 , 20 , - ") == (10.0, 20.0, False)
    assert parse_click("1.5,2,+") == (1.5, 2.0, True)
    for bad in ("10", "1,2,3,4", "x,1", "1,2,?"):
        with pytest.raises(ValueError, match="--click"):
            parse_click(bad)
