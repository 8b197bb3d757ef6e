"""Rebuilding a trainable ClickUNet from an exported folder: exact logits, frozen BatchNorm, clear refusals."""
import json

import numpy as np
import pytest
import torch

from radseg.export.onnx_export import export_checkpoint, real_inputs
from radseg.manifest import default_click_manifest
from radseg.training.click.from_onnx import checkpoint_from_folder, onnx_difference, state_from_onnx
from radseg.training.click.model import ClickUNet
from radseg.training.click.train import TrainConfig, load_checkpoint, save_checkpoint, train
from tests.training.test_train import tiny_bank  # noqa: F401  (the fixture: two real BTCV slices)

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A width-4, S=32 export whose BatchNorms have non-trivial statistics and affine parameters."""
    torch.manual_seed(1)
    manifest = default_click_manifest(32).replace(model={"name": "ClickUNet", "width": 4})
    model = ClickUNet(3, 4)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            torch.nn.init.uniform_(m.weight, 0.5, 1.5)
            torch.nn.init.uniform_(m.bias, -0.2, 0.2)
    xs, _ = real_inputs(manifest, data=None)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.from_numpy(xs))
    root = tmp_path_factory.mktemp("exp")
    save_checkpoint(root / "final.pt", model=model.state_dict(), manifest=manifest.to_dict(), step=7)
    export_checkpoint(root / "final.pt", root / "model", data=None)
    return root, model.eval(), xs


def test_rebuilt_network_reproduces_the_torch_model_and_the_onnx_graph(exported):
    root, original, xs = exported
    ckpt = checkpoint_from_folder(root / "model")
    rebuilt = ClickUNet(3, 4)
    rebuilt.load_state_dict(ckpt["model"])
    rebuilt.eval()
    with torch.no_grad():
        a, b = original(torch.from_numpy(xs)), rebuilt(torch.from_numpy(xs))
    assert float((a - b).abs().max()) < 1e-4
    assert onnx_difference(rebuilt, root / "model" / "model.onnx",
                           default_click_manifest(32).replace(model={"width": 4})) < 1e-4
    assert ckpt["from_onnx"].endswith("model.onnx")  # the step comes from manifest.training, absent here


def test_load_checkpoint_accepts_a_model_folder_and_export_round_trips(exported, tmp_path):
    root, original, xs = exported
    ckpt = load_checkpoint(root / "model")
    assert "model" in ckpt and "manifest" in ckpt
    report = export_checkpoint(root / "model", tmp_path / "again", data=None)  # re-export an export
    assert report["max_abs_diff"] <= 1e-3


def test_bundled_model_rebuilds_exactly():
    from radseg.load import resolve_model_dir

    ckpt = checkpoint_from_folder(resolve_model_dir("click"))  # raises above 1e-4
    assert ckpt["manifest"]["task"] == "click"


def test_frozen_batchnorm_stays_in_eval_mode():
    net = ClickUNet(3, 4, freeze_bn=True).train()
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert net.training and all(not m.training for m in bns)
    before = bns[0].running_mean.clone()
    net(torch.rand(2, 3, 32, 32) * 5)
    assert torch.equal(before, bns[0].running_mean)
    assert all(m.training for m in ClickUNet(3, 4).train().modules())


def test_foreign_or_mismatched_onnx_is_refused(exported, tmp_path):
    root, _, _ = exported
    wide = default_click_manifest(32).replace(model={"width": 8})
    with pytest.raises(ValueError, match="width 8"):
        state_from_onnx(root / "model" / "model.onnx", wide)
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 32, 32])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 3, 32, 32])
    g = helper.make_graph([helper.make_node("Relu", ["input"], ["logits"])], "g", [x], [y])
    folder = tmp_path / "relu"
    folder.mkdir()
    onnx.save(helper.make_model(g), str(folder / "model.onnx"))
    (folder / "manifest.json").write_text(json.dumps(default_click_manifest(32).replace(model={"width": 4}).to_dict()))
    with pytest.raises(ValueError, match="not a radseg click model"):
        checkpoint_from_folder(folder)
    with pytest.raises(FileNotFoundError):
        checkpoint_from_folder(tmp_path)


def test_fine_tuning_from_a_folder_freezes_batchnorm(exported, tmp_path, tiny_bank):
    """Two steps of `train` initialised from an exported folder: BatchNorm statistics stay as rebuilt."""
    root, _, _ = exported
    logs = []
    cfg = TrainConfig(data="unused", out=str(tmp_path / "ft"), steps=2, size=32, width=4, batch=2,
                      init=str(root / "model"), val_per_class=1, max_corrections=1, log_every=1, warmup_steps=1)
    final = train(cfg, tiny_bank, tiny_bank, log=logs.append)
    assert any("BatchNorm frozen" in line for line in logs)
    state = torch.load(final, weights_only=False)["model"]
    assert torch.all(state["down.0.1.running_mean"] == 0)
    assert torch.allclose(state["down.0.1.running_var"], torch.full_like(state["down.0.1.running_var"], 1 - 1e-5))
    manifest = torch.load(final, weights_only=False)["manifest"]
    assert manifest["training"]["initialised_from"]["path"] == str(root / "model")
    # a resumed fine-tune keeps the record of what it started from
    train(TrainConfig(**{**cfg.__dict__, "steps": 3, "resume": True}), tiny_bank, tiny_bank, log=logs.append)
    resumed = load_checkpoint(tmp_path / "ft" / "last.pt")
    assert resumed["step"] == 3 and resumed["manifest"]["training"]["initialised_from"]["path"] == str(root / "model")
