"""The propagation trainer on synthetic volumes (no shared data needed): the cases a VolumeBank draws, augmentation
that keeps image, prior and target aligned, training batches that are the SDK's input, and train() for a few steps
with its checkpoints and resume."""
import json

import numpy as np
import pytest
import torch

from radseg.manifest import ModelManifest, default_propagation_manifest
from radseg.metrics import dice
from radseg.propagation.preprocess import make_inputs
from radseg.training.data.volumes import Volume
from radseg.training.propagation import augment as A
from radseg.training.propagation import train as T
from radseg.training.propagation.data import VolumeBank
from tests.conftest import shared_data

S = 32
M = default_propagation_manifest(S)
Z = 12
BLOB = range(3, 9)  # label 1 ("blob") on slices 3..8
SPOT = (5,)  # label 2 ("spot") on one slice only: nothing to propagate
FAINT = range(2, 10)  # label 3 ("faint") below min_area everywhere


def synthetic_volume(seed=0, z=Z, n=48, spacing=(3.0, 0.9, 1.2)):
    """CT (HU) of air with a 100 HU disc on BLOB's slices, shrinking towards its ends; a 1-slice and a tiny label."""
    rng = np.random.default_rng(seed)
    img = np.full((z, n, n), -1000.0, np.float32) + rng.normal(0, 5, (z, n, n)).astype(np.float32)
    lab = np.zeros((z, n, n), np.uint8)
    rr, cc = np.mgrid[:n, :n]
    for k in BLOB:
        r = 6 + 3 * min(k - BLOB[0], BLOB[-1] - k)
        lab[k][(rr - n / 2) ** 2 + (cc - n / 2 - (k - 5)) ** 2 <= r ** 2] = 1
    for k in SPOT:
        lab[k, 2:6, 2:6] = 2
    for k in FAINT:
        lab[k, 40, 40] = 3
    img[lab == 1] = 100.0
    img[lab == 2] = 60.0
    return Volume(f"syn_{seed:02d}", "syn", "CT", img, lab, spacing, {1: "blob", 2: "spot", 3: "faint"})


@pytest.fixture(scope="module")
def bank():
    b = VolumeBank()
    b.add_volume(synthetic_volume(0), M)
    b.add_volume(synthetic_volume(1), M, keep_labels=[1])
    return b.finalize()


# ---- VolumeBank --------------------------------------------------------------------------------------------------
def test_bank_cases_are_offsets_of_one_or_two_and_the_end_cases(bank):
    # By the rules, independently: slice t from the prior on t + d (|d| 1 or 2, holding the structure), for t from
    # END_SLICES before the structure's first slice to END_SLICES after its last; end cases are the END_SLICES
    # slices at each end, inside or beyond it.
    from radseg.training.propagation.data import END_SLICES

    first, last = BLOB[0], BLOB[-1]
    expected, ends = set(), set()
    for t in range(max(0, first - END_SLICES), min(Z, last + END_SLICES + 1)):
        for d in (-2, -1, 1, 2):
            if t + d in BLOB:
                expected.add((t, d))
                if t < first + END_SLICES or t > last - END_SLICES:
                    ends.add((t, d))
    assert (first - 1, 1) in expected and (first - 2, 2) in expected and (last + 2, -2) in expected
    assert (first - 3, 2) not in expected and (last + 3, -2) not in expected
    for v in (0, 1):
        got = {(int(t), int(d)) for vv, lab, t, d in bank.cases if vv == v}
        assert got == expected
        got_ends = {(int(t), int(d)) for (vv, lab, t, d), e in zip(bank.cases, bank.case_end) if vv == v and e}
        assert got_ends == ends
    assert set(bank.cases[:, 1].tolist()) == {1}  # the one-slice label and the too-small one give no cases
    assert bank.class_names == ["syn:blob"] and (bank.case_class == 0).all()
    assert bank.cases.dtype == np.int64 and bank.cases.shape == (2 * len(expected), 4) and len(bank) == len(bank.cases)
    ended = {(int(t), int(d)) for _, _, t, d in bank.cases if not bank.mask(0, 1, int(t)).any()}
    assert ended == {(t, d) for t, d in expected if t not in BLOB}  # "nothing here" answers beyond both ends


