"""Readers of ../shared/data: display orientation, HU conversion, the patient split."""
import numpy as np
import pytest

from tests.conftest import shared_data


def _centroid(labels, l):
    return np.argwhere(labels == l).mean(0)


def test_btcv_display_orientation_and_hu():
    root = shared_data("btcv_sabs_ct").parent
    from radseg.training.data import btcv

    vol = btcv.load(root, "sabs_00")
    assert vol.image.shape[1:] == (257, 257) and vol.labels.shape == vol.image.shape
    assert vol.spacing[1] == pytest.approx(1.1689, abs=1e-3)
    # patient's right on the screen's left: liver and right kidney left of spleen and left kidney
    assert _centroid(vol.labels, 6)[2] < 128 < _centroid(vol.labels, 1)[2]
    assert _centroid(vol.labels, 2)[2] < _centroid(vol.labels, 3)[2]
    # anterior at the top: the liver's centre lies anterior to (above) the right kidney's
    assert _centroid(vol.labels, 6)[1] < _centroid(vol.labels, 2)[1]
    # HU: liver around 100-150 HU in this contrast CT (SOURCE.txt: ~127), air clipped to -125
    assert 80 < np.median(vol.image[vol.labels == 6]) < 180
    assert vol.image.min() == pytest.approx(-125.0)
    # the back and the CT table lie at the bottom: more non-air pixels in the bottom rows than in the top rows
    k = int(np.argmax((vol.labels == 2).sum((1, 2))))
    assert (vol.image[k, 200:250, 100:160] > -100).mean() > (vol.image[k, 5:40, 100:160] > -100).mean()


def test_chaos_display_orientation():
    root = shared_data("chaos_t2_mri").parent
    from radseg.training.data import chaos

    vol = chaos.load(root, "chaos_t2_01")
    assert vol.modality == "MR" and vol.image.dtype == np.float32
    assert _centroid(vol.labels, 1)[2] < 128 < _centroid(vol.labels, 4)[2]  # liver left, spleen right on screen
    assert _centroid(vol.labels, 2)[2] < _centroid(vol.labels, 3)[2]
    assert _centroid(vol.labels, 1)[1] < _centroid(vol.labels, 2)[1]  # liver anterior to the right kidney


def test_split_is_by_patient_and_recorded():
    from radseg.training.data import btcv, chaos, split

    assert len(split.BTCV_VALIDATION) >= 4 and len(split.CHAOS_VALIDATION) >= 3
    d = split.as_dict()
    assert d["held_out_structures"][0]["dataset"] == "chaos" and d["held_out_structures"][0]["label"] == 4
    assert chaos.LABELS[4] == "spleen" and btcv.LABELS[6] == "liver"
    assert split.is_validation("btcv", "sabs_02") and not split.is_validation("btcv", "sabs_00")
