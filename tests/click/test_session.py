"""ClickSession on a real exported (tiny, hand-weighted) ONNX model: geometry in mm, state, undo, drag, bad input.

The tiny net answers a disc of known radius around each foreground click (tests/backends/tiny_model.py): its
logits are 4 * fg - 4 * bg + 0.1 * image - 1, so on air (image 0) the mask is where the foreground Gaussian
exceeds 1/4, i.e. within sigma * sqrt(2 ln 4) crop pixels of the click. The first click's crop is
manifest.crop["initial_size_mm"] wide, so that radius is known in mm, whatever the pixel spacing.
"""
import math

import numpy as np
import pytest

import radseg
from radseg.click.session import MAX_SIDE, ClickSession
from tests.backends.tiny_model import make_tiny_model_dir

pytest.importorskip("onnxruntime")
pytest.importorskip("torch")

AIR = -1000.0


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return radseg.load(make_tiny_model_dir(tmp_path_factory.mktemp("tiny_click"), size=64), threads=1)


def _radius_mm(model):
    m = model.manifest
    crop_px_mm = m.crop["initial_size_mm"] / m.input_size
    return m.guidance["sigma_px"] * math.sqrt(2 * math.log(4)) * crop_px_mm


def _air(shape=(128, 128)):
    return np.full(shape, AIR, np.float32)


def _state(sess):
    return sess.clicks, sess.mask


def _assert_unchanged(sess, before):
    assert sess.clicks == before[0]
    np.testing.assert_array_equal(sess.mask, before[1])


@pytest.mark.parametrize("spacing", [(1.0, 1.0), (2.0, 1.0), (0.8, 1.6)])
def test_first_click_disc_has_the_right_size_in_mm(model, spacing):
    sess = model.start(_air(), spacing=spacing, modality="CT")
    mask = sess.click(64, 60)
    assert mask.dtype == bool and mask.shape == (128, 128)
    assert mask[64, 60]
    rows, cols = np.nonzero(mask)
    assert abs(rows.mean() - 64) < 0.6 and abs(cols.mean() - 60) < 0.6
    r = _radius_mm(model)
    # an ellipse in pixels: semi-axes r / row_mm and r / col_mm
    expected_area = math.pi * (r / spacing[0]) * (r / spacing[1])
    assert abs(mask.sum() - expected_area) / expected_area < 0.12
    half_rows = (rows.max() - rows.min() + 1) / 2
    half_cols = (cols.max() - cols.min() + 1) / 2
    assert abs(half_rows - r / spacing[0]) <= 1.0 and abs(half_cols - r / spacing[1]) <= 1.0


def test_negative_click_cuts_and_undo_restores(model):
    sess = model.start(_air(), spacing=(1.0, 1.0), modality="CT")
    m1 = sess.click(64, 64)
    m2 = sess.click(64, 70, positive=False)  # the box now fits the mask: a finer crop, a smaller disc
    assert not m2[64, 70] and m2[64, 64]
    assert not m2[64, 67:].any()
    assert sess.clicks == ((64.0, 64.0, True), (64.0, 70.0, False))
    np.testing.assert_array_equal(sess.undo(), m1)
    assert sess.clicks == ((64.0, 64.0, True),)
    assert not sess.undo().any() and sess.clicks == ()


def test_two_positive_clicks_give_two_blobs(model):
    sess = model.start(_air(), spacing=(1.0, 1.0), modality="CT")
    sess.click(30, 30)
    mask = sess.click(90, 95)
    assert mask[30, 30] and mask[90, 95] and not mask[60, 62]


def test_move_last_click_follows_the_cursor(model):
    sess = model.start(_air(), spacing=(1.0, 1.0), modality="CT")
    sess.click(64, 64)
    near = sess.move_last_click(66, 61)  # inside the previous box: box reused
    rows, cols = np.nonzero(near)
    assert abs(rows.mean() - 66) < 0.6 and abs(cols.mean() - 61) < 0.6
    assert sess.clicks == ((66.0, 61.0, True),)
    sess = model.start(_air((300, 300)), spacing=(1.0, 1.0), modality="CT")
    sess.click(150, 150)
    far = sess.move_last_click(10, 290)  # far away: the box is recomputed, same answer as a fresh click there
    fresh = model.start(_air((300, 300)), spacing=(1.0, 1.0), modality="CT").click(10, 290)
    assert far[10, 290]
    np.testing.assert_array_equal(far, fresh)
    assert len(sess.clicks) == 1
    assert not sess.undo().any()