def test_end_share_draws_end_cases(monkeypatch):
    from radseg.training.propagation import data

    monkeypatch.setattr(data, "END_SLICES", 1)  # the 6-slice blob then has inner (non-end) cases too
    bank = VolumeBank()
    bank.add_volume(synthetic_volume(0), M, keep_labels=[1])
    bank.finalize()
    assert 0.2 < bank.case_end.mean() < 0.8
    rng = np.random.default_rng(3)
    share = bank.case_end[bank.sample_balanced(rng, 4000, end_share=0.5)].mean()
    base = bank.case_end[bank.sample_balanced(rng, 4000)].mean()
    assert share > base + 0.15 and abs(base - bank.case_end.mean()) < 0.05


def test_bank_images_are_the_sdks_volume_normalisation(bank):
    from radseg.intensity import normalize_intensity

    vol = synthetic_volume(0)
    np.testing.assert_array_equal(bank.images[0], normalize_intensity(vol.image, "CT", M, ndim=3))
    assert bank.images[0].dtype == np.float32 and bank.labels[0].dtype == np.uint8
    assert bank.spacing[0] == (0.9, 1.2) and bank.source[1] == ("syn", "syn_01")


def test_bank_sampling_is_balanced_over_classes():
    b = VolumeBank()
    vol = synthetic_volume(0)
    vol.labels[vol.labels == 2] = 0
    for k in (4, 5):  # a second structure with few cases
        vol.labels[k, 2:8, 2:8] = 2
    b.add_volume(vol, M, min_area=4)
    b.finalize()
    assert b.class_names == ["syn:blob", "syn:spot"]
    rng = np.random.default_rng(0)
    picks = b.case_class[b.sample_balanced(rng, 4000)]
    assert abs(picks.mean() - 0.5) < 0.03  # half of each, though "spot" has far fewer cases
    sub = b.subset_evenly(5, rng)
    # "spot" (slices 4 and 5) has 8 cases: 4 <-> 5 and the end cases 2, 3 below and 6, 7 above
    assert (b.case_class == 1).sum() == 8
    assert np.bincount(b.case_class[sub]).tolist() == [5, 5]
    assert len(set(sub.tolist())) == 10


# ---- augmentation ------------------------------------------------------------------------------------------------
def _blobs(b, s=S, seed=0):
    """Asymmetric targets (an L shape, about as big in the crop as a prior's box makes it) and priors that are the
    target moved by 2 pixels."""
    rng = np.random.default_rng(seed)
    y = torch.zeros(b, 1, s, s)
    for i in range(b):
        r, c = rng.integers(6, 9, 2)
        y[i, 0, r:r + 18, c:c + 9] = 1
        y[i, 0, r + 10:r + 18, c:c + 17] = 1
    prior = torch.roll(y, 2, dims=3)
    return torch.cat([y.clone(), prior], 1), y


def _dice(a, b):
    return np.array([dice(a[i] > 0.5, b[i] > 0.5) for i in range(len(a))])


def test_affine_matrices_are_rotations_or_reflections_times_a_scale():
    rng = np.random.default_rng(0)
    n = 64
    scale = rng.uniform(0.8, 1.2, n)
    flip_r, flip_c = rng.random(n) < 0.5, rng.random(n) < 0.5
    m = A._affine(n, rng.uniform(-180, 180, n), scale, flip_r, flip_c).numpy().astype(np.float64)
    lin = m[:, :, :2]
    gram = np.einsum("nji,njk->nik", lin, lin)  # L^T L = I / scale^2: no shear, one scale
    np.testing.assert_allclose(gram, np.eye(2)[None] / scale[:, None, None] ** 2, atol=1e-5)
    det = np.linalg.det(lin) * scale ** 2
    np.testing.assert_allclose(det, np.where(flip_r ^ flip_c, -1.0, 1.0), atol=1e-5)  # one flip: a reflection
    assert not m[:, :, 2].any()


def test_flips_and_quarter_turns_are_exact_pixel_permutations():
    x = torch.rand(1, 1, 9, 9)
    one, zero, yes, no = np.ones(1), np.zeros(1), np.ones(1, bool), np.zeros(1, bool)
    for flip_r, flip_c, dims in ((no, yes, [3]), (yes, no, [2]), (yes, yes, [2, 3])):
        warped = A._warp(x, A._affine(1, zero, one, flip_r, flip_c))
        assert torch.allclose(warped, torch.flip(x, dims), atol=1e-6)
    turned = A._warp(x, A._affine(1, np.array([90.0]), one, no, no))
    assert torch.allclose(turned, torch.rot90(x, 1, (2, 3)), atol=1e-6)


