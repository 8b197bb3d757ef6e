"""The accepted set (training/body/accept.py) and the body trainer (training/body/train.py) on a tiny synthetic volume.

Four CT-like slices, 96 x 96 at 2 mm: an ellipse body (-50 HU) of a different size on each slice in -1000 HU air
with a small organ label inside, and one slice of air only (not ratable).
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from radseg.annotate.store import AnnotationStore, read_accepted
from radseg.body import VARIANTS
from radseg.manifest import ModelManifest
from radseg.training.body import accept, train
from radseg.training.data.volumes import Volume

SIZE = 96


def tiny_volume(name="tiny_ct") -> Volume:
    y, x = np.mgrid[:SIZE, :SIZE]
    image = np.full((4, SIZE, SIZE), -1000.0, np.float32)
    labels = np.zeros((4, SIZE, SIZE), np.uint8)
    for k, (ry, rx) in enumerate([(30, 38), (32, 40), (28, 36)]):
        body = ((y - 48) / ry) ** 2 + ((x - 48) / rx) ** 2 <= 1
        image[k][body] = -50.0
        organ = (y - 48) ** 2 + (x - 40) ** 2 <= 36
        image[k][organ] = 40.0
        labels[k][organ] = 2
    image += np.random.default_rng(0).normal(0, 5, image.shape).astype(np.float32)
    return Volume(name, "synthetic", "CT", image, labels, (5.0, 2.0, 2.0))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """An accepted set rated from the tiny volume: (folder, volume, counts)."""
    folder = tmp_path_factory.mktemp("body_accepted")
    vol = tiny_volume()
    with AnnotationStore(folder) as store:
        counts = accept.rate_volume(store, vol, "train")
    return folder, vol, counts


def test_rate_volume_writes_decisions_and_accepted_pairs(dataset):
    folder, vol, counts = dataset
    assert counts["slices"] == 4 and counts["ratable"] == 3  # the air slice is not rated
    assert counts["accepted"] >= 3 and counts["slices_with_accepted"] == 3
    lines = [json.loads(s) for s in (folder / "decisions.jsonl").read_text().splitlines()]
    assert len(lines) == counts["candidates"]
    assert sum(r["accepted"] for r in lines) == counts["accepted"]
    for r in lines:
        assert r["rater"] == "scripted" and r["source"] == "tiny_ct" and r["modality"] == "CT"
        assert r["split"] == "train" and r["spacing"] == [2.0, 2.0] and r["slice"] in (0, 1, 2)
        assert isinstance(r["reasons"], list) and (r["reasons"] == []) == r["accepted"]
        assert r["seconds"] >= 0
    npz = sorted((folder / "accepted").glob("*.npz"))
    assert len(npz) == counts["accepted"]
    pairs = list(read_accepted(folder))
    assert len(pairs) == counts["accepted"]
    for image, mask, meta in pairs:
        assert image.dtype == np.float32 and mask.dtype == np.bool_ and mask.shape == image.shape == (SIZE, SIZE)
        np.testing.assert_array_equal(image, vol.image[meta["slice"]])
        assert (mask & (vol.labels[meta["slice"]] > 0)).sum() == (vol.labels[meta["slice"]] > 0).sum()


def test_decision_names_are_variant_names(dataset):
    folder, _, _ = dataset
    for r in AnnotationStore(folder, readonly=True).decisions():
        assert set(r["names"]) <= set(VARIANTS), r["names"]


def test_rerun_skips_decided_pairs(dataset):
    folder, vol, counts = dataset
    before = (folder / "decisions.jsonl").read_bytes()
    with AnnotationStore(folder) as store:
        again = accept.rate_volume(store, vol, "train")
        assert len(store.decisions()) == counts["candidates"]
    assert again["candidates"] == 0 and again["accepted"] == 0
    assert again["ratable"] == counts["ratable"]
    assert (folder / "decisions.jsonl").read_bytes() == before


def test_max_slices_picks_evenly(tmp_path):
    vol = tiny_volume()
    with AnnotationStore(tmp_path / "ds") as store:
        c = accept.rate_volume(store, vol, "validation", max_slices=2)  # slices 0 and 3
    assert c["slices"] == 2 and c["ratable"] == 1
    assert {r["split"] for r in AnnotationStore(tmp_path / "ds", readonly=True).decisions()} == {"validation"}


# ---- training ----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(dataset, tmp_path_factory):
    folder, _, _ = dataset
    out = tmp_path_factory.mktemp("body_run")
    cfg = train.BodyTrainConfig(dataset=str(folder), out=str(out), size=64, width=2, batch=2, minutes=0.02,
                                threads=1)
    logs = []
    final = train.train(cfg, log=logs.append)
    return final, cfg, logs


def test_train_writes_a_body_checkpoint(trained):
    final, cfg, logs = trained
    assert final.name == "final.pt" and final.is_file() and (final.parent / "last.pt").is_file()
    assert any("training pairs" in m for m in logs)
    ck = torch.load(final, map_location="cpu", weights_only=False)
    man = ModelManifest.from_dict(ck["manifest"])
    assert man.task == "body" and man.in_channels == 1 and man.input_size == 64
    assert man.model["width"] == 2 and man.model["name"] == "ClickUNet"
    assert man.training["steps"] == ck["step"] >= 1 and man.training["data"] == ["tiny_ct"]
    assert man.training["slices"] == 3
    from radseg.training.click.model import ClickUNet

    net = ClickUNet(in_channels=1, width=2)
    net.load_state_dict(ck["model"])
    with torch.no_grad():
        assert net.eval()(torch.zeros(1, 1, 64, 64)).shape == (1, 1, 64, 64)


def test_load_set_is_in_the_working_frame(dataset):
    folder, _, counts = dataset
    from radseg.manifest import default_body_manifest

    data = train.load_set(folder, default_body_manifest(64))
    assert data["x"].shape == data["y"].shape == (counts["accepted"], 64, 64)
    assert data["x"].dtype == data["y"].dtype == np.float32
    assert set(np.unique(data["y"])) <= {0.0, 1.0} and len(set(data["group"].tolist())) == 3
    assert 0.0 <= data["x"].min() and data["x"].max() <= 1.0


def test_load_set_without_accepted_pairs_says_so(tmp_path):
    AnnotationStore(tmp_path / "empty").close()
    from radseg.manifest import default_body_manifest

    with pytest.raises(ValueError, match="no accepted pairs"):
        train.load_set(tmp_path / "empty", default_body_manifest(64))


def test_exported_checkpoint_loads_as_a_body_model(trained, tmp_path):
    from radseg.export import onnx_export
    from radseg.manifest import default_body_manifest

    manifest = default_body_manifest(64)
    xs, _ = onnx_export.real_inputs(manifest, data=None, n=2)
    if xs.shape[1] != manifest.in_channels:
        pytest.skip(f"export/onnx_export.real_inputs does not build body inputs yet (got {xs.shape[1]} channels)")
    final, _, _ = trained
    report = onnx_export.export_checkpoint(final, tmp_path / "model", data=None)
    assert report["max_abs_diff"] <= 1e-3
    man = ModelManifest.from_json(tmp_path / "model" / "manifest.json")
    assert man.task == "body" and man.in_channels == 1
    import radseg

    model = radseg.load(tmp_path / "model", backend="onnxruntime-cpu", threads=1)
    assert type(model).__name__ == "BodyModel"
    out = model.segment(tiny_volume().image[0], spacing=(2.0, 2.0), modality="CT")
    assert out.shape == (SIZE, SIZE) and out.dtype == np.bool_


# ---- augmentation ------------------------------------------------------------------------------------------------
def test_augment_keeps_masks_binary_and_shapes():
    gen = torch.Generator().manual_seed(0)
    s = 64
    yy, xx = torch.meshgrid(torch.arange(s), torch.arange(s), indexing="ij")
    y = (((yy - 32) / 20.0) ** 2 + ((xx - 30) / 25.0) ** 2 <= 1).float()[None, None].repeat(8, 1, 1, 1)
    x = y * 0.6 + 0.1
    x0, y0 = x.clone(), y.clone()
    for _ in range(5):
        xa, ya = train.augment(x, y, gen)
        assert xa.shape == x.shape and ya.shape == y.shape
        assert xa.dtype == ya.dtype == torch.float32
        assert set(torch.unique(ya).tolist()) <= {0.0, 1.0}
        assert torch.isfinite(xa).all()
    assert torch.equal(x, x0) and torch.equal(y, y0)  # "returns new tensors": the inputs are left alone
    # reproducible from the generator's seed
    a = train.augment(x.clone(), y.clone(), torch.Generator().manual_seed(3))
    b = train.augment(x.clone(), y.clone(), torch.Generator().manual_seed(3))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_loss_is_low_for_the_right_mask():
    y = torch.zeros(2, 1, 16, 16)
    y[:, :, 4:12, 4:12] = 1
    good = train.loss_fn((y * 2 - 1) * 20, y)
    bad = train.loss_fn(-(y * 2 - 1) * 20, y)
    assert float(good) < 0.01 < float(bad)