def test_move_keeps_the_sign_and_the_earlier_clicks(model):
    sess = model.start(_air(), spacing=(1.0, 1.0), modality="CT")
    sess.click(64, 64)
    sess.click(64, 70, positive=False)
    moved = sess.move_last_click(64, 65)
    assert sess.clicks == ((64.0, 64.0, True), (64.0, 65.0, False))
    assert moved[64, 64] and not moved[64, 65]


def test_reset_and_returned_masks_are_copies(model):
    sess = model.start(_air(), spacing=(1.0, 1.0), modality="CT")
    m = sess.click(64, 64)
    m[:] = False
    assert sess.mask.any()
    sess.mask[:] = False
    assert sess.mask.any()
    assert not sess.reset().any() and sess.clicks == ()
    assert sess.click(64, 64).any()  # usable after reset


def test_mr_and_integer_images(model):
    img = np.random.default_rng(0).integers(0, 400, size=(96, 80)).astype(np.int16)
    sess = model.start(img, spacing=(1.25, 1.25), modality="mr")
    assert sess.modality == "MR"
    assert sess.click(40, 40).shape == (96, 80)


def test_subpixel_and_corner_clicks(model):
    sess = model.start(_air((40, 50)), spacing=(1.0, 1.0), modality="CT")
    assert sess.click(0, 0)[0, 0]
    assert sess.click(39, 49.0)[39, 49]
    assert sess.click(20.4, 24.6)[20, 25]


def test_timing_is_reported(model):
    sess = model.start(_air(), spacing=(1.0, 1.0), modality="CT")
    sess.click(64, 64)
    assert set(sess.last_timing) == {"preprocess", "inference", "postprocess", "passes"}
    assert all(v >= 0 for v in sess.last_timing.values())
    assert sess.last_timing["passes"] == 1


# ---- the first click's second pass (manifest crop.refine_first_click) ------------------------------------------
@pytest.fixture(scope="module")
def refining_model(tmp_path_factory):
    folder = make_tiny_model_dir(tmp_path_factory.mktemp("tiny_click_refine"), size=64, refine_first_click=True)
    return radseg.load(folder, threads=1)


def test_first_click_is_rerun_in_the_box_around_its_own_mask(refining_model, model):
    """At 0.25 mm pixels the first pass's disc (in the 160 mm initial box) is ~8.3 mm in radius; the box around it is
    the 32 mm minimum, where the tiny net's disc is 32/160 as wide: ~1.67 mm, i.e. ~6.7 px."""
    spacing = (0.25, 0.25)
    plain = model.start(_air(), spacing=spacing, modality="CT").click(64, 60)
    sess = refining_model.start(_air(), spacing=spacing, modality="CT")
    mask = sess.click(64, 60)
    assert sess.last_timing["passes"] == 2
    m = refining_model.manifest
    r_mm = m.guidance["sigma_px"] * math.sqrt(2 * math.log(4)) * m.crop["min_size_mm"] / m.input_size
    expected_area = math.pi * (r_mm / spacing[0]) ** 2
    assert abs(mask.sum() - expected_area) / expected_area < 0.15
    assert mask[64, 60] and mask.sum() < plain.sum() / 10
    rows, cols = np.nonzero(mask)
    assert abs(rows.mean() - 64) < 0.6 and abs(cols.mean() - 60) < 0.6


def test_later_clicks_and_drags_run_one_pass(refining_model):
    sess = refining_model.start(_air(), spacing=(0.25, 0.25), modality="CT")
    sess.click(64, 60)
    first = sess.mask
    sess.move_last_click(64, 61)  # stays inside the refined box: the box is kept, no second pass
    assert sess.last_timing["passes"] == 1
    np.testing.assert_array_equal(np.roll(first, 1, axis=1), sess.mask)
    sess.click(30, 30)
    assert sess.last_timing["passes"] == 1