def test_heavy_augmentation_moves_image_prior_and_target_together():
    x, y = _blobs(16)
    x0, y0 = x.clone(), y.clone()
    before = _dice(x[:, 1].numpy(), y[:, 0].numpy())
    xa, ya = A.augment(x, y, np.random.default_rng(1), prior_rot_deg=0.0, prior_scale=0.0, prior_morph_p=0.0,
                       prior_shift_px=0.0)
    assert torch.equal(x, x0) and torch.equal(y, y0)  # the inputs are not changed
    assert xa.shape == x.shape and ya.shape == y.shape and xa.dtype == ya.dtype == torch.float32
    assert set(torch.unique(ya).tolist()) <= {0.0, 1.0}
    assert not torch.equal(ya, y)  # it did move
    # the prior overlaps the target as it did before (the same warp for both)
    np.testing.assert_allclose(_dice(xa[:, 1].numpy(), ya[:, 0].numpy()), before, atol=0.06)
    # the image was the target: after contrast and brightness (increasing maps) it still separates exactly there
    for i in range(16):
        img, t = xa[i, 0], ya[i, 0] > 0.5
        assert img[t].min() > img[~t].max()


def test_prior_perturbation_is_small_and_leaves_image_and_target_alone():
    x, y = _blobs(32)
    before = _dice(x[:, 1].numpy(), y[:, 0].numpy())
    xa, ya = A.augment(x, y, np.random.default_rng(2), heavy=False)
    assert torch.equal(xa[:, 0], x[:, 0]) and torch.equal(ya, y)
    after = _dice(xa[:, 1].numpy(), ya[:, 0].numpy())
    assert (after > before - 0.3).all() and abs(after.mean() - before.mean()) < 0.1
    assert not torch.equal(xa[:, 1], x[:, 1])
    assert xa[:, 1].min() >= 0 and xa[:, 1].max() <= 1
    # the default (heavy) augmentation keeps the overlap about as it was too (were the prior warped apart from the
    # target, rotations of up to 180 degrees would leave almost none)
    xh, yh = A.augment(x, y, np.random.default_rng(3))
    assert abs(_dice(xh[:, 1].numpy(), yh[:, 0].numpy()).mean() - before.mean()) < 0.15


