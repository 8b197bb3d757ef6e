"""The click model's wider training data (`radseg.training.data.anatomy`): what is kept out, the split, the
group-weighted sampler and the bf16 passes."""
import collections

import numpy as np
import pytest
import torch

from radseg.manifest import default_click_manifest
from radseg.training.data import anatomy, split
from radseg.training.data.slices import SliceBank
from radseg.training.data.volumes import Volume
from tests.conftest import shared_data


@pytest.mark.parametrize("name, modality, excluded", [
    ("colon", "CT", True), ("duodenum", "MR", True),  # unseen on CT: kept out of MR too
    ("vertebrae_L3", "CT", True), ("vertebrae", "MR", True), ("autochthon_right", "CT", True),  # the mirror
    ("spleen", "MR", True), ("spleen", "CT", False), ("kidney_cyst_left", "CT", True),
    ("liver", "MR", False), ("rib_left_3", "CT", False), ("intervertebral_discs", "MR", False)])
def test_totalseg_exclusions(name, modality, excluded):
    assert anatomy.totalseg_excluded(name, modality) is excluded


def test_families_share_a_class_name():
    assert anatomy._family("rib_right_11") == anatomy._family("rib_left_2") == "rib"
    assert anatomy._family("lung_upper_lobe_left") == "lung lobe"
    assert anatomy._family("gluteus_maximus_left") == "gluteus maximus"
    assert anatomy._family("urinary_bladder") == "urinary bladder"


def test_unknown_data_set_is_named():
    with pytest.raises(ValueError, match="unknown click data set.*'mnist'"):
        list(anatomy.volumes("/nowhere", ("btcv", "mnist")))
    with pytest.raises(FileNotFoundError, match="btcv_sabs_ct"):
        list(anatomy.volumes("/nowhere", ("btcv",)))


def test_real_sets_keep_unseen_types_and_patients_out():
    root = shared_data("totalseg").parent
    pytest.importorskip("h5py")
    shared_data("la_heart_mri"), shared_data("msd_hippocampus")
    seen_parts = collections.defaultdict(set)
    for vol, part in anatomy.volumes(root, ("totalseg", "la_heart", "hippocampus", "chaos")):
        seen_parts[vol.dataset].add((vol.name, part))
        names = set(vol.label_names.values())
        if vol.dataset.startswith("totalseg"):
            assert part == "train"
            assert not names & {"colon", "duodenum", "vertebrae", "autochthon", "kidney cyst"}
            assert not any(n.startswith("vertebrae") for n in names)
            assert vol.dataset == "totalseg_ct" or "spleen" not in names
            assert {"rib", "lung lobe"} <= names or vol.modality == "MR" or vol.labels.shape[1] == 512
        if vol.dataset == "chaos" and part == "train":
            assert "spleen" not in names  # CHAOS spleen never trains
        if vol.dataset == "hippocampus":
            assert (part == "train") == (int(vol.name.rsplit("_", 1)[1]) < anatomy.HIPPOCAMPUS_TRAIN_BELOW)
    assert {n for n, p in seen_parts["la_heart"] if p == "validation"} == set(split.LA_VALIDATION)
    assert len(seen_parts["totalseg_ct"]) == 2 and len(seen_parts["totalseg_mr"]) == 1
    assert {p for _, p in seen_parts["hippocampus"]} == {"train", "validation"}


def _bank(groups):
    """A SliceBank of tiny synthetic slices: {group: number of classes}, 3 cases per class."""
    bank, m = SliceBank(), default_click_manifest(32)
    for g, n in groups.items():
        lab = np.zeros((1, 32, 16), np.uint8)
        for c in range(n):
            lab[0, c, :4] = c + 1
        vol = Volume(g, g, "CT", np.zeros((1, 32, 16), np.float32), lab, (1, 1, 1),
                     {c + 1: f"s{c}" for c in range(n)})
        for _ in range(3):
            bank.add_volume(vol, m, min_area=1)
    return bank.finalize()


def test_group_weights_set_each_groups_share():
    bank = _bank({"btcv": 2, "totalseg_ct": 20, "body": 1})
    rng = np.random.default_rng(0)
    groups = np.array([bank.class_names[c].split(":")[0] for c in bank.case_class])
    drawn = groups[bank.sample_balanced(rng, 20000, {"btcv": 0.5, "totalseg_ct": 0.3, "body": 0.2})]
    share = {g: float(np.mean(drawn == g)) for g in ("btcv", "totalseg_ct", "body")}
    assert share == pytest.approx({"btcv": 0.5, "totalseg_ct": 0.3, "body": 0.2}, abs=0.015)
    uniform = groups[bank.sample_balanced(rng, 20000)]  # without weights every class weighs the same
    assert float(np.mean(uniform == "totalseg_ct")) == pytest.approx(20 / 23, abs=0.015)
    unnamed = groups[bank.sample_balanced(rng, 20000, {"btcv": 0.2, "totalseg_ct": 0.4})]  # body: the mean, 0.3
    assert float(np.mean(unnamed == "body")) == pytest.approx(0.3 / 0.9, abs=0.015)


def test_precision_names_and_bf16_update():
    from radseg.training.click.model import ClickUNet
    from radseg.training.loop import optimise, resolve_precision

    assert resolve_precision("fp32") == "fp32" and resolve_precision("auto") in ("bf16", "fp32")
    with pytest.raises(ValueError, match="precision must be"):
        resolve_precision("fp16")
    torch.manual_seed(0)
    model = ClickUNet(4, 4)
    opt = torch.optim.SGD(model.parameters(), 0.1)
    x, y = torch.rand(2, 4, 32, 32), (torch.rand(2, 1, 32, 32) > 0.5).float()
    before = [p.detach().clone() for p in model.parameters()]
    loss = optimise(model, opt, x, y, 0.5, "bf16")
    assert np.isfinite(loss)
    assert all(p.dtype == torch.float32 for p in model.parameters())  # weights stay fp32
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
