"""PropagationModel / PropagationRun through radseg.load on a real (tiny, hand-weighted) ONNX model.

The tiny net (tests/propagation/tiny_model.py) keeps what is bright and near its prior, so on `blob_volume()` (a
100 HU blob in air on slices 8..31) propagation from the middle follows the blob and vanishes at its ends: a known
answer for the session's state (anchors, corrections, undo, stops) and its refusals.
"""
import warnings

import numpy as np
import pytest

import radseg
from radseg.metrics import dice
from tests.propagation.tiny_model import blob_volume, make_tiny_propagation_dir

pytest.importorskip("onnxruntime")
pytest.importorskip("torch")

SEED = 20
FIRST, LAST = 8, 31  # the blob's slices in blob_volume()


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return radseg.load(make_tiny_propagation_dir(tmp_path_factory.mktemp("tiny_prop")), threads=1)


@pytest.fixture(scope="module")
def blob():
    return blob_volume()


@pytest.fixture
def run(model, blob):
    vol, gt, spacing = blob
    r = model.start(vol, spacing=spacing, modality="CT")
    r.propagate(SEED, gt[SEED])
    return r


def _state(run):
    return run.masks, run.anchors, run.stopped


def _assert_state(run, before):
    masks, anchors, stopped = before
    np.testing.assert_array_equal(run.masks, masks)
    assert sorted(run.anchors) == sorted(anchors)
    for k, m in anchors.items():
        np.testing.assert_array_equal(run.anchors[k], m)
    assert run.stopped == stopped


# ---- propagate ---------------------------------------------------------------------------------------------------
def test_propagate_follows_the_blob_and_stops_vanished_at_both_ends(model, blob):
    vol, gt, spacing = blob
    run = model.start(vol, spacing=spacing, modality="CT")
    assert run.shape == vol.shape and run.spacing == spacing and run.modality == "CT"
    masks = run.propagate(SEED, gt[SEED])
    assert masks.dtype == bool and masks.shape == vol.shape
    assert dice(masks, gt) > 0.95
    assert not masks[:FIRST].any() and not masks[LAST + 1:].any()
    assert all(dice(masks[k], gt[k]) > 0.95 for k in range(FIRST, LAST + 1))
    assert run.stopped["up"]["last"] == LAST and run.stopped["up"]["reason"] == "vanished"
    assert run.stopped["down"]["last"] == FIRST and run.stopped["down"]["reason"] == "vanished"
    assert run.stopped["up"]["area_mm2"] == pytest.approx(masks[LAST].sum() * 0.64, abs=0.1)
    assert list(run.anchors) == [SEED]
    np.testing.assert_array_equal(run.anchors[SEED], gt[SEED])
    np.testing.assert_array_equal(masks[SEED], gt[SEED])
    # both directions went as one batch of two: 11 steps of two (down to 9 / up to 31), then 8 alone
    assert run.last_stats == {"slices_written": LAST - FIRST, "network_steps": 13, "slices_predicted": 25}


def test_anisotropic_spacing_still_follows_the_blob(model):
    vol, gt, spacing = blob_volume(spacing=(5.0, 0.7, 1.4))
    run = model.start(vol, spacing=spacing, modality="CT")
    masks = run.propagate(SEED, gt[SEED])
    assert dice(masks, gt) > 0.95
    assert (run.stopped["down"]["last"], run.stopped["up"]["last"]) == (FIRST, LAST)
    assert {s["reason"] for s in run.stopped.values()} == {"vanished"}


def test_mr_and_integer_volumes(model, blob):
    vol, gt, spacing = blob
    run = model.start(vol.astype(np.int16), spacing=spacing, modality="mr")  # the volume's own percentiles
    assert run.modality == "MR"
    assert dice(run.propagate(np.int64(SEED), gt[SEED].astype(np.uint8)), gt) > 0.95


