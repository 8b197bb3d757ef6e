"""The propagation loop with a pure-numpy `predict` that answers a known mask per slice: every stop reason, both
directions in one batch, limits at anchors, progress and cancelling; keep_prior_components."""
import numpy as np
import pytest

from radseg.manifest import default_propagation_manifest
from radseg.propagation import engine
from radseg.propagation.engine import DOWN, UP, keep_prior_components, propagate

STOPPING = default_propagation_manifest().stopping  # min 8 mm^2, growth 2.5 above 150 mm^2, converge Dice 0.98
N, SHAPE = 20, (40, 40)


def square(side, shape=SHAPE, r0=5, c0=5):
    m = np.zeros(shape, bool)
    m[r0:r0 + side, c0:c0 + side] = True
    return m


class Known:
    """predict() that answers truth[j] for slice j whatever the prior, and records its calls."""

    def __init__(self, truth):
        self.truth, self.calls = truth, []

    def __call__(self, indices, priors):
        assert len(indices) == len(priors)
        assert all(p.dtype == bool and p.any() for p in priors)  # never asked to propagate from nothing
        self.calls.append(list(indices))
        return [self.truth[j].copy() for j in indices]


def run(truth, start, limits=None, previous=None, progress=None, pixel_mm2=1.0):
    predict = Known(truth)
    limits = {UP: N, DOWN: -1} if limits is None else limits
    written, stops = propagate(predict, start, truth[start], limits, N, pixel_mm2, STOPPING, previous, progress)
    return written, stops, predict.calls


def test_volume_end_both_directions_in_one_batch():
    truth = {j: square(6) for j in range(N)}
    written, stops, calls = run(truth, 12)
    assert sorted(written) == [j for j in range(N) if j != 12]  # the start slice is not rewritten
    assert stops[UP].as_dict() == {"last": 19, "reason": "volume end", "area_mm2": 36.0}
    assert stops[DOWN].last == 0 and stops[DOWN].reason == "volume end"
    # a batch of two while both run (13/11, 14/10, ...), then down alone
    assert calls[:7] == [[12 + k, 12 - k] for k in range(1, 8)]
    assert calls[7:] == [[j] for j in range(4, -1, -1)]
    assert all(len(c) == 2 for c in calls[:7]) and len(calls) == 12


def test_vanished_stops_at_the_last_slice_that_holds_the_structure():
    truth = {j: square(6) if 5 <= j <= 14 else square(2) if j == 15 else np.zeros(SHAPE, bool) for j in range(N)}
    written, stops, calls = run(truth, 10)
    assert stops[UP].as_dict() == {"last": 14, "reason": "vanished", "area_mm2": 36.0}  # 15 is 4 mm^2 < 8
    assert stops[DOWN].last == 5 and stops[DOWN].reason == "vanished"
    assert sorted(written) == [j for j in range(5, 15) if j != 10]  # the vanished slices are not written
    assert calls[-2:] == [[15, 5], [4]]  # each slice that vanished was asked for once, then that direction ended


def test_vanished_threshold_is_in_mm2():
    truth = {j: square(3) for j in range(N)}  # 9 px
    _, stops, calls = run(truth, 10, pixel_mm2=0.5)  # 4.5 mm^2 < 8: gone at the first step
    assert stops[UP].as_dict() == {"last": 10, "reason": "vanished", "area_mm2": 4.5}
    assert stops[DOWN].last == 10 and calls == [[11, 9]]
    _, stops, _ = run(truth, 10, pixel_mm2=1.0)  # 9 mm^2 >= 8: kept
    assert stops[UP].reason == "volume end"


def test_leak_is_a_jump_in_area_above_the_floor_and_that_slice_is_not_kept():
    truth = {j: square(10) for j in range(N)}  # 100 mm^2
    truth[14] = square(17)  # 289 mm^2: 2.89 times the previous slice, above the 150 mm^2 floor
    truth[6] = square(15)  # 225 mm^2: 2.25 times, within max_growth 2.5
    written, stops, _ = run(truth, 10)
    assert stops[UP].as_dict() == {"last": 13, "reason": "leak", "area_mm2": 100.0}
    assert 14 not in written and 13 in written
    assert stops[DOWN].reason == "volume end" and 6 in written
    # below the floor, growth is not judged
    small = {j: square(3) for j in range(N)}
    small[14] = square(12)  # 9 -> 144 mm^2, 16 times, but under 150
    _, stops, _ = run(small, 10)
    assert stops[UP].reason == "volume end"


