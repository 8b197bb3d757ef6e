"""The training loop on tiny real inputs: steps, checkpoints, resume, loss, the simulated clicks."""
import numpy as np
import pytest
import torch

from radseg.manifest import ModelManifest, default_click_manifest
from radseg.training.click import train as T
from radseg.training.click.model import ClickUNet
from radseg.training.data.slices import SliceBank
from tests.conftest import shared_data


@pytest.fixture(scope="module")
def tiny_bank():
    root = shared_data("btcv_sabs_ct").parent
    from radseg.training.data import btcv

    vol = btcv.load(root, "sabs_00")
    k = int(np.argmax((vol.labels == 6).sum((1, 2))))
    vol.image, vol.labels = vol.image[k:k + 2], vol.labels[k:k + 2]
    bank = SliceBank()
    bank.add_volume(vol, default_click_manifest(32), keep_labels=[1, 2, 6], min_area=4)
    return bank.finalize()


def _cfg(tmp_path, **kw):
    base = dict(data="unused", out=str(tmp_path / "run"), steps=3, size=32, width=4, batch=4, max_corrections=2,
                val_per_class=2, log_every=1, warmup_steps=1)
    base.update(kw)
    return T.TrainConfig(**base)


def test_train_writes_checkpoints_and_resumes(tmp_path, tiny_bank):
    logs = []
    final = T.train(_cfg(tmp_path), tiny_bank, tiny_bank, log=logs.append, command="radseg train click (test)")
    ckpt = T.load_checkpoint(final)
    assert ckpt["step"] == 3 and ckpt["seen"] == 12
    man = ModelManifest.from_dict(ckpt["manifest"])
    assert man.input_size == 32 and man.model["width"] == 4 and man.training["steps"] == 3
    assert man.training["split"]["held_out_structures"] and man.training["command"].startswith("radseg train")
    assert any(line.startswith("[val]") for line in logs)
    assert (tmp_path / "run" / "manifest.json").is_file()
    T.train(_cfg(tmp_path, steps=5, resume=True), tiny_bank, tiny_bank, log=logs.append)
    ckpt2 = T.load_checkpoint(tmp_path / "run" / "last.pt")
    assert ckpt2["step"] == 5 and ckpt2["seen"] == 20
    assert any("resumed from" in line for line in logs)
    assert ckpt2["optimizer"]["state"]  # the optimizer state travelled too
    model, manifest = T.model_from_checkpoint(ckpt2)
    assert isinstance(model, ClickUNet) and manifest == man.replace(training=manifest.training)


def test_loss_falls_when_overfitting_two_slices(tiny_bank):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    m = default_click_manifest(32)
    model = ClickUNet(3, 4)
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    losses = []
    for _ in range(30):
        state = T.simulate(model, tiny_bank, tiny_bank.sample_balanced(rng, 4), m, rng, 0, 0.0)
        x, y = T.training_batch(state, m, rng)
        loss = T.soft_dice_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 0.1, losses


def test_soft_dice_loss_matches_the_paper_formula():
    logits = torch.tensor([[[[2.0, -1.0], [0.5, -3.0]]], [[[0.0, 0.0], [1.0, 1.0]]]])
    g = torch.tensor([[[[1.0, 0.0], [1.0, 0.0]]], [[[0.0, 1.0], [1.0, 1.0]]]])
    p = torch.sigmoid(logits)
    ref = np.mean([1 - (2 * (g[i] * p[i]).sum() + 1) / ((g[i] ** 2).sum() + (p[i] ** 2).sum() + 1) for i in range(2)])
    assert float(T.soft_dice_loss(logits, g)) == pytest.approx(float(ref), abs=1e-6)
    perfect = T.soft_dice_loss(torch.full((1, 1, 4, 4), 30.0), torch.ones(1, 1, 4, 4))
    assert float(perfect) < 1e-6


def test_correction_count_falls_linearly():
    rng = np.random.default_rng(0)
    counts = np.bincount([T.correction_count(rng, 3) for _ in range(20000)], minlength=4) / 20000
    np.testing.assert_allclose(counts, np.array([4, 3, 2, 1]) / 10, atol=0.015)


