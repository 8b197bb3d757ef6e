"""Evaluation cases from the real data: held-out patients, unseen structures, deterministic slice choice."""
import numpy as np
import pytest

from radseg.eval.datasets import even_subset, find_data_root, labelled_cases, totalseg_cases
from radseg.eval.splits import heldout
from tests.conftest import shared_data

pytest.importorskip("nibabel")


def test_even_subset():
    items = list(range(10))
    assert even_subset(items, None) == items and even_subset(items, 20) == items
    assert even_subset(items, 3) == [1, 5, 8]
    assert even_subset(items, 1) == [5]
    assert even_subset(items, 3) == even_subset(items, 3)
    assert len(even_subset(items, 4)) == 4


def test_find_data_root_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="--data"):
        find_data_root(tmp_path / "nope")
    assert find_data_root(tmp_path) == tmp_path.resolve()


def test_btcv_cases_are_hu_slices_with_the_structure():
    root = shared_data().resolve()
    cases = list(labelled_cases("btcv", root, ["sabs_02"], group="btcv_heldout", max_slices=2))
    names = {c.structure for c in cases}
    assert len(names) >= 12 and all(sum(c.structure == n for c in cases) <= 2 for n in names)
    for c in cases:
        assert c.gt.any() and c.gt.shape == c.image.shape
        assert -125.5 <= c.image.min() and c.image.max() <= 275.5  # the stored HU window
        assert c.modality == "CT" and c.seen and c.group == "btcv_heldout"
        assert c.spacing[0] == pytest.approx(c.spacing[1]) and 1.0 < c.spacing[0] < 1.8
    liver = max((c for c in cases if c.structure == "liver"), key=lambda c: c.gt.sum())
    assert 20 < np.median(liver.image[liver.gt]) < 250  # liver is soft tissue in HU


def test_chaos_unseen_structure_is_flagged():
    root = shared_data().resolve()
    cases = list(labelled_cases("chaos", root, ["chaos_t2_03"], group="unseen_mr", unseen=["spleen"],
                                structures=["spleen"], max_slices=3))
    assert 1 <= len(cases) <= 3 and all(not c.seen and c.modality == "MR" for c in cases)


def test_totalseg_unseen_structures():
    root = shared_data().resolve()
    ct = list(totalseg_cases(root, "CT", max_slices=2))
    mr = list(totalseg_cases(root, "MR", max_slices=2))
    assert {c.structure for c in ct} >= {"colon", "vertebrae"}
    assert {c.structure for c in mr} >= {"vertebrae"}
    assert all(not c.seen for c in ct + mr)
    assert {c.group for c in ct} == {"unseen_ct"} and {c.group for c in mr} == {"unseen_mr"}
    vert = [c for c in ct if c.structure == "vertebrae"][0]
    assert np.median(vert.image[vert.gt]) > 150  # bone


def test_heldout_split_from_manifest_or_training():
    from radseg.manifest import default_click_manifest

    split = heldout(default_click_manifest())
    assert split["patients"]["btcv"] and split["patients"]["chaos"]
    m = default_click_manifest(training={"split": {"btcv_validation_patients": ["sabs_01"],
                                                   "held_out_structures": [{"dataset": "chaos", "label": 4}]}})
    s = heldout(m)
    assert s["patients"] == {"btcv": ["sabs_01"]} and s["unseen_structures"] == {"chaos": ["spleen"]}
    assert s["source"] == "manifest"
    assert s["datasets"] == ["btcv", "chaos"]  # a manifest that names no data sets: BTCV and CHAOS, as v1 / v2


@pytest.mark.parametrize("trained, seen", [(("btcv", "chaos"), False), (("btcv", "hippocampus", "la_heart"), True)])
def test_more_anatomy_groups_are_the_same_cases_whatever_the_model_trained_on(trained, seen):
    from radseg.eval.datasets import ITKSNAP_UNSEEN, more_anatomy_cases
    from radseg.training.data import split

    root = shared_data("msd_hippocampus").parent
    shared_data("itksnap")
    pytest.importorskip("h5py")
    cases = list(more_anatomy_cases(root, trained, max_slices=3))
    groups = {}
    for c in cases:
        groups.setdefault(c.group, set()).add(c.structure)
        if c.group == "itksnap_unseen":
            assert not c.seen
        else:
            assert c.seen is seen
        assert c.gt.any() and c.image.shape == c.gt.shape
    assert groups == {"hippocampus_heldout": {"anterior hippocampus", "posterior hippocampus"},
                      "la_heart_heldout": {"left atrium"}, "itksnap_unseen": set(ITKSNAP_UNSEEN)}
    assert {c.patient for c in cases if c.group == "la_heart_heldout"} <= set(split.LA_VALIDATION)
    assert all(int(c.patient.rsplit("_", 1)[1]) >= 200 for c in cases if c.group == "hippocampus_heldout")