def test_limits_at_anchors_are_never_written():
    truth = {j: square(6) for j in range(N)}
    written, stops, calls = run(truth, 10, limits={UP: 13, DOWN: 4})
    assert sorted(written) == [5, 6, 7, 8, 9, 11, 12]
    assert stops[UP].as_dict() == {"last": 12, "reason": "anchor", "area_mm2": 36.0}
    assert stops[DOWN].last == 5 and stops[DOWN].reason == "anchor"
    assert all(j not in (4, 13) for c in calls for j in c)
    # an anchor right next to the start: that direction stops before any network call
    written, stops, calls = run(truth, 10, limits={UP: 11, DOWN: 8})
    assert stops[UP].as_dict() == {"last": 10, "reason": "anchor", "area_mm2": 36.0}
    assert calls == [[9]] and sorted(written) == [9]
    # one direction only
    written, stops, calls = run(truth, 10, limits={UP: N})
    assert list(stops) == [UP] and all(len(c) == 1 and c[0] > 10 for c in calls)


def test_converged_where_the_new_mask_agrees_with_the_old():
    truth = {j: square(8) for j in range(N)}
    previous = {j: square(8, c0=9) for j in range(N)}  # disagrees: Dice 0.5
    previous[14] = square(8)  # agrees on 14
    previous[7] = square(8)
    previous[8] = np.zeros(SHAPE, bool)  # an empty old mask never counts as agreement
    written, stops, _ = run(truth, 10, previous=previous)
    assert stops[UP].as_dict() == {"last": 14, "reason": "converged", "area_mm2": 64.0}
    assert stops[DOWN].last == 7 and stops[DOWN].reason == "converged"
    assert sorted(written) == [7, 8, 9, 11, 12, 13, 14]  # the converged slice itself is written
    _, stops, _ = run(truth, 10, previous=None)  # no previous: never converges
    assert stops[UP].reason == stops[DOWN].reason == "volume end"


def test_progress_reports_done_and_a_total_that_ends_full():
    truth = {j: square(6) if 6 <= j <= 15 else np.zeros(SHAPE, bool) for j in range(N)}
    seen = []
    written, stops, calls = run(truth, 10, progress=lambda d, t: seen.append((d, t)))
    assert len(seen) == len(calls)  # once per network step
    assert seen[0] == (2, N - 1)  # two slices done; at most 19 to do
    done = [d for d, _ in seen]
    assert done == list(np.cumsum([len(c) for c in calls]))
    totals = [t for _, t in seen]
    assert all(a >= b for a, b in zip(totals, totals[1:])) and all(d <= t for d, t in seen)
    assert seen[-1][0] == seen[-1][1] == 11  # 6..15 less the start, plus the two slices that vanished
    assert stops[UP].last == 15 and stops[DOWN].last == 6


def test_cancel_keeps_what_is_done_and_says_cancelled():
    truth = {j: square(6) for j in range(N)}
    written, stops, calls = run(truth, 10, progress=lambda d, t: d < 6)  # False once 6 slices are done
    assert len(calls) == 3
    assert stops[UP].as_dict() == {"last": 13, "reason": "cancelled", "area_mm2": 36.0}
    assert stops[DOWN].last == 7 and stops[DOWN].reason == "cancelled"
    assert sorted(written) == [7, 8, 9, 11, 12, 13]
    # anything but False (None, 0, True) goes on
    _, stops, _ = run(truth, 10, progress=lambda d, t: None)
    assert stops[UP].reason == "volume end"


def test_start_at_the_volume_ends():
    truth = {j: square(6) for j in range(N)}
    written, stops, calls = run(truth, 0)
    assert stops[DOWN].as_dict() == {"last": 0, "reason": "volume end", "area_mm2": 36.0}
    assert stops[UP].last == N - 1 and len(written) == N - 1 and all(len(c) == 1 for c in calls)
    _, stops, _ = run(truth, N - 1)
    assert stops[UP].last == N - 1 and stops[DOWN].last == 0


