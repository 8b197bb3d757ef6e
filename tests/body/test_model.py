"""The body model's SDK side: `radseg.load(folder)` -> BodyModel.segment, and radseg.body.preprocess.

The model is a tiny untrained ClickUNet (1 input channel, width 2) exported here with torch.onnx.export (dynamic
batch) beside the default body manifest at 64 x 64: its outlines mean nothing, but shapes, dtypes, batching and
input checks are the SDK's.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import radseg
from radseg.body import preprocess as P
from radseg.errors import RadsegWarning
from radseg.manifest import default_body_manifest

S = 64


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch = pytest.importorskip("torch")
    from radseg.training.click.model import ClickUNet

    folder = tmp_path_factory.mktemp("body_model")
    torch.manual_seed(0)
    net = ClickUNet(in_channels=1, width=2).eval()
    manifest = default_body_manifest(S)
    # Untrained logits are all of one sign; centre them on real inputs so that masks are partial and differ from
    # slice to slice (else "equals per slice" would compare empty masks).
    x, _ = P.make_inputs(list(ct_volume(5)), "CT", (1.0, 1.0), manifest)
    with torch.no_grad():
        net.head.bias -= float(net(torch.from_numpy(x)).median())
    kwargs = dict(input_names=[manifest.input_name], output_names=[manifest.output_name], opset_version=17,
                  dynamic_axes={manifest.input_name: {0: "batch"}, manifest.output_name: {0: "batch"}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(net, (torch.zeros(1, 1, S, S),), str(folder / "model.onnx"), dynamo=False, **kwargs)
        except TypeError:  # a torch without the dynamo argument
            torch.onnx.export(net, (torch.zeros(1, 1, S, S),), str(folder / "model.onnx"), **kwargs)
    manifest.to_json(folder / "manifest.json")
    return folder


@pytest.fixture(scope="module")
def body(model_dir):
    return radseg.load(model_dir, backend="onnxruntime-cpu", threads=1)


def ct_volume(n=5, rows=48, cols=72, seed=0) -> np.ndarray:
    """Slices [n, rows, cols] in HU: an ellipse body (about -50 HU) in air, a different size on each slice."""
    y, x = np.mgrid[:rows, :cols]
    rng = np.random.default_rng(seed)
    vol = np.full((n, rows, cols), -1000.0, np.float32)
    for k in range(n):
        body = ((y - rows / 2) / (rows * (0.25 + 0.03 * k))) ** 2 + ((x - cols / 2) / (cols * 0.35)) ** 2 <= 1
        vol[k][body] = -50.0
    return vol + rng.normal(0, 20, vol.shape).astype(np.float32)


def test_load_gives_a_body_model(body):
    from radseg.body.model import BodyModel

    assert isinstance(body, BodyModel) and body.task == "body"
    assert body.manifest.task == "body" and body.manifest.in_channels == 1 and body.manifest.input_size == S


def test_segment_a_slice(body):
    img = ct_volume(1)[0]
    out = body.segment(img, spacing=(1.0, 0.8), modality="CT")
    assert out.dtype == np.bool_ and out.shape == img.shape


def test_segment_a_volume_equals_per_slice(body):
    vol = ct_volume(4)
    out = body.segment(vol, spacing=(3.0, 1.0, 0.8), modality="CT")
    assert out.dtype == np.bool_ and out.shape == vol.shape
    assert 0.05 < out.mean() < 0.95 and len({out[k].tobytes() for k in range(len(vol))}) == len(vol)
    for k in range(len(vol)):
        np.testing.assert_array_equal(out[k], body.segment(vol[k], spacing=(1.0, 0.8), modality="CT"))


def test_batch_sizes_agree_and_progress_is_reported(body):
    vol = ct_volume(5)
    seen = []
    a = body.segment(vol, spacing=(3.0, 1.0, 1.0), modality="CT", batch=1)
    b = body.segment(vol, spacing=(3.0, 1.0, 1.0), modality="CT", batch=3, progress=lambda d, t: seen.append((d, t)))
    np.testing.assert_array_equal(a, b)
    assert seen == [(3, 5), (5, 5)]


def test_mr_and_case_insensitive_modality(body):
    mr = np.abs(ct_volume(2) + 1000.0)  # raw MR-like units, >= 0
    out = body.segment(mr, spacing=(3.0, 1.0, 1.0), modality="mr")
    assert out.shape == mr.shape
    np.testing.assert_array_equal(out, body.segment(mr, spacing=(3.0, 1.0, 1.0), modality="MR"))


def test_missing_spacing_or_modality_warns(body):
    img = ct_volume(1)[0]
    with pytest.warns(RadsegWarning, match="spacing"):
        a = body.segment(img, modality="CT")
    with pytest.warns(RadsegWarning, match="modality"):
        b = body.segment(img, spacing=(1.0, 1.0))
    np.testing.assert_array_equal(a, b)  # the defaults are 1 mm and CT
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        body.segment(img, spacing=(1.0, 1.0), modality="CT")  # nothing to say


def test_ct_not_in_hounsfield_units_warns(body):
    raw = np.clip(ct_volume(1)[0] + 1024.0, 0, None)  # stored values, never rescaled
    with pytest.warns(RadsegWarning, match="RescaleSlope"):
        body.segment(raw, spacing=(1.0, 1.0), modality="CT")


def test_bad_inputs_are_refused(body):
    img = ct_volume(1)[0]
    with pytest.raises(ValueError, match="slice .* or a volume"):
        body.segment(img[None, None], spacing=(1.0, 1.0, 1.0), modality="CT")
    with pytest.raises(ValueError, match="slice .* or a volume"):
        body.segment(img[0], spacing=(1.0,), modality="CT")
    bad = img.copy()
    bad[3, 4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        body.segment(bad, spacing=(1.0, 1.0), modality="CT")
    with pytest.raises(ValueError, match="NaN"):
        body.segment(np.stack([img, bad]), spacing=(3.0, 1.0, 1.0), modality="CT")
    with pytest.raises(ValueError, match="unknown modality"):
        body.segment(img, spacing=(1.0, 1.0), modality="PET")
    for batch in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="batch"):
            body.segment(img, spacing=(1.0, 1.0), modality="CT", batch=batch)
    with pytest.raises(TypeError):
        body.segment(img > 0, spacing=(1.0, 1.0), modality="CT")
    with pytest.raises(ValueError):
        body.segment(img, spacing=(1.0, 1.0, 1.0, 1.0), modality="CT")


# ---- radseg.body.preprocess --------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape, spacing", [((50, 120), (2.0, 0.7)), ((120, 50), (0.5, 3.0)), ((64, 64), (1.0, 1.0)),
                                            ((33, 200), (1.0, 1.0)), ((7, 3), (0.9, 2.5))])
def test_whole_slice_box_holds_the_whole_slice(shape, spacing):
    box = P.whole_slice_box(shape, spacing, S)
    rows, cols = shape
    eps = 1e-9
    assert box.out_size == S
    assert box.row0 <= eps and box.row0 + box.size_rows >= rows - eps
    assert box.col0 <= eps and box.col0 + box.size_cols >= cols - eps
    side = max(rows * spacing[0], cols * spacing[1])  # square in mm, the slice's longer side
    assert box.size_rows * spacing[0] == pytest.approx(side) and box.size_cols * spacing[1] == pytest.approx(side)
    assert box.row0 + box.size_rows / 2 == pytest.approx(rows / 2)  # centred
    assert box.col0 + box.size_cols / 2 == pytest.approx(cols / 2)


@pytest.mark.parametrize("shape, spacing", [((50, 120), (2.0, 0.7)), ((120, 50), (0.5, 3.0))])
def test_make_input_is_zero_outside_the_slice(shape, spacing):
    img = np.random.default_rng(0).normal(0, 200, shape).astype(np.float32) - 300
    x, box = P.make_input(img, "CT", spacing, default_body_manifest(S))
    assert x.shape == (S, S) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    centres = box.to_image(np.stack(np.mgrid[:S, :S], -1).reshape(-1, 2)).reshape(S, S, 2)
    outside = ((centres[..., 0] < -1) | (centres[..., 0] > shape[0]) | (centres[..., 1] < -1)
               | (centres[..., 1] > shape[1]))
    assert outside.any() and not x[outside].any()


def test_make_inputs_stacks():
    vol = ct_volume(3)
    x, boxes = P.make_inputs(list(vol), "CT", (1.0, 1.0), default_body_manifest(S))
    assert x.shape == (3, 1, S, S) and x.dtype == np.float32 and x.flags.c_contiguous and len(boxes) == 3


@pytest.mark.parametrize("shape, spacing", [((50, 120), (2.0, 0.7)), ((120, 50), (0.5, 3.0)), ((7, 3), (1.0, 1.0))])
def test_masks_from_logits_constant(shape, spacing):
    man = default_body_manifest(S)
    boxes = [P.whole_slice_box(shape, spacing, S)] * 2
    pos = P.masks_from_logits(np.full((2, 1, S, S), 3.0, np.float32), boxes, shape, man)
    assert pos.dtype == np.bool_ and pos.shape == (2, *shape) and pos.all()
    neg = P.masks_from_logits(np.full((2, 1, S, S), -3.0, np.float32), boxes, shape, man)
    assert neg.shape == (2, *shape) and not neg.any()


def test_masks_from_logits_fills_holes_when_the_manifest_says_so():
    shape, man = (64, 64), default_body_manifest(S)
    box = P.whole_slice_box(shape, (1.0, 1.0), S)
    y, x = np.mgrid[:S, :S]
    r2 = (y - 31.5) ** 2 + (x - 31.5) ** 2
    ring = np.where((r2 < 20 ** 2) & (r2 > 8 ** 2), 5.0, -5.0).astype(np.float32)[None, None]
    filled = P.masks_from_logits(ring, [box], shape, man)[0]
    assert filled[32, 32] and filled.sum() > 0.9 * np.pi * 20 ** 2
    kept = P.masks_from_logits(ring, [box], shape, man.replace(postprocess={"fill_holes": False}))[0]
    assert not kept[32, 32] and kept.sum() < filled.sum()


def test_drop_thin_components_keeps_the_body_and_thick_parts():
    from radseg.body.preprocess import drop_thin_components

    mask = np.zeros((120, 120), bool)
    mask[20:80, 20:100] = True            # the trunk (the largest component)
    mask[30:50, 104:116] = True           # an arm, 12 px = 12 mm thick
    mask[95:97, 10:110] = True            # a couch shell, 2 mm thick
    out = drop_thin_components(mask, (1.0, 1.0), 8.0)
    assert out[20:80, 20:100].all() and out[30:50, 104:116].all()
    assert not out[95:97].any()
    assert np.array_equal(drop_thin_components(mask, (1.0, 1.0), 0.0), mask)        # off
    thin_only = np.zeros((40, 40), bool)
    thin_only[10:12, 5:35] = True          # the only component is never dropped
    assert np.array_equal(drop_thin_components(thin_only, (1.0, 1.0), 8.0), thin_only)
    # in mm: the same arm on a 0.5 mm grid is 6 mm thick and goes
    assert not drop_thin_components(mask, (0.5, 0.5), 8.0)[30:50, 104:116].any()


def test_drop_airy_components_removes_an_outlined_couch_on_ct():
    from radseg.body.preprocess import drop_airy_components

    image = np.full((100, 100), -1000.0, np.float32)
    mask = np.zeros((100, 100), bool)
    mask[10:60, 10:90] = True
    image[10:60, 10:90] = 30.0            # the trunk
    mask[20:40, 92:99] = True
    image[20:40, 92:99] = 40.0            # an arm
    mask[70:85, 5:95] = True              # a couch: foam inside a thin shell
    image[70:85, 5:95] = -900.0
    image[70, 5:95] = image[84, 5:95] = 200.0
    out = drop_airy_components(mask, image, -300.0)
    assert out[10:60, 10:90].all() and out[20:40, 92:99].all() and not out[70:85].any()
    lung = mask.copy()
    image2 = image.copy()
    image2[10:60, 10:90] = -800.0         # the largest component is kept whatever it holds
    assert drop_airy_components(lung, image2, -300.0)[10:60, 10:90].all()


def test_default_body_manifest_drops_airy_components_on_ct_only():
    from radseg.body.preprocess import masks_from_logits, whole_slice_box
    from radseg.manifest import default_body_manifest

    m = default_body_manifest(32)
    box = whole_slice_box((32, 32), (1.0, 1.0), 32)
    logits = np.full((1, 1, 32, 32), -5.0, np.float32)
    logits[..., 2:20, 2:30] = 5.0
    logits[..., 24:30, 2:30] = 5.0
    image = np.full((1, 32, 32), 30.0, np.float32)
    image[0, 22:32] = -900.0
    ct = masks_from_logits(logits, [box], (32, 32), m, (1.0, 1.0), image, "CT")[0]
    mr = masks_from_logits(logits, [box], (32, 32), m, (1.0, 1.0), image, "MR")[0]
    assert not ct[24:30].any() and mr[25:29, 3:29].all()


def test_bundled_body_model_outlines_a_real_ct_and_head():
    import radseg
    from radseg.eval.body import reference_cases
    from radseg.metrics import dice
    from tests.conftest import shared_data

    root = shared_data("body_refs").parent
    model = radseg.load("body")
    assert model.manifest.task == "body" and model.manifest.postprocess.get("ct_min_median_hu") == -300.0
    assert model.manifest.postprocess.get("min_thickness_mm") == 8.0
    cases = {c.name: c for c in reference_cases(root)}
    ct = cases["ct_visible_human"]
    out = model.segment(ct.image, spacing=ct.spacing, modality="CT")
    assert out.shape == ct.ref.shape and out.dtype == bool
    assert dice(out, ct.ref) > 0.97            # measured 0.987 (model card)
    head = cases["mr_mne_sample"]
    k = head.image.shape[0] // 2
    assert dice(model.segment(head.image[k], spacing=head.spacing[1:], modality="MR"), head.ref[k]) > 0.95
