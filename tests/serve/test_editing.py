"""`radseg.serve.editing.Editing`, the state behind one viewer session, on a real CHAOS MR volume with the
bundled models: undo order, clicks that keep a slice's mask, cancelled work that changes nothing, reset, layers.
"""
from __future__ import annotations

import threading

import numpy as np
import pytest

from tests.serve.conftest import liver_point

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def models():
    import radseg
    from radseg.serve.editing import Models

    return Models(radseg.load("click"), radseg.load("propagation"), radseg.load("body"))


@pytest.fixture(scope="module")
def volume(chaos_folder):
    import radseg.dicom as rd

    return rd.read_series(sorted((chaos_folder / "dicom").rglob("*.dcm")))


@pytest.fixture
def editing(volume, models):
    from radseg.serve.editing import Editing

    return Editing(volume, models)


def test_a_negative_click_alone_keeps_the_slices_mask_and_says_why(editing):
    from radseg.serve.editing import NO_POSITIVE_CLICK

    k, r, c = liver_point()
    editing.click(k, r, c)
    editing.propagate(k)
    before = editing.structure[k + 1].copy()
    assert before.any()
    from radseg.errors import RadsegWarning

    with pytest.warns(RadsegWarning, match="positive"):  # the SDK's own warning; the server ignores it
        shown = editing.click(k + 1, r, c, positive=False)  # a fresh slice: its first click is negative
    assert np.array_equal(shown, before) and editing.last_warnings == [NO_POSITIVE_CLICK]
    assert editing.undo() == "click" and np.array_equal(editing.structure[k + 1], before)


def test_undo_walks_back_each_kind_of_action_in_order(editing):
    from radseg.serve.editing import StateError

    k, r, c = liver_point()
    first = editing.click(k, r, c)
    editing.propagate(k)
    after_propagation = editing.structure.copy()
    editing.body()
    assert [editing.undo() for _ in range(2)] == ["body", "propagate"]
    assert editing.body_mask is None and editing.state()["propagated"] is False
    assert np.array_equal(editing.structure[k], first) and editing.state()["slices"] == {k: int(first.sum())}
    assert after_propagation.sum() > first.sum()
    assert editing.undo() == "click" and not editing.structure.any()
    with pytest.raises(StateError, match="nothing to undo"):
        editing.undo()


def test_cancelled_propagation_and_body_change_nothing(editing):
    from radseg.serve.editing import Cancelled

    k, r, c = liver_point()
    editing.click(k, r, c)
    before = editing.structure.copy()
    gone = threading.Event()
    gone.set()
    with pytest.raises(Cancelled):
        editing.propagate(k, gone)
    with pytest.raises(Cancelled):
        editing.body(gone)
    assert np.array_equal(editing.structure, before) and editing.body_mask is None
    assert editing.undo_kind() == "click" and editing.state()["propagated"] is False


def test_a_cancelled_correction_leaves_the_run_as_it_was(editing):
    from radseg.serve.editing import Cancelled

    k, r, c = liver_point()
    editing.click(k, r, c)
    editing.propagate(k)
    editing.click(k + 2, r, c)
    before = editing.structure.copy()
    gone = threading.Event()
    gone.set()
    with pytest.raises(Cancelled):
        editing.correct(k + 2, gone)
    assert np.array_equal(editing.structure, before) and editing.state()["anchors"] == [k]


def test_reset_clears_masks_clicks_and_history(editing):
    k, r, c = liver_point()
    editing.click(k, r, c)
    editing.body()
    editing.reset()
    state = editing.state()
    assert not editing.structure.any() and editing.body_mask is None and editing.masks() == {}
    assert state["clicks"] == {} and state["undo"] is None and state["voxels"] == 0


def test_wrong_order_and_bad_values_are_said_plainly(editing):
    from radseg.serve.editing import EditError, StateError

    with pytest.raises(StateError, match="click first"):
        editing.drag(10, 10)
    with pytest.raises(StateError, match="propagate"):
        editing.correct(3)
    with pytest.raises(StateError, match="no mask"):
        editing.propagate(3)
    with pytest.raises(EditError, match="outside the volume"):
        editing.click(editing.shape[0], 1, 1)
    with pytest.raises(EditError, match="outside the image"):
        editing.click(0, 1e6, 1)
    with pytest.raises(EditError, match="whole number"):
        editing.click(1.5, 1, 1)
    with pytest.raises(EditError, match="unknown layer"):
        editing.layer("kidney")


def test_a_missing_model_refuses_its_action(volume, models):
    from radseg.serve.editing import Editing, Models, StateError

    editing = Editing(volume, Models(models.click))
    k, r, c = liver_point()
    editing.click(k, r, c)
    with pytest.raises(StateError, match="propagation model is not loaded"):
        editing.propagate(k)
    with pytest.raises(StateError, match="body model is not loaded"):
        editing.body()