def test_seed_at_the_volume_end_and_two_slice_volumes(model, blob):
    vol, gt, spacing = blob
    # the blob's upper half, from its widest slice (the tiny net follows a shrinking structure, not a growing one)
    run = model.start(vol[SEED:LAST + 1], spacing=spacing, modality="CT")
    masks = run.propagate(0, gt[SEED])
    assert run.stopped["down"] == {"last": 0, "reason": "volume end", "area_mm2": round(gt[SEED].sum() * 0.64, 1)}
    assert run.stopped["up"]["last"] == LAST - SEED and run.stopped["up"]["reason"] == "volume end"
    assert dice(masks, gt[SEED:LAST + 1]) > 0.95
    two = model.start(vol[SEED:SEED + 2], spacing=spacing, modality="CT")
    assert two.propagate(1, gt[SEED + 1])[0].any()
    assert two.last_stats["network_steps"] == 1


def test_progress_gets_done_and_total_and_may_cancel(model, blob):
    vol, gt, spacing = blob
    run = model.start(vol, spacing=spacing, modality="CT")
    seen = []
    run.propagate(SEED, gt[SEED], progress=lambda d, t: seen.append((d, t)))
    assert seen[0] == (2, vol.shape[0] - 1) and len(seen) == 13
    assert seen[-1][0] == seen[-1][1] == 25  # the total ends full when the structure ends before the volume
    masks = run.propagate(SEED, gt[SEED], progress=lambda d, t: d < 6)  # cancel after three steps
    assert run.stopped["up"] == {"last": SEED + 3, "reason": "cancelled",
                                 "area_mm2": round(masks[SEED + 3].sum() * 0.64, 1)}
    assert run.stopped["down"]["last"] == SEED - 3 and run.stopped["down"]["reason"] == "cancelled"
    assert masks[SEED - 3:SEED + 4].any(axis=(1, 2)).all()  # what was done is kept
    assert not masks[SEED + 4:].any() and not masks[:SEED - 3].any()


def test_propagate_on_a_used_run_starts_over(run, model, blob):
    vol, gt, spacing = blob
    run.correct(25, gt[25])
    run.correct(12, np.zeros(gt[12].shape, bool))
    masks = run.propagate(15, gt[15])
    fresh = model.start(vol, spacing=spacing, modality="CT")
    np.testing.assert_array_equal(masks, fresh.propagate(15, gt[15]))
    assert list(run.anchors) == [15] and run.stopped == fresh.stopped
    with pytest.raises(ValueError, match="no correction to undo"):
        run.undo()  # the corrections belonged to the old run


def test_returned_arrays_are_copies(run):
    before = _state(run)
    run.masks[:] = True
    run.anchors[SEED][:] = False
    run.stopped["up"]["last"] = -5
    _assert_state(run, before)


# ---- correct / undo ----------------------------------------------------------------------------------------------
def test_correct_reruns_only_the_slices_up_to_the_next_anchors(run, blob):
    _, gt, _ = blob
    before = run.masks
    run.correct(25, gt[25])
    after25 = run.masks
    # up from 25 the new mask agrees with the old one at once (converged at 26); down it runs to the seed (20)
    assert run.last_stats["network_steps"] == 4 and run.last_stats["slices_predicted"] == 5
    np.testing.assert_array_equal(after25[:SEED + 1], before[:SEED + 1])  # the seed and below: untouched
    np.testing.assert_array_equal(after25[27:], before[27:])  # past the converged slice: untouched
    np.testing.assert_array_equal(after25[25], gt[25])
    assert sorted(run.anchors) == [SEED, 25]
    # between two anchors: only 26..27 below, 29.. above
    shifted = np.roll(gt[28], 3, axis=1)
    masks = run.correct(28, shifted)
    np.testing.assert_array_equal(masks[:26], after25[:26])
    np.testing.assert_array_equal(masks[28], shifted)
    # 27 and 26 below (then the anchor at 25); 29, 30, 31 above, where the shifted mask has drifted back onto the
    # blob and agrees with the old mask (converged)
    assert run.last_stats == {"slices_written": 5, "network_steps": 3, "slices_predicted": 5}
    np.testing.assert_array_equal(masks[32:], after25[32:])
    assert sorted(run.anchors) == [SEED, 25, 28]
    np.testing.assert_array_equal(run.anchors[SEED], gt[SEED])  # anchors are never overwritten by propagation