# ---- batches, own predictions, evaluation ------------------------------------------------------------------------
class TinyNet(torch.nn.Module):
    """The hand-weighted net of tests/propagation/tiny_model.py: keeps what is bright and near the prior."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(2, 1, 1)
        with torch.no_grad():
            self.conv.weight[:] = torch.tensor([8.0, 8.0]).reshape(1, 2, 1, 1)
            self.conv.bias[:] = -10.0

    def forward(self, x):
        return self.conv(x)


def test_training_batch_shapes_and_values(bank):
    cases = bank.cases[:10]
    x, y = T.training_batch(bank, cases, M, np.random.default_rng(0))
    assert x.shape == (10, 2, S, S) and y.shape == (10, 1, S, S)
    assert x.dtype == y.dtype == torch.float32
    assert x[:, 1].min() >= 0 and x[:, 1].max() <= 1 and (x[:, 1].flatten(1).max(1).values > 0.5).all()
    assert set(torch.unique(y).tolist()) <= {0.0, 1.0}
    for i, (v, lab, t, d) in enumerate(cases):
        assert bool(y[i].any()) == bool(bank.mask(v, lab, t).any())  # the ended cases have an empty target


def test_training_batch_without_jitter_is_the_sdk_input(bank, monkeypatch):
    class Fixed:  # expand = the manifest's, no box jitter
        def uniform(self, lo, hi, size=None):
            return M.crop["expand"]

    monkeypatch.setattr(T, "jitter_box", lambda box, rng: box)
    cases = bank.cases[[0, 5, 17]]
    x, _ = T.training_batch(bank, cases, M, Fixed())
    for i, (v, lab, t, d) in enumerate(cases):
        x_sdk, _ = make_inputs([bank.images[v][t]], [bank.mask(v, lab, t + d)], bank.spacing[v], M)
        np.testing.assert_array_equal(x[i].numpy(), x_sdk[0])


def test_own_predictions_are_plausible_steps_of_the_network(bank):
    inner = np.array([c for c in bank.cases if c[2] in (5, 6) and abs(c[3]) == 1])
    out = T.own_predictions(TinyNet(), bank, inner, M)
    assert out  # the tiny net follows the blob, so its steps pass the Dice >= 0.5 test
    for i, mask in out.items():
        v, lab, t, d = inner[i]
        assert mask.dtype == bool and dice(mask, bank.mask(v, lab, t + d)) >= 0.5
    x, y = T.training_batch(bank, inner, M, np.random.default_rng(0), model=TinyNet(), self_share=1.0)
    assert x.shape == (len(inner), 2, S, S)


def test_evaluate_scores_one_step_dice(bank):
    cases = np.arange(len(bank))
    scores = T.evaluate(TinyNet(), bank, cases, M)
    assert scores.shape == (len(bank),)
    # the tiny net keeps what is bright under its prior: right where the structure shrinks, slice by slice
    shrinking = [i for i, (v, lab, t, d) in enumerate(bank.cases)
                 if bank.mask(v, lab, t).any() and bank.mask(v, lab, t + d).sum() >= bank.mask(v, lab, t).sum()]
    assert len(shrinking) > 10 and scores[shrinking].min() > 0.9
    assert scores.mean() > 0.7
    ended = [i for i, (v, lab, t, d) in enumerate(bank.cases) if not bank.mask(v, lab, t).any()]
    assert (scores[ended] == 1.0).all()  # nothing there, nothing found (air under the prior)
    summary = T.summarize(bank, cases, scores)
    assert set(summary) == {"per_class", "mean_syn"} and 0 < summary["mean_syn"] <= 1


# ---- train() -----------------------------------------------------------------------------------------------------
def _cfg(tmp_path, **kw):
    base = dict(data="unused", out=str(tmp_path / "run"), steps=3, size=S, width=4, batch=4, val_per_class=2,
                log_every=1, warmup_steps=1, datasets=("syn",))
    base.update(kw)
    return T.PropagationTrainConfig(**base)


def test_train_writes_checkpoints_and_a_manifest_and_resumes(tmp_path, bank):
    logs = []
    final = T.train(_cfg(tmp_path), bank, bank, log=logs.append, command="radseg train propagation (test)")
    run = tmp_path / "run"
    assert final == run / "final.pt" and (run / "last.pt").is_file()
    ckpt = T.load_checkpoint(final)
    assert ckpt["step"] == 3 and ckpt["seen"] == 12
    man = ModelManifest.from_dict(ckpt["manifest"])
    assert man.task == "propagation" and man.in_channels == 2 and man.input_size == S
    assert man.stopping == M.stopping and man.training["classes"] == ["syn:blob"]
    assert man.training["steps"] == 3 and man.training["command"].startswith("radseg train propagation")
    assert man.training["split"]["held_out_structures"]
    written = json.loads((run / "manifest.json").read_text())
    assert written == json.loads(json.dumps(man.to_dict()))  # the checkpoint's manifest (tuples become lists)
    assert any(line.startswith("[val]") for line in logs) and man.training["validation_history"]
    T.train(_cfg(tmp_path, steps=5, resume=True), bank, bank, log=logs.append)
    ckpt2 = T.load_checkpoint(run / "last.pt")
    assert ckpt2["step"] == 5 and ckpt2["seen"] == 20 and ckpt2["optimizer"]["state"]
    assert any("resumed from" in line for line in logs)
    # the click trainer's checkpoint format: `radseg export` takes it as it is
    from radseg.training.click.model import ClickUNet
    from radseg.training.click.train import model_from_checkpoint

    net, manifest = model_from_checkpoint(ckpt2)
    assert isinstance(net, ClickUNet) and net.in_channels == 2 and manifest.task == "propagation"
    x, _ = T.training_batch(bank, bank.cases[:2], M, np.random.default_rng(0))
    assert net.eval()(x).shape == (2, 1, S, S)


def test_train_refuses_an_empty_bank(tmp_path):
    with pytest.raises(ValueError, match="holds no cases"):
        T.train(_cfg(tmp_path, steps=1), VolumeBank().finalize(), None, log=lambda m: None)


def test_real_data_bank_cases_hold_the_structure():
    root = shared_data("btcv_sabs_ct").parent
    from radseg.training.data import btcv

    vol = btcv.load(root, "sabs_00")
    keep = 2  # right kidney: a few dozen slices
    present = np.flatnonzero((vol.labels == keep).any((1, 2)))
    lo, hi = max(0, present[0] - 3), present[0] + 6
    vol.image, vol.labels = vol.image[lo:hi], vol.labels[lo:hi]
    b = VolumeBank()
    b.add_volume(vol, M, keep_labels=[keep])
    b.finalize()
    assert len(b) and b.class_names == ["btcv:" + vol.label_names[keep]]
    for v, lab, t, d in b.cases:
        assert 1 <= abs(d) <= 2 and b.mask(v, lab, t + d).sum() >= 4
    assert any(not b.mask(v, lab, t).any() for v, lab, t, d in b.cases)  # the kidney's lower end is in the bank
