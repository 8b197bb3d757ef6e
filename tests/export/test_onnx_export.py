"""Checkpoint -> ONNX: files, dynamic axes, torch/ONNX Runtime parity on real SDK inputs, clear failures."""
import json

import numpy as np
import pytest
import torch

from radseg.click.preprocess import logits_to_mask, make_input, normalize_intensity
from radseg.export.onnx_export import ExportError, export_checkpoint, real_inputs
from radseg.manifest import ModelManifest, default_click_manifest
from radseg.training.click.model import ClickUNet
from radseg.training.click.train import save_checkpoint

ort = pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A width-4, S=32 network whose BatchNorm statistics come from real inputs (not trained: parity only)."""
    torch.manual_seed(0)
    manifest = default_click_manifest(32).replace(model={"name": "ClickUNet", "width": 4})
    model = ClickUNet(3, 4)
    xs, _ = real_inputs(manifest, data=None)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.from_numpy(xs))
    path = tmp_path_factory.mktemp("ckpt") / "final.pt"
    save_checkpoint(path, model=model.state_dict(), manifest=manifest.to_dict(), step=0)
    return path


def test_export_writes_a_verified_model_with_dynamic_axes(tmp_path, checkpoint):
    report = export_checkpoint(checkpoint, tmp_path / "out", data=None)
    assert report["max_abs_diff"] <= 1e-3 and "CT_small" in report["source"]
    man = ModelManifest.from_json(tmp_path / "out" / "manifest.json")
    assert man.extra["export"]["max_abs_logit_diff_vs_torch"] == report["max_abs_diff"]
    sess = ort.InferenceSession(str(tmp_path / "out" / "model.onnx"), providers=["CPUExecutionProvider"])
    for shape in ((1, 3, 32, 32), (3, 3, 64, 48)):
        out = sess.run([man.output_name], {man.input_name: np.zeros(shape, np.float32)})[0]
        assert out.shape == (shape[0], 1) + shape[2:]


def test_sdk_path_on_onnx_matches_the_torch_path(tmp_path, checkpoint):
    """Train/serve parity: the same preprocessing feeding torch and ONNX Runtime gives the same mask."""
    export_checkpoint(checkpoint, tmp_path / "m", data=None)
    man = ModelManifest.from_json(tmp_path / "m" / "manifest.json")
    sess = ort.InferenceSession(str(tmp_path / "m" / "model.onnx"), providers=["CPUExecutionProvider"])
    model = ClickUNet(3, 4)
    model.load_state_dict(torch.load(checkpoint, weights_only=False)["model"])
    model.eval()
    import pydicom
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    norm = normalize_intensity(hu, "CT", man)
    x, box = make_input(norm, [(60, 70, True), (40, 50, False)], None, ds.PixelSpacing, man)
    lo = sess.run([man.output_name], {man.input_name: x})[0][0, 0]
    with torch.no_grad():
        lt = model(torch.from_numpy(x))[0, 0].numpy()
    assert np.abs(lo - lt).max() <= 1e-3
    a, b = logits_to_mask(lo, box, hu.shape), logits_to_mask(lt, box, hu.shape)
    assert (a == b).mean() > 0.999


def test_real_inputs_from_shared_data(checkpoint):
    from tests.conftest import shared_data

    root = shared_data("btcv_sabs_ct").parent
    xs, source = real_inputs(default_click_manifest(32), data=root, n=4)
    assert "sabs_02" in source and xs.shape[1:] == (3, 32, 32) and xs[:, 1].max() == pytest.approx(1.0)


def test_tolerance_failure_and_bad_checkpoints(tmp_path, checkpoint):
    with pytest.raises(ExportError, match="disagree"):
        export_checkpoint(checkpoint, tmp_path / "x", data=None, tolerance=1e-15)
    with pytest.raises(FileNotFoundError):
        export_checkpoint(tmp_path / "missing.pt", tmp_path / "y")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable"):
        export_checkpoint(bad, tmp_path / "y")


def test_cli(tmp_path, checkpoint, capsys):
    from radseg.cli import main

    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"note": "test"}))
    assert main(["export", str(checkpoint), "--out", str(tmp_path / "cli"), "--data", "", "--metrics",
                 str(metrics)]) == 0
    assert "max abs logit difference" in capsys.readouterr().out
    assert ModelManifest.from_json(tmp_path / "cli" / "manifest.json").metrics == {"note": "test"}
    assert main(["export", str(tmp_path / "nope.pt"), "--out", str(tmp_path / "z")]) == 1
    assert main(["export", str(checkpoint), "--out", str(tmp_path / "c2"), "--data", "",
                 "--crop", "initial_size_mm=192"]) == 0
    man = ModelManifest.from_json(tmp_path / "c2" / "manifest.json")
    assert man.crop["initial_size_mm"] == 192.0
    assert man.extra["export"]["crop_overrides"]["initial_size_mm"]["checkpoint"] == 160.0
    assert main(["export", str(checkpoint), "--out", str(tmp_path / "c4"), "--data", "",
                 "--crop", "refine_first_click=false"]) == 0
    assert ModelManifest.from_json(tmp_path / "c4" / "manifest.json").crop["refine_first_click"] is False
    assert main(["export", str(checkpoint), "--out", str(tmp_path / "c3"), "--crop", "initial_size_mm"]) == 2
    assert main(["export", str(checkpoint), "--out", str(tmp_path / "c3"), "--crop", "refine_first_click=maybe"]) == 2
    assert main(["export", str(checkpoint), "--out", str(tmp_path / "c3"), "--crop", "bogus=1"]) == 2


def test_metrics_from_an_eval_json(tmp_path, checkpoint):
    ev = {"meta": {"command": "radseg eval click ...", "protocol": "p", "max_slices": 3, "cases": 9,
                   "patients": {"btcv": ["sabs_02"]}},
          "summary": {"groups": {"seen": {"dice_at": {"1": 0.5}}}, "structures": {"btcv/liver": {}}},
          "paper": {"reference": "seed 003"}, "comparison": {}, "cases": [{"dice": [0.5]}]}
    path = tmp_path / "eval.json"
    path.write_text(json.dumps(ev))
    export_checkpoint(checkpoint, tmp_path / "m", data=None, metrics_json=path)
    got = ModelManifest.from_json(tmp_path / "m" / "manifest.json").metrics["evaluation"]
    assert got["groups"]["seen"]["dice_at"]["1"] == 0.5 and got["cases"] == 9 and "cases" not in got["groups"]
    assert got["max_slices_per_structure"] == 3 and got["paper"]["reference"] == "seed 003"


def test_cli_postprocess_overrides_and_re_export_of_a_folder(tmp_path, checkpoint):
    from radseg.cli import main

    assert main(["export", str(checkpoint), "--out", str(tmp_path / "p1"), "--data", "",
                 "--postprocess", "keep_clicked_components=false", "--postprocess", "reach_mm=5"]) == 0
    man = ModelManifest.from_json(tmp_path / "p1" / "manifest.json")
    assert man.postprocess == {"keep_clicked_components": False, "reach_mm": 5.0}
    assert man.extra["export"]["postprocess_overrides"]["keep_clicked_components"] == {"checkpoint": True,
                                                                                       "exported": False}
    # an exported folder is a valid source: its weights are rebuilt from the ONNX file (BatchNorm folded), and its
    # model card comes along (it describes the weights, which a re-export does not change)
    (tmp_path / "p1" / "MODEL_CARD.md").write_text("# card of p1\n")
    assert main(["export", str(tmp_path / "p1"), "--out", str(tmp_path / "p2"), "--data", "",
                 "--postprocess", "keep_clicked_components=true"]) == 0
    assert ModelManifest.from_json(tmp_path / "p2" / "manifest.json").postprocess["keep_clicked_components"] is True
    assert (tmp_path / "p2" / "MODEL_CARD.md").read_text() == "# card of p1\n"
    assert not (tmp_path / "p3" / "MODEL_CARD.md").exists()
    assert main(["export", str(checkpoint), "--out", str(tmp_path / "p3"), "--postprocess", "reach_mm=far"]) == 2
    assert main(["export", str(checkpoint), "--out", str(tmp_path / "p3"), "--postprocess", "bogus=1"]) == 2