def test_correct_stops_early_where_it_converges(run, blob):
    _, gt, _ = blob
    before = _state(run)
    masks = run.correct(12, before[0][12])  # the run's own mask: below it nothing changes
    # down: 11 agrees with the old mask at once; up: 13..19, up to the seed (the tiny net does not follow growth)
    assert run.last_stats == {"slices_written": 8, "network_steps": 7, "slices_predicted": 8}
    np.testing.assert_array_equal(masks[:12], before[0][:12])
    assert run.stopped == before[2]  # a converged stop leaves the structure's extent as it was
    assert sorted(run.anchors) == [12, SEED]


def test_correct_at_an_anchor_replaces_it(run, blob):
    _, gt, _ = blob
    smaller = gt[SEED] & np.roll(gt[SEED], 4, axis=0)
    run.correct(SEED, smaller)
    assert list(run.anchors) == [SEED]
    np.testing.assert_array_equal(run.anchors[SEED], smaller)
    np.testing.assert_array_equal(run.masks[SEED], smaller)


def test_correct_with_an_empty_mask_clears_towards_the_volume_end(run, blob):
    _, gt, _ = blob
    before = _state(run)
    masks = run.correct(28, np.zeros(gt[28].shape, bool))
    assert not masks[28:].any()
    np.testing.assert_array_equal(masks[:28], before[0][:28])  # towards the seed: kept
    assert run.stopped["up"] == {"last": 28, "reason": "vanished", "area_mm2": 0.0}
    assert run.stopped["down"] == before[2]["down"]
    assert sorted(run.anchors) == [SEED, 28] and not run.anchors[28].any()
    assert run.last_stats == {"slices_written": 11, "network_steps": 0, "slices_predicted": 0}
    # an empty correction between two anchors touches that slice only
    run.correct(24, gt[24])
    mid = run.masks
    masks = run.correct(22, np.zeros(gt[22].shape, bool))
    assert not masks[22].any()
    np.testing.assert_array_equal(np.delete(masks, 22, axis=0), np.delete(mid, 22, axis=0))


def test_an_empty_correction_at_the_only_anchor_clears_the_run(run, blob):
    _, gt, _ = blob
    before = _state(run)
    masks = run.correct(SEED, np.zeros(gt[SEED].shape, bool))
    assert not masks.any() and list(run.anchors) == [SEED]
    assert run.stopped == {d: {"last": SEED, "reason": "vanished", "area_mm2": 0.0} for d in ("up", "down")}
    run.undo()
    _assert_state(run, before)


def test_correct_that_vanishes_early_clears_what_the_old_run_found_beyond(run, blob):
    _, gt, _ = blob
    before = _state(run)
    air = np.zeros(gt[29].shape, bool)
    air[2:12, 2:12] = True  # drawn on air: the net cannot follow it to either side
    masks = run.correct(29, air)
    assert run.stopped["up"] == {"last": 29, "reason": "vanished", "area_mm2": 64.0}
    assert not masks[30:].any()  # 30..31 held the old run's blob: the structure now ends at 29
    np.testing.assert_array_equal(masks[:29], before[0][:29])  # towards the seed anchor: kept
    assert run.last_stats["slices_written"] == 2
    run.undo()
    _assert_state(run, before)


def test_undo_restores_exactly(run, blob):
    _, gt, _ = blob
    s0 = _state(run)
    run.correct(25, np.roll(gt[25], 5, axis=1))
    s1 = _state(run)
    run.correct(12, np.zeros(gt[12].shape, bool))  # also changes stopped["down"]
    assert run.stopped != s1[2]
    masks = run.undo()
    np.testing.assert_array_equal(masks, s1[0])
    _assert_state(run, s1)
    run.undo()
    _assert_state(run, s0)
    with pytest.raises(ValueError, match="no correction to undo"):
        run.undo()
    _assert_state(run, s0)


def test_undo_of_a_correction_at_an_existing_anchor(run, blob):
    _, gt, _ = blob
    s0 = _state(run)
    run.correct(SEED, gt[SEED] & np.roll(gt[SEED], 6, axis=1))
    run.undo()
    _assert_state(run, s0)


# ---- refusals ----------------------------------------------------------------------------------------------------
def test_correct_before_propagate_and_undo_on_a_fresh_run(model, blob):
    vol, gt, spacing = blob
    run = model.start(vol, spacing=spacing, modality="CT")
    with pytest.raises(ValueError, match="call propagate"):
        run.correct(SEED, gt[SEED])
    with pytest.raises(ValueError, match="no correction to undo"):
        run.undo()
    assert not run.masks.any() and run.anchors == {} and run.stopped == {}