@pytest.mark.parametrize("start, limits, match", [
    (10, {UP: 10}, "not beyond the start"), (10, {DOWN: 12}, "not beyond the start"),
    (10, {UP: N + 3}, "not beyond the start"), (N, {UP: N}, "outside the volume"),
    (10, {"sideways": 3}, "unknown direction"),
])
def test_bad_limits_are_refused_before_any_step(start, limits, match):
    calls = []
    with pytest.raises(ValueError, match=match):
        propagate(lambda i, p: calls.append(i), start, square(6), limits, N, 1.0, STOPPING)
    assert not calls


# ---- keep_prior_components ---------------------------------------------------------------------------------------
def test_keep_prior_components_drops_what_is_far_from_the_prior():
    prior = square(8, r0=5, c0=5)
    near = square(8, r0=7, c0=7)  # overlaps the prior
    far = square(6, r0=28, c0=28)
    out = keep_prior_components(near | far, prior, 3.0, (1.0, 1.0))
    np.testing.assert_array_equal(out, near)
    assert out.dtype == bool
    # a single component far away: nothing is left
    assert not keep_prior_components(far, prior, 3.0, (1.0, 1.0)).any()
    # a single component touching the prior: kept as it is
    np.testing.assert_array_equal(keep_prior_components(near, prior, 3.0, (1.0, 1.0)), near)
    assert not keep_prior_components(np.zeros(SHAPE, bool), prior, 3.0, (1.0, 1.0)).any()


def test_keep_prior_components_reach_is_in_mm():
    prior = square(6, r0=10, c0=10)  # rows/cols 10..15
    beside = np.zeros(SHAPE, bool)
    beside[10:16, 19:23] = True  # its first column lies 4 pixels right of the prior's last (col 15)
    other = square(4, r0=30, c0=30)
    mask = beside | other
    assert not keep_prior_components(mask, prior, 0.0, (1.0, 1.0)).any()  # reach 0: must overlap
    np.testing.assert_array_equal(keep_prior_components(mask, prior, 4.0, (1.0, 1.0)), beside)
    # cols of 2 mm: those 4 pixels are 8 mm, out of a 4 or 7 mm reach; rows of 0.5 mm do not matter here
    assert not keep_prior_components(mask, prior, 4.0, (0.5, 2.0)).any()
    assert not keep_prior_components(mask, prior, 7.0, (0.5, 2.0)).any()
    np.testing.assert_array_equal(keep_prior_components(mask, prior, 8.0, (0.5, 2.0)), beside)


def test_stop_as_dict_rounds_the_area():
    assert engine.Stop(3, "leak", 12.345).as_dict() == {"last": 3, "reason": "leak", "area_mm2": 12.3}


def test_uncertain_stops_after_a_run_of_low_confidence_answers_and_drops_them():
    """Past a structure's end a network may carry a small blob on with low confidence: after `uncertain_steps`
    low answers in a row the direction stops at the slice before them; one low answer alone does not stop it."""
    truth = np.stack([square(8) for _ in range(N)])
    conf = np.full(N, 0.95)
    conf[12] = 0.5  # one doubtful slice going up: not enough
    conf[15:] = 0.6  # from 15 on: doubtful for good
    conf[:4] = 0.6

    def predict(indices, priors):
        return [(truth[j].copy(), float(conf[j])) for j in indices]

    stopping = {**STOPPING, "min_confidence": 0.8, "uncertain_steps": 2}
    written, stops = propagate(predict, 10, truth[10], {UP: N, DOWN: -1}, N, 1.0, stopping)
    assert stops[UP].reason == "uncertain" and stops[UP].last == 14
    assert stops[DOWN].reason == "uncertain" and stops[DOWN].last == 4
    assert sorted(written) == [4, 5, 6, 7, 8, 9, 11, 12, 13, 14]
    # without min_confidence, confidences are ignored
    written, stops = propagate(predict, 10, truth[10], {UP: N, DOWN: -1}, N, 1.0, STOPPING)
    assert stops[UP].reason == "volume end" and len(written) == N - 1
