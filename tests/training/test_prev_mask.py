"""The click model's optional fourth input, the mask before the click: the SDK's input, growing a 3-input model
into a 4-input one (the same network at the start), training and loading such a model."""
import numpy as np
import pytest
import torch

from radseg.click.preprocess import PREV_MASK_CHANNEL, make_input
from radseg.manifest import default_click_manifest
from radseg.training.click import train as T
from radseg.training.click.model import ClickUNet
from tests.training.test_train import _cfg, tiny_bank  # noqa: F401  (the module's fixture, reused)


def test_the_fourth_channel_is_the_current_mask_in_the_crop():
    m3, m4 = default_click_manifest(32), default_click_manifest(32).replace(in_channels=4)
    img = np.random.default_rng(0).random((64, 64), dtype=np.float32)
    mask = np.zeros((64, 64), bool)
    mask[20:40, 24:44] = True
    x3, box = make_input(img, [(30, 34, True)], mask, (1.0, 1.0), m3)
    x4, box4 = make_input(img, [(30, 34, True)], mask, (1.0, 1.0), m4)
    assert x4.shape == (1, 4, 32, 32) and box4 == box
    np.testing.assert_array_equal(x4[:, :3], x3)
    prior = x4[0, PREV_MASK_CHANNEL]
    assert prior.max() == pytest.approx(1.0) and prior.min() == 0.0
    r, c = box.to_crop(np.array([[30.0, 34.0]]))[0]
    assert prior[int(r), int(c)] == pytest.approx(1.0)  # the mask's centre is inside the mask channel too
    x0, _ = make_input(img, [(30, 34, True)], None, (1.0, 1.0), m4)
    assert not x0[0, PREV_MASK_CHANNEL].any()  # a first click: no mask yet


def test_a_grown_model_starts_as_the_same_network():
    torch.manual_seed(0)
    small, big = ClickUNet(3, 4).eval(), ClickUNet(4, 4).eval()
    big.load_state_dict(T.widen_inputs(small.state_dict(), big.state_dict()))
    x = torch.rand(2, 3, 32, 32)
    x4 = torch.cat([x, torch.rand(2, 1, 32, 32)], dim=1)  # whatever the new channel holds
    with torch.no_grad():
        torch.testing.assert_close(big(x4), small(x))


def test_training_with_the_prev_mask_input_writes_a_4_input_model(tmp_path, tiny_bank):  # noqa: F811
    init = T.train(_cfg(tmp_path / "a", steps=2), tiny_bank, tiny_bank, log=lambda *_: None)
    final = T.train(_cfg(tmp_path / "b", steps=2, prev_mask=True, init=str(init)), tiny_bank, tiny_bank,
                    log=lambda *_: None)
    model, manifest = T.model_from_checkpoint(T.load_checkpoint(final))
    assert manifest.in_channels == 4 and model.in_channels == 4
    assert model(torch.zeros(1, 4, 32, 32)).shape == (1, 1, 32, 32)


def test_the_sdk_runs_an_exported_4_input_model(tmp_path, tiny_bank):  # noqa: F811
    import radseg
    from radseg.export.onnx_export import export_model

    final = T.train(_cfg(tmp_path / "c", steps=1, prev_mask=True), tiny_bank, tiny_bank, log=lambda *_: None)
    model, manifest = T.model_from_checkpoint(T.load_checkpoint(final))
    folder = tmp_path / "model"
    folder.mkdir()
    export_model(model.eval(), manifest, folder / "model.onnx")
    manifest.to_json(folder / "manifest.json")
    loaded = radseg.load(folder, backend="onnxruntime-cpu")
    img = tiny_bank.images[0]
    session = loaded.start(img, spacing=(1.0, 1.0), modality="MR")  # the bank holds normalised values, not HU
    first = session.click(img.shape[0] // 2, img.shape[1] // 2)
    second = session.click(img.shape[0] // 2 + 3, img.shape[1] // 2, positive=False)
    assert first.shape == second.shape == img.shape