@pytest.mark.parametrize("call, err, match", [
    (lambda r, gt: r.propagate(SEED, gt[SEED][:-1]), ValueError, r"mask has shape \(95, 96\)"),
    (lambda r, gt: r.propagate(SEED, gt[SEED - 1:SEED + 1]), ValueError, "mask has shape"),
    (lambda r, gt: r.propagate(SEED, np.zeros_like(gt[SEED])), ValueError, "seed mask is empty"),
    (lambda r, gt: r.propagate(SEED, gt[SEED].astype(np.float32)), TypeError, "bool or integer"),
    (lambda r, gt: r.propagate(40, gt[SEED]), ValueError, r"index 40 is outside the volume's 40 slices"),
    (lambda r, gt: r.propagate(-1, gt[SEED]), ValueError, "outside the volume"),
    (lambda r, gt: r.propagate(20.0, gt[SEED]), TypeError, "must be an integer"),
    (lambda r, gt: r.propagate("20", gt[SEED]), TypeError, "must be an integer"),
    (lambda r, gt: r.propagate(True, gt[SEED]), TypeError, "must be an integer"),
    (lambda r, gt: r.propagate(SEED, gt[SEED], progress=5), TypeError, "progress must be"),
    (lambda r, gt: r.correct(40, gt[SEED]), ValueError, "outside the volume"),
    (lambda r, gt: r.correct(np.float64(3), gt[3]), TypeError, "must be an integer"),
    (lambda r, gt: r.correct(25, gt[25] * 0.5), TypeError, "bool or integer"),
    (lambda r, gt: r.correct(25, gt[25].T[:, :50]), ValueError, "mask has shape"),
    (lambda r, gt: r.correct(25, gt[25], progress="bar"), TypeError, "progress must be"),
])
def test_bad_arguments_raise_and_leave_the_run_unchanged(run, blob, call, err, match):
    _, gt, _ = blob
    before = _state(run)
    with pytest.raises(err, match=match):
        call(run, gt)
    _assert_state(run, before)


