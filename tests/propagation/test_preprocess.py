"""Propagation preprocessing: the box around the prior in mm (anisotropic pixels too), the two input channels and
the refusals (an empty prior, a manifest that does not take two channels)."""
import numpy as np
import pytest

from radseg.crop import logits_to_mask
from radseg.manifest import default_propagation_manifest
from radseg.propagation.preprocess import crop_pair, make_inputs, prior_box

M = default_propagation_manifest(32)


def _rect(shape, r0, r1, c0, c1):
    m = np.zeros(shape, bool)
    m[r0:r1, c0:c1] = True
    return m


@pytest.mark.parametrize("spacing", [(1.0, 1.0), (0.7, 1.4), (2.0, 0.5)])
def test_prior_box_is_the_bounding_box_times_expand_square_in_mm(spacing):
    prior = _rect((200, 200), 60, 100, 50, 110)  # 40 rows x 60 cols
    box = prior_box(prior, spacing, M)
    side_mm = max(40 * spacing[0], 60 * spacing[1]) * M.crop["expand"]
    assert box.size_rows * spacing[0] == pytest.approx(side_mm)
    assert box.size_cols * spacing[1] == pytest.approx(side_mm)
    assert box.row0 + box.size_rows / 2 == pytest.approx(80.0)  # edge coordinates: rows [60, 100)
    assert box.col0 + box.size_cols / 2 == pytest.approx(80.0)  # cols [50, 110)
    assert box.out_size == 32
    wider = prior_box(prior, spacing, M, expand=2.2)  # training jitters the margin
    assert wider.size_rows == pytest.approx(box.size_rows * 2.2 / M.crop["expand"])


def test_prior_box_minimum_sizes_in_mm_and_pixels():
    dot = _rect((100, 100), 50, 51, 50, 51)
    box = prior_box(dot, (0.7, 1.4), M)  # 24 mm beats 16 px * 1.4 mm = 22.4 mm
    assert box.size_rows * 0.7 == pytest.approx(M.crop["min_size_mm"])
    assert box.size_cols * 1.4 == pytest.approx(M.crop["min_size_mm"])
    coarse = prior_box(dot, (2.0, 3.0), M)  # 16 px of the larger spacing: 48 mm
    assert coarse.size_cols == pytest.approx(M.crop["min_size_px"])
    assert coarse.size_rows * 2.0 == pytest.approx(48.0)
    assert prior_box(np.zeros((10, 10), bool), (1.0, 1.0), M) is None


def test_crop_pair_channels_are_the_slice_and_the_soft_prior():
    rows, cols = np.mgrid[:64, :64]
    img = (cols / 63.0).astype(np.float32)  # a ramp from left to right
    prior = _rect((64, 64), 20, 40, 24, 44)
    box = prior_box(prior, (1.0, 1.0), M)
    x = crop_pair(img, prior, box)
    assert x.shape == (2, 32, 32) and x.dtype == np.float32
    assert np.all(np.diff(x[0], axis=1) > 0)  # channel 0 is the slice (the ramp survives)
    assert x[1].min() == 0.0 and x[1].max() == 1.0  # channel 1 the prior, in [0, 1]
    soft = x[1][(x[1] > 0) & (x[1] < 1)]
    assert soft.size > 0  # bilinear: the prior's edge is soft
    # the prior is centred in the crop and pastes back onto itself
    assert logits_to_mask(x[1] - 0.5, box, prior.shape).sum() == pytest.approx(prior.sum(), rel=0.1)
    r, c = np.nonzero(x[1] > 0.5)
    assert abs(r.mean() - 15.5) < 0.6 and abs(c.mean() - 15.5) < 0.6


def test_make_inputs_batches_pairs_with_their_boxes():
    img = np.random.default_rng(0).random((64, 80)).astype(np.float32)
    p1, p2 = _rect((64, 80), 5, 15, 5, 20), _rect((64, 80), 30, 60, 40, 78)
    x, boxes = make_inputs([img, img], [p1, p2], (0.9, 0.9), M)
    assert x.shape == (2, 2, 32, 32) and x.dtype == np.float32 and len(boxes) == 2
    np.testing.assert_array_equal(x[0], crop_pair(img, p1, boxes[0]))
    np.testing.assert_array_equal(x[1], crop_pair(img, p2, boxes[1]))
    assert boxes[1].size_rows > boxes[0].size_rows


def test_make_inputs_refuses_an_empty_prior_and_mismatched_counts():
    img = np.zeros((32, 32), np.float32)
    full = _rect((32, 32), 4, 10, 4, 10)
    with pytest.raises(ValueError, match="prior 1 is empty"):
        make_inputs([img, img], [full, np.zeros((32, 32), bool)], (1.0, 1.0), M)
    with pytest.raises(ValueError, match="2 slices but 1 priors"):
        make_inputs([img, img], [full], (1.0, 1.0), M)
    with pytest.raises(ValueError, match="2 input channels"):
        make_inputs([img], [full], (1.0, 1.0), M.replace(in_channels=3))
