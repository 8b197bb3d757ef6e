"""radseg.load: bundled names, model folders, and every way a folder can be broken (clear errors)."""
import json
import shutil

import pytest

import radseg
from radseg.load import BUNDLED_DIR, bundled_names, resolve_model_dir
from tests.backends.tiny_model import make_tiny_model_dir

pytest.importorskip("onnxruntime")
pytest.importorskip("torch")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return make_tiny_model_dir(tmp_path_factory.mktemp("tiny_click"))


def _copy(model_dir, tmp_path):
    dst = tmp_path / "m"
    shutil.copytree(model_dir, dst)
    return dst


def test_load_folder_and_files_inside_it(model_dir):
    for p in (model_dir, str(model_dir), model_dir / "model.onnx", model_dir / "manifest.json"):
        model = radseg.load(p)
        assert model.backend == "onnxruntime-cpu"
        assert model.manifest.task == "click" and model.manifest.input_size == 64
        assert model.path == model_dir.resolve()


def test_named_backend_and_threads(model_dir):
    model = radseg.load(model_dir, backend="onnxruntime-cpu", threads=1)
    assert model.backend == "onnxruntime-cpu" and model.refused == {}
    with pytest.raises(ValueError, match="one of"):
        radseg.load(model_dir, backend="cuda-please")


def test_unknown_name_lists_bundled():
    with pytest.raises(FileNotFoundError, match="bundled"):
        radseg.load("no-such-model")
    with pytest.raises(TypeError):
        radseg.load(42)


def test_bundled_click_model_loads_when_shipped():
    if "click" not in bundled_names() or not (BUNDLED_DIR / "click" / "model.onnx").is_file():
        pytest.skip("the bundled click model is not in this checkout yet")
    model = radseg.load("click")
    assert model.manifest.task == "click"
    assert resolve_model_dir("click") == BUNDLED_DIR / "click"


def test_missing_onnx(model_dir, tmp_path):
    d = _copy(model_dir, tmp_path)
    (d / "model.onnx").unlink()
    with pytest.raises(FileNotFoundError, match="model.onnx is missing.*radseg export"):
        radseg.load(d)


def test_corrupt_onnx(model_dir, tmp_path):
    d = _copy(model_dir, tmp_path)
    data = (d / "model.onnx").read_bytes()
    (d / "model.onnx").write_bytes(data[: len(data) // 3])  # a truncated copy
    with pytest.raises(ValueError, match="not a loadable ONNX model.*re-export"):
        radseg.load(d)


def test_missing_manifest(model_dir, tmp_path):
    d = _copy(model_dir, tmp_path)
    (d / "manifest.json").unlink()
    with pytest.raises(FileNotFoundError, match="manifest"):
        radseg.load(d)


def test_manifest_of_another_version(model_dir, tmp_path):
    d = _copy(model_dir, tmp_path)
    m = json.loads((d / "manifest.json").read_text())
    m["format_version"] = 2
    (d / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ValueError, match="format_version 2 is not supported.*[Rr]e-export"):
        radseg.load(d)


def test_corrupt_manifest_json(model_dir, tmp_path):
    d = _copy(model_dir, tmp_path)
    (d / "manifest.json").write_text("{not json")
    with pytest.raises(ValueError, match="corrupt"):
        radseg.load(d)


def test_manifest_that_does_not_match_the_graph(model_dir, tmp_path):
    d = _copy(model_dir, tmp_path)
    m = json.loads((d / "manifest.json").read_text())
    m["input_name"] = "something_else"
    (d / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ValueError, match="different exports"):
        radseg.load(d)


def test_unknown_task(model_dir, tmp_path):
    d = _copy(model_dir, tmp_path)
    m = json.loads((d / "manifest.json").read_text())
    m["task"] = "teleport"
    (d / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ValueError, match="teleport"):
        radseg.load(d)


def test_manifest_whose_input_shape_the_graph_refuses(tmp_path):
    """A graph with a fixed 3-channel input and a manifest that claims 5 channels: refused at load, clearly."""
    d = make_tiny_model_dir(tmp_path / "m", size=64)
    m = json.loads((d / "manifest.json").read_text())
    m["in_channels"] = 5
    (d / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ValueError, match="does not run on the input"):
        radseg.load(d)


def test_bundled_propagation_model_loads_and_follows_a_structure():
    """radseg.load("propagation") gives the bundled model; on a real held-out BTCV spleen, one true seed slice is
    carried to both ends of the organ (a loose bar: the model card has the measured numbers)."""
    if "propagation" not in bundled_names():
        pytest.skip("no bundled propagation model in this checkout")
    import numpy as np

    from radseg.metrics import dice
    from tests.conftest import shared_data

    model = radseg.load("propagation", threads=1)
    assert model.manifest.task == "propagation" and model.manifest.in_channels == 2
    assert resolve_model_dir("propagation") == BUNDLED_DIR / "propagation"
    root = shared_data()
    from radseg.training.data import btcv

    vol = btcv.load(root, "sabs_02")
    gt = vol.labels == 1  # spleen
    present = np.flatnonzero(gt.any(axis=(1, 2)))
    k = int(present[len(present) // 2])
    masks = model.start(vol.image, spacing=vol.spacing, modality="CT").propagate(k, gt[k])
    assert dice(masks, gt) > 0.85