def test_simulation_clicks_are_valid_and_training_batch_matches_the_sdk_input(tiny_bank):
    rng = np.random.default_rng(1)
    m = default_click_manifest(32)
    model = ClickUNet(3, 4)
    state = T.simulate(model, tiny_bank, np.arange(len(tiny_bank)), m, rng, 2, 0.0)
    for s in state:
        r, c, pos = s["clicks"][0]
        assert pos and s["gt"][r, c]
        for r, c, pos in s["clicks"][1:]:
            assert s["gt"][r, c] == pos and s["pred"] is not None
    # with the jitter, flips and intensity change removed, the training input is the SDK's make_input
    from radseg.click.preprocess import make_input

    s = state[0]
    x_sdk, box = make_input(s["img"], s["clicks"], s["pred"], s["sp"], m)

    class NoJitter:
        def uniform(self, lo, hi):
            return 1.0 if lo == 0.9 else 0.0 if lo < 0 else 1.0

        def random(self):
            return 1.0

    orig = T.jitter_box
    T.jitter_box = lambda b, r: b
    try:
        x, y = T.training_batch([s], m, NoJitter())
    finally:
        T.jitter_box = orig
    np.testing.assert_allclose(x.numpy(), x_sdk, atol=1e-6)
    assert y.shape == (1, 1, 32, 32) and y.sum() > 0


def test_evaluate_scores_an_all_background_network_zero(tiny_bank):
    class AllBackground(torch.nn.Module):  # a trivial real network: logit -1 everywhere
        def forward(self, x):
            return torch.zeros(x.shape[0], 1, *x.shape[2:]) - 1

    scores = T.evaluate(AllBackground(), tiny_bank, np.arange(len(tiny_bank)), default_click_manifest(32), n_clicks=2)
    assert scores.shape == (len(tiny_bank), 2) and (scores == 0).all()  # all-background predictions: Dice 0
    summary = T.summarize(tiny_bank, np.arange(len(tiny_bank)), scores)
    assert summary["mean_btcv"] == [0.0, 0.0]


def test_simulated_first_click_is_the_sdk_click_with_its_second_pass(tiny_bank):
    """The robot's masks come from the SDK's own passes: ClickModel.predict on the same clicks gives the same mask,
    including the first click's second pass in the box around its own mask (refine_first_click)."""
    from radseg.click.session import ClickModel
    from tests.backends.tiny_model import BIAS, WEIGHTS

    m = default_click_manifest(32)
    assert m.crop["refine_first_click"]
    net = torch.nn.Conv2d(3, 1, 1)  # the disc-drawing tiny net of tests/backends/tiny_model.py
    with torch.no_grad():
        net.weight[:] = torch.tensor(WEIGHTS).reshape(1, 3, 1, 1)
        net.bias[:] = BIAS

    class TorchRuntime:  # a backend is anything with run(feeds) -> outputs
        name = "torch (test)"

        def run(self, feeds):
            with torch.no_grad():
                return {m.output_name: net(torch.from_numpy(feeds[m.input_name])).numpy()}

    sdk = ClickModel(TorchRuntime(), m, blas_threads=None)
    state = T.simulate(net, tiny_bank, np.arange(len(tiny_bank)), m, np.random.default_rng(3), 1, 0.0)
    passes = []
    for s in state:
        mask, _, timing = sdk.predict(s["img"], s["clicks"][:1], None, s["sp"])
        np.testing.assert_array_equal(mask, s["pred"])
        passes.append(timing["passes"])
    assert 2 in passes  # the second pass happened (and matched) for some cases
    # cases still at their first click get the refined box as their training box about half the time
    rng = np.random.default_rng(4)
    boxes = [s["box"] for _ in range(4) for s in T.simulate(net, tiny_bank, np.arange(len(tiny_bank)), m, rng, 0, 0.0)]
    assert any(b is not None for b in boxes) and any(b is None for b in boxes)
