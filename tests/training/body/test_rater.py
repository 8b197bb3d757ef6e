"""The scripted rater (radseg.training.body.rater): right outlines kept, each kind of wrong one refused for its reason.

The synthetic slice is CT-like: a trunk (-50 HU) and an arm 12 px beside it in -1000 HU air, a 2 px couch line of
200 HU below them, and a small organ label (40 HU) at the trunk's edge; 1 mm pixels, a little noise.
"""
from __future__ import annotations

import numpy as np
import pytest

from radseg.geometry import binary_dilation, binary_erosion, convex_hull
from radseg.training.body import rater as R
from tests.conftest import shared_data

ROWS, COLS = 200, 260
SPACING = (1.0, 1.0)


def _ellipse(cy, cx, ry, rx, shape=(ROWS, COLS)):
    y, x = np.mgrid[:shape[0], :shape[1]]
    return ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1


TRUNK = _ellipse(95, 120, 55, 75)          # cols 45..195
ARM = _ellipse(95, 222, 40, 14)            # cols 208..236: a 12 px gap
COUCH = np.zeros((ROWS, COLS), bool)
COUCH[165:167, 10:250] = True
ORGAN = _ellipse(95, 52, 5, 5)             # a small structure at the trunk's left edge
BODY = TRUNK | ARM


def ct_slice(seed=0) -> np.ndarray:
    img = np.full((ROWS, COLS), -1000.0, np.float32)
    img[BODY] = -50.0
    img[ORGAN] = 40.0
    img[COUCH] = 200.0
    return img + np.random.default_rng(seed).normal(0, 10, img.shape).astype(np.float32)


@pytest.fixture(scope="module")
def rater():
    return R.SliceRater(ct_slice(), "CT", SPACING, ORGAN.astype(np.uint8) * 3)  # any label > 0 is an organ


def test_body_tissue_is_the_body_without_the_couch(rater):
    assert rater.ratable
    assert not (rater.body & COUCH).any()                       # thin shells do not survive the 3 mm opening
    assert (rater.body != BODY).sum() <= 0.001 * BODY.sum()     # the noise moves a few edge pixels only


def test_true_body_mask_is_accepted(rater):
    v = rater.rate(BODY)
    assert v.accepted and v.reasons == []
    assert v.organs_inside == 1.0 and v.covered >= R.COVERED and v.extra <= R.EXTRA and v.border == 0.0


def _only_reason(v, start: str):
    assert not v.accepted
    assert len(v.reasons) == 1 and v.reasons[0].startswith(start), v.reasons


def test_mask_with_the_couch_is_rejected(rater):
    v = rater.rate(BODY | COUCH)
    _only_reason(v, "outside the body")
    assert v.extra > R.EXTRA and v.covered >= R.COVERED


def test_convex_hull_bridging_arm_and_trunk_is_rejected(rater):
    hull = convex_hull(BODY)
    assert hull.sum() > 1.05 * BODY.sum()  # the hull really bridges the gap
    v = rater.rate(hull)
    _only_reason(v, "outside the body")


def test_mask_missing_the_arm_is_rejected(rater):
    v = rater.rate(TRUNK)
    _only_reason(v, "body covered")
    assert v.covered < R.COVERED and v.extra == 0.0


def test_mask_leaving_out_the_organ_is_rejected(rater):
    notch = BODY & ~_ellipse(95, 52, 7, 7)  # cut the organ out of the trunk's edge: too small to matter otherwise
    v = rater.rate(notch)
    _only_reason(v, "organs inside")
    assert v.organs_inside < R.ORGANS_INSIDE
    assert R.SliceRater(ct_slice(), "CT", SPACING).rate(notch).accepted  # without labels the notch passes


def test_empty_and_cropped_masks_are_rejected(rater):
    _only_reason(rater.rate(np.zeros((ROWS, COLS), bool)), "empty")
    full = np.ones((ROWS, COLS), bool)
    v = rater.rate(full)
    assert not v.accepted and v.border == 1.0
    assert any(r.startswith("outline on the image border") for r in v.reasons)
    assert any(r.startswith("outside the body") for r in v.reasons)


def test_border_share():
    m = np.zeros((10, 12), bool)
    assert R.border_share(m) == 0.0
    assert R.border_share(np.ones((10, 12), bool)) == 1.0
    m[2:6, 3:8] = True
    assert R.border_share(m) == 0.0
    m[:, :] = False
    m[0:4, 0:4] = True  # a corner square: 12 outline pixels, 7 of them on the image's top and left edges
    assert R._outline(m).sum() == 12
    assert R.border_share(m) == pytest.approx(7 / 12)


def test_slice_without_body_is_not_rated():
    img = np.full((64, 64), -1000.0, np.float32)
    img[10:13, 10:13] = 0.0  # 9 mm^2: under the 2 cm^2 a slice needs
    r = R.SliceRater(img, "CT", SPACING)
    assert not r.ratable
    _only_reason(r.rate(img > -500), "no body in the slice")


def test_clipped_ct_window_uses_the_stored_minimum_as_air():
    """BTCV stores [-125, 275] HU: its air reads -125, above the -500 HU cut; tissue is then "above the minimum"."""
    img = np.clip(ct_slice(), -125.0, 275.0)
    assert img.min() == -125.0 and (img[BODY] > -122).all()
    r = R.SliceRater(img, "CT", SPACING)
    assert (r.body != BODY).sum() <= 0.001 * BODY.sum()
    assert r.rate(BODY).accepted
    _only_reason(r.rate(TRUNK), "body covered")


def test_anisotropic_spacing_measures_in_mm():
    """The same outline at 2 mm column spacing: the arm and the couch are judged in mm, verdicts unchanged."""
    img = ct_slice()[:, ::2]
    body, trunk, couch = BODY[:, ::2], TRUNK[:, ::2], COUCH[:, ::2]
    r = R.SliceRater(img, "CT", (1.0, 2.0))
    assert r.rate(body).accepted
    _only_reason(r.rate(trunk), "body covered")
    _only_reason(r.rate(body | couch), "outside the body")


# ---- MR: a real head ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def head():
    from radseg.training.data.volumes import load_display

    folder = shared_data("body_refs", "head_mr", "mne_sample_3mm")
    img, spacing = load_display(folder / "T1.nii.gz", np.float32)
    ref, _ = load_display(folder / "head_mask_seghead.nii.gz", np.uint8)
    k = 44  # an axial slice through the eyes and the brain stem
    return img[k], ref[k] > 0, spacing[1:]


def test_mr_head_tissue_and_verdicts(head):
    img, ref, spacing = head
    r = R.SliceRater(img, "mr", spacing)  # modality is case-insensitive
    assert r.ratable
    d = 2 * (r.body & ref).sum() / (r.body.sum() + ref.sum())
    assert d > 0.9, d  # the log-Otsu tissue is the head (seghead sits about a pixel inside the skin)
    assert R.tissue_mask(img, "MR").sum() >= r.body.sum() * 0.95
    assert r.rate(r.body).accepted
    _only_reason(r.rate(binary_dilation(r.body, 6.0, spacing)), "outside the body")
    _only_reason(r.rate(binary_erosion(r.body, 6.0, spacing)), "body covered")
    brain_only = binary_erosion(ref, 12.0, spacing)
    assert not r.rate(brain_only).accepted