def test_no_second_pass_when_the_box_already_fits(refining_model):
    """At 8 mm pixels the box around the first disc is at least 24 px x 8 mm = 192 mm, within a factor 1.25 of the
    initial 160 mm and centred on the click: no second pass."""
    sess = refining_model.start(_air((64, 64)), spacing=(8.0, 8.0), modality="CT")
    sess.click(32, 32)
    assert sess.last_timing["passes"] == 1


def test_a_first_negative_click_gives_the_empty_mask_with_a_warning(refining_model):
    sess = refining_model.start(_air(), spacing=(0.25, 0.25), modality="CT")
    with pytest.warns(radseg.RadsegWarning, match="starts with a positive click"):
        assert not sess.click(64, 60, positive=False).any()
    assert sess.last_timing["passes"] == 0  # no network pass: nothing to segment yet
    with pytest.warns(radseg.RadsegWarning):
        assert not sess.move_last_click(60, 60).any()
    assert sess.clicks == ((60.0, 60.0, False),)
    mask = sess.click(110, 110)  # the structure starts here; the negative click still counts
    assert mask[110, 110] and not mask[60, 60] and sess.last_timing["passes"] >= 1
    np.testing.assert_array_equal(sess.undo(), np.zeros((128, 128), bool))


def test_start_warns_about_what_it_assumes(model):
    with pytest.warns(radseg.RadsegWarning, match="assuming 1 mm"):
        model.start(_air(), modality="CT")
    with pytest.warns(radseg.RadsegWarning, match="assuming CT"):
        model.start(_air(), spacing=(1.0, 1.0))


@pytest.mark.parametrize("image", [np.full((64, 64), 1024, np.uint16),  # unsigned: cannot hold -1000 HU
                                   np.full((64, 64), 40.0, np.float32) + np.eye(64, dtype=np.float32) * 900])
def test_raw_stored_values_given_as_ct_warn_how_to_convert(model, image):
    with pytest.warns(radseg.RadsegWarning, match="RescaleIntercept"):
        model.start(image, spacing=(1.0, 1.0), modality="CT")


def test_hounsfield_and_mr_images_start_silently(model):
    import warnings

    hu = np.random.default_rng(0).normal(-300, 400, (64, 64)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.start(hu, spacing=(0.8, 0.8), modality="CT")
        model.start(np.full((64, 64), 400, np.uint16), spacing=(0.8, 0.8), modality="MR")
        model.start(np.zeros((64, 64), np.float32), spacing=(0.8, 0.8), modality="CT")  # nothing to judge


# ---- bad input -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("image, err, match", [
    (np.full((64, 64), np.nan, np.float32), ValueError, "NaN or inf"),
    (np.where(np.eye(64, dtype=bool), np.inf, 0.0), ValueError, "NaN or inf"),
    (np.zeros((4, 64, 64)), ValueError, "2D"),
    (np.zeros(64), ValueError, "2D"),
    (np.zeros((4, 64)), ValueError, "out of range"),
    (np.zeros((MAX_SIDE + 1, 8), np.int8), ValueError, "out of range"),
    (np.zeros((64, 64), bool), TypeError, "real-valued"),
    (np.zeros((64, 64), np.complex64), TypeError, "real-valued"),
])
def test_bad_images(model, image, err, match):
    with pytest.raises(err, match=match):
        model.start(image, spacing=(1.0, 1.0), modality="CT")


@pytest.mark.parametrize("kwargs, err, match", [
    ({"modality": "PET"}, ValueError, "unknown modality"),
    ({"modality": 3}, TypeError, "modality"),
    ({"spacing": (1.0,)}, ValueError, "spacing"),
    ({"spacing": (1.0, -1.0)}, ValueError, "spacing"),
    ({"spacing": (1.0, float("nan"))}, ValueError, "spacing"),
])
def test_bad_start_arguments(model, kwargs, err, match):
    args = {"spacing": (1.0, 1.0), "modality": "CT", **kwargs}
    with pytest.raises(err, match=match):
        model.start(_air(), **args)