def test_a_failing_progress_callback_leaves_the_run_unchanged(run, blob):
    _, gt, _ = blob
    before = _state(run)

    def boom(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run.correct(25, np.roll(gt[25], 4, axis=0), progress=boom)
    _assert_state(run, before)
    with pytest.raises(KeyboardInterrupt):
        run.propagate(15, gt[15], progress=boom)
    _assert_state(run, before)
    with pytest.raises(ValueError, match="no correction to undo"):
        run.undo()


@pytest.mark.parametrize("volume, kw, err, match", [
    (np.zeros((1, 32, 32), np.float32), {}, ValueError, "1 slice: there is nothing to propagate"),
    (np.zeros((32, 32), np.float32), {}, ValueError, r"3D \[slices, rows, cols\]"),
    (np.zeros((4, 4, 32), np.float32), {}, ValueError, r"each side must lie in \[8, 8192\]"),
    (np.zeros((4, 32, 32), bool), {}, TypeError, "real-valued"),
    ("nan", {}, ValueError, "NaN or inf values .first at slice 2, row 3, col 4"),
    (None, {"spacing": (0.0, 1.0, 1.0)}, ValueError, "positive and finite"),
    (None, {"spacing": (1.0, float("nan"), 1.0)}, ValueError, "positive and finite"),
    (None, {"spacing": (1.0, 1.0)}, ValueError, "3 entries"),
    (None, {"spacing": "thin"}, ValueError, "spacing must be"),
    (None, {"modality": "PET"}, ValueError, r"unknown modality 'PET'; this model supports \['CT', 'MR'\]"),
    (None, {"modality": 1}, TypeError, "modality must be a string"),
])
def test_bad_volumes_spacing_and_modality_are_refused(model, volume, kw, err, match):
    if volume is None:
        volume = np.full((4, 32, 32), -1000.0, np.float32)
    elif isinstance(volume, str):
        volume = np.full((4, 32, 32), -1000.0, np.float32)
        volume[2, 3, 4] = np.nan
    args = {"spacing": (2.0, 1.0, 1.0), "modality": "CT", **kw}
    with pytest.raises(err, match=match):
        model.start(volume, **args)


# ---- warnings ----------------------------------------------------------------------------------------------------
def test_no_warning_when_everything_is_given(model, blob):
    vol, _, spacing = blob
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.start(vol, spacing=spacing, modality="CT")


def test_missing_spacing_or_modality_warns_and_assumes(model, blob):
    vol, gt, _ = blob
    with pytest.warns(radseg.RadsegWarning, match="no voxel spacing given: assuming 1 mm") as rec:
        run = model.start(vol, modality="CT")
    assert run.spacing == (1.0, 1.0, 1.0)
    assert rec[0].filename == __file__  # it points at the caller's line
    with pytest.warns(radseg.RadsegWarning, match="no modality given: assuming CT"):
        run = model.start(vol, spacing=(2.0, 0.8, 0.8))
    assert run.modality == "CT"


def test_raw_ct_values_warn(model, blob):
    vol, gt, spacing = blob
    with pytest.warns(radseg.RadsegWarning, match="no value below 0.*raw stored pixel values") as rec:
        model.start(vol + 1024.0, spacing=spacing, modality="CT")
    assert rec[0].filename == __file__
    with pytest.warns(radseg.RadsegWarning, match="unsigned dtype uint16"):
        model.start((vol + 1024).astype(np.uint16), spacing=spacing, modality="CT")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.start(vol + 1024.0, spacing=spacing, modality="MR")  # MR has no units to check


def test_model_refuses_other_manifests(model):
    from radseg.propagation.session import PropagationModel

    with pytest.raises(ValueError, match="needs a propagation manifest"):
        PropagationModel(model.runtime, model.manifest.replace(task="click"))
    with pytest.raises(ValueError, match="2 input channels"):
        PropagationModel(model.runtime, model.manifest.replace(in_channels=3))
    with pytest.raises(TypeError, match="must be a ModelManifest"):
        PropagationModel(model.runtime, model.manifest.to_dict())
    assert isinstance(model, PropagationModel) and model.backend.startswith("onnxruntime")
    assert model.modalities == ["CT", "MR"] and "PropagationModel(" in repr(model)


# ---- the leak safeguard, with a net that ignores its prior ------------------------------------------------------
class ImageOnlyRuntime:
    """A backend (anything with run(feeds) -> outputs) whose net segments whatever is bright in its crop."""

    name = "numpy (test)"

    def __init__(self, manifest):
        self.manifest = manifest

    def run(self, feeds):
        x = feeds[self.manifest.input_name]
        return {self.manifest.output_name: 20.0 * x[:, :1] - 10.0}


def test_a_jump_in_area_stops_as_a_leak_and_that_slice_is_not_kept(blob):
    from radseg.manifest import default_propagation_manifest
    from radseg.propagation.session import PropagationModel

    vol, gt, spacing = blob
    vol = vol.copy()
    vol[26:] = 100.0  # from slice 26 up the blob runs into something bright that fills every slice
    m = default_propagation_manifest(32).replace(intensity={"CT": {"method": "window", "low": 0.0, "high": 100.0}})
    model = PropagationModel(ImageOnlyRuntime(m), m)
    run = model.start(vol, spacing=spacing, modality="CT")
    masks = run.propagate(SEED, gt[SEED])
    assert run.stopped["up"] == {"last": 25, "reason": "leak", "area_mm2": round(masks[25].sum() * 0.64, 1)}
    assert not masks[26:].any()
    assert dice(masks[SEED:26], gt[SEED:26]) > 0.95
    assert run.stopped["down"]["reason"] == "vanished" and run.stopped["down"]["last"] == FIRST
    # a correction below the leak meets it again
    run.correct(24, gt[24])
    assert run.stopped["up"]["reason"] == "leak" and not run.masks[26:].any()
    before = run.masks
    square = np.zeros(gt[30].shape, bool)
    square[40:56, 40:56] = True
    run.correct(30, square)  # the net fills each crop, 1.75 times wider than its prior: a leak at once, both ways
    assert run.stopped["up"] == {"last": 30, "reason": "leak", "area_mm2": round(square.sum() * 0.64, 1)}
    assert not run.masks[31:].any()
    np.testing.assert_array_equal(run.masks[:30], before[:30])