@pytest.mark.parametrize("call, err, match", [
    (lambda s: s.click(-1, 10), ValueError, "outside the image"),
    (lambda s: s.click(10, 128), ValueError, "outside the image"),
    (lambda s: s.click(127.5, 10), ValueError, "outside the image"),
    (lambda s: s.click(float("nan"), 10), ValueError, "finite"),
    (lambda s: s.click("10", 10), TypeError, "number"),
    (lambda s: s.click(True, 10), TypeError, "number"),
    (lambda s: s.click(10, 10, positive="yes"), TypeError, "positive"),
    (lambda s: s.click(10, 10, positive=1), TypeError, "positive"),
    (lambda s: s.move_last_click(200, 10), ValueError, "outside the image"),
])
def test_bad_clicks_leave_the_state_unchanged(model, call, err, match):
    sess = model.start(_air(), spacing=(1.0, 1.0), modality="CT")
    sess.click(64, 64)
    before = _state(sess)
    with pytest.raises(err, match=match):
        call(sess)
    _assert_unchanged(sess, before)


def test_undo_and_move_with_no_clicks(model):
    sess = model.start(_air(), spacing=(1.0, 1.0), modality="CT")
    with pytest.raises(ValueError, match="no clicks to undo"):
        sess.undo()
    with pytest.raises(ValueError, match="no click to move"):
        sess.move_last_click(5, 5)
    assert sess.clicks == () and not sess.mask.any()


def test_repr_and_backend(model):
    assert model.backend == "onnxruntime-cpu"
    sess = model.start(_air(), spacing=(1.0, 1.0), modality="CT")
    assert isinstance(sess, ClickSession) and "clicks=0" in repr(sess)


def test_blas_thread_cap_does_not_change_the_answer(model):
    from radseg.click.session import ClickModel

    free = ClickModel(model.runtime, model.manifest, model.path, blas_threads=None)
    img = np.random.default_rng(1).normal(0, 300, size=(150, 140)).astype(np.float32)
    a = model.start(img, spacing=(0.9, 0.9), modality="CT").click(70, 60)
    b = free.start(img, spacing=(0.9, 0.9), modality="CT").click(70, 60)
    np.testing.assert_array_equal(a, b)


# ---- the bundled model on real data ---------------------------------------------------------------------------
def _bundled_or_skip():
    from radseg.load import BUNDLED_DIR

    if not (BUNDLED_DIR / "click" / "model.onnx").is_file():
        pytest.skip("the bundled click model is not in this checkout")
    return radseg.load("click")


def test_bundled_model_segments_a_held_out_spleen():
    from tests.conftest import shared_data
    from radseg.click.robot import deterministic_click
    from radseg.metrics import dice

    root = shared_data()
    pytest.importorskip("nibabel")
    model = _bundled_or_skip()
    from radseg.training.data import btcv
    from radseg.training.data.split import BTCV_VALIDATION

    vol = btcv.load(root, BTCV_VALIDATION[0])
    present = np.flatnonzero((vol.labels == 1).any(axis=(1, 2)))
    k = int(present[len(present) // 2])
    gt = vol.labels[k] == 1
    sess = model.start(vol.image[k], spacing=vol.slice_spacing(), modality="CT")
    mask = np.zeros_like(gt)
    scores = []
    for _ in range(3):
        c = deterministic_click(gt, mask)
        if c is None:
            break
        mask = sess.click(c[0], c[1], positive=c[2])
        scores.append(dice(mask, gt))
    assert scores[0] > 0.8 and max(scores) > 0.88, scores
    # a drag by two pixels changes the answer only a little
    moved = sess.move_last_click(sess.clicks[-1][0] + 2, sess.clicks[-1][1])
    assert dice(moved, mask) > 0.9


def test_sessions_in_threads_leave_blas_as_it_was(model):
    """Concurrent sessions share one reference-counted BLAS cap; afterwards BLAS has its original thread count."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from concurrent.futures import ThreadPoolExecutor

    def blas_threads():
        return [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]

    before = blas_threads()
    img = np.random.default_rng(2).normal(0, 300, size=(120, 120)).astype(np.float32)
    expected = model.start(img, spacing=(1.0, 1.0), modality="CT").click(60, 60)

    def work(i):
        sess = model.start(img, spacing=(1.0, 1.0), modality="CT")
        out = [sess.click(60, 60) for _ in range(5)]
        return all(np.array_equal(o, expected) for o in out[:1])

    with ThreadPoolExecutor(4) as ex:
        assert all(ex.map(work, range(8)))
    assert blas_threads() == before
