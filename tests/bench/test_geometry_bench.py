"""Smoke tests of `radseg bench` (tiny shapes, one repeat) and unit tests of its timing, judging and references."""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("scipy")
from scipy import ndimage  # noqa: E402

from radseg.bench import cases as C  # noqa: E402
from radseg.bench import geometry as G  # noqa: E402
from radseg.bench import references as R  # noqa: E402
from radseg.bench import runner  # noqa: E402
from radseg.bench import CASE_KEYS, report, run_benchmark  # noqa: E402
from radseg.bench.timing import parse_threads, time_interleaved  # noqa: E402
from radseg.cli import main  # noqa: E402
from tests.conftest import shared_data  # noqa: E402


@pytest.fixture(scope="module")
def synthetic():
    return C.synthetic_source(shape=(20, 64, 64), spacing=(3.0, 1.0, 1.0))


# ---- end to end -------------------------------------------------------------------------------------------------
def test_cli_runs_tiny_cases_on_real_data_and_writes_json(tmp_path, capsys):
    data = shared_data()
    out = tmp_path / "bench.json"
    md = tmp_path / "bench.md"
    code = main(["bench", "--size", "tiny", "--repeat", "1", "--budget", "0.01", "--threads", "1",
                 "--only", "edt2d,fill2d,surface2d", "--data", str(data), "--json", str(out), "--markdown", str(md)])
    assert code == 0
    text = capsys.readouterr().out
    assert "threads=1" in text and "BTCV sabs_00 (real CT labels" in text
    result = json.loads(out.read_text())
    assert [c["key"] for c in result["cases"]] == ["edt2d", "fill2d", "surface2d"]
    edt_rows = {r["key"]: r for r in result["cases"][0]["rows"]}
    assert edt_rows["radseg"]["status"] == "ok" and edt_rows["radseg"]["n"] == 1
    # radseg's exact EDT and scipy's agree on the benchmark input (float32 vs float64 rounding only).
    assert edt_rows["scipy"]["vs_radseg"]["max_abs_diff"] < 1e-4
    assert "| contender |" in md.read_text()


def test_every_case_builds_and_runs_on_synthetic_masks(synthetic):
    cases = list(G.build_cases(synthetic, "tiny", threads=1))
    assert [c.key for c in cases] == list(CASE_KEYS)
    for case in cases:
        assert "SYNTHETIC" in case.inputs, "synthetic inputs must say so"
        result = runner.run_case(case, repeat=1, budget_s=0.01, quick=True)
        for row in result["rows"]:
            assert row["status"] == "ok" or row["status"].startswith(("n/a", "skipped")), (case.key, row)
        assert {b["verdict"] for b in result["bars"]} <= {"PASS", "MISS", "n/a"}
    text = report.to_text({"meta": {"threads": 1, "cpus": 1, "repeat": 1, "budget_s": 0.01, "quick": True,
                                    "size": "tiny", "data": synthetic.description}, "cases": [result]})
    assert result["title"] in text


def test_bad_options_exit_with_usage_error(capsys):
    assert main(["bench", "--only", "edt,nonsense", "--size", "tiny"]) == 2
    assert "nonsense" in capsys.readouterr().err
    with pytest.raises(ValueError, match="threads"):
        parse_threads("0")
    with pytest.raises(ValueError, match="repeat"):
        run_benchmark(repeat=0, size="tiny")


def test_only_selects_by_key_and_group(synthetic):
    keys = [c.key for c in G.build_cases(synthetic, "tiny", 1, {"edt3d", "fill"})]
    assert keys == ["edt3d-small", "edt3d-large", "fill2d", "fill3d"]


# ---- pieces -----------------------------------------------------------------------------------------------------
def test_interleaved_timing_respects_budget_and_isolates_errors():
    calls = {"fast": 0, "slow": 0}

    def fast():
        calls["fast"] += 1

    def slow():
        calls["slow"] += 1
        import time

        time.sleep(0.05)

    def broken():
        raise RuntimeError("boom")

    seen = []
    t = time_interleaved([fast, slow, broken], repeat=5, budget_s=0.06, on_warmup=lambda i, out: seen.append(i))
    assert calls == {"fast": 6, "slow": 2}  # warm-up + 5 timed; warm-up + 1 timed (budget)
    assert t[0].n == 5 and t[1].n == 1 and t[2].n == 0 and t[2].error == "RuntimeError: boom"
    assert seen == [0, 1]


def test_rounds_alternate_order_with_calls_back_to_back():
    log = []
    fns = [lambda: log.append("a"), lambda: log.append("b")]
    time_interleaved(fns, repeat=4, budget_s=10.0, rounds=2, pause_s=0.0)
    assert "".join(log) == "ab" + "aabb" + "bbaa"  # warm-ups, round 1 forward, round 2 reversed


def test_thread_limit_reaches_the_openmp_runtime_of_the_native_core():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from radseg.bench.timing import thread_limit

    import radseg  # noqa: F401  (loads the native core and its OpenMP runtime)

    with thread_limit(1):
        pools = [p for p in threadpoolctl.threadpool_info() if p["user_api"] == "openmp"]
        assert pools and all(p["num_threads"] == 1 for p in pools)


def test_missing_radseg_function_is_reported_not_raised():
    case = runner.Case("x", "edt", "t", "i", "mask", [
        runner.Contender("radseg", "radseg missing", lambda: R.radseg_function("geometry", "no_such_function")),
        runner.Contender("numpy", "numpy", lambda: (lambda: np.zeros(3, bool)))],
        [runner.Bar(">= numpy", "numpy", 1.0)])
    result = runner.run_case(case, repeat=1, budget_s=0.01)
    assert result["rows"][0]["status"] == "n/a (not built yet)"
    assert result["rows"][1]["status"] == "ok" and result["bars"][0]["verdict"] == "n/a"


def test_bars_are_judged_from_ratios_and_absolute_times():
    ours = {"key": "radseg", "median_s": 0.002, "radseg_speedup": 1.0}
    rows = [ours, {"key": "cv2", "median_s": 0.002, "radseg_speedup": 1.0},
            {"key": "scipy", "median_s": 0.3, "radseg_speedup": 150.0}]
    verdict = lambda bar: runner._judge(bar, rows, ours)["verdict"]  # noqa: E731
    assert verdict(runner.Bar("<= 3 ms", max_ms=3.0)) == "PASS"
    assert verdict(runner.Bar("<= 1 ms", max_ms=1.0)) == "MISS"
    assert verdict(runner.Bar(">= cv2", "cv2", 1.0)) == "PASS"
    assert verdict(runner.Bar("faster than cv2", "cv2", 1.0, strict=True)) == "MISS"
    assert verdict(runner.Bar(">= 100x scipy", "scipy", 100.0)) == "PASS"
    assert verdict(runner.Bar(">= 200x scipy", "scipy", 200.0)) == "MISS"


def test_edt_package_anisotropy_follows_numpy_axis_order():
    pytest.importorskip("edt")
    rng = np.random.default_rng(1)
    mask = rng.random((7, 9, 11)) > 0.1
    spacing = (3.0, 0.7, 1.3)
    ours = R.edt_package(mask, spacing, 1)()
    np.testing.assert_allclose(ours, ndimage.distance_transform_edt(mask, sampling=spacing), rtol=1e-5, atol=1e-5)


def test_cv2_fill_recipe_matches_scipy_including_border_touching_background():
    pytest.importorskip("cv2")
    mask = np.zeros((40, 50), bool)
    mask[5:30, 5:30] = True
    mask[10:20, 10:20] = False  # a hole
    mask[0:12, 40:50] = True
    mask[0:5, 44:50] = False  # background touching the top border, not connected to the top-left corner
    mask[20:40, 35:38] = True  # a wall cutting the bottom-right background from the corner along the bottom
    np.testing.assert_array_equal(R.cv2_fill_recipe(mask)(), ndimage.binary_fill_holes(mask))


def test_scipy_closing_reference_matches_the_extensive_border_convention():
    """The scipy reference closes with background outside for the dilation and foreground for the erosion."""
    pytest.importorskip("cv2")
    rng = np.random.default_rng(3)
    mask = ndimage.binary_opening(rng.random((60, 70)) > 0.55)
    mask[:, :3] = True  # foreground touching the border: the case where border conventions differ
    ours = R.scipy_closing(mask, 4)()
    assert np.array_equal(ours, R.cv2_closing(mask, 4)() != 0)
    assert (ours >= mask).all()


def test_ellipsoid_is_the_offsets_within_the_radius_in_mm():
    ball = R.ellipsoid(5.0, (3.5, 1.2, 1.2))
    assert ball.shape == (3, 9, 9) and ball[1, 4, 4] and ball[1, 4, 0] and not ball[0, 4, 0]
    assert np.array_equal(R.ellipsoid(3.0, (1.0, 1.0)), R.disk(3).astype(bool))


def test_perturbed_prediction_is_grown_and_shifted():
    ref = np.zeros((30, 30), bool)
    ref[10:20, 10:20] = True
    pred = C.perturbed_prediction(ref, (1.0, 1.0), grow_mm=2.0, shift_vox=(3, -2))
    grown = ndimage.binary_dilation(ref, ndimage.generate_binary_structure(2, 1), iterations=1)
    assert pred.sum() > ref.sum() and pred[13 + 2, 8 + 2] and not pred[0, 0]
    assert np.array_equal(np.roll(np.roll(pred, -3, 0), 2, 1)[5:25, 5:25] >= grown[5:25, 5:25], np.ones((20, 20), bool))


def test_resize_nearest_hits_the_exact_shape():
    m = np.zeros((257, 257), bool)
    m[100:150, 60:200] = True
    out = C.resize_nearest(m, (512, 512))
    assert out.shape == (512, 512) and out.dtype == bool
    assert abs(out.mean() - m.mean()) < 0.01


def test_without_shared_data_the_masks_are_synthetic_and_say_so(monkeypatch, tmp_path):
    monkeypatch.setattr(C, "find_shared_data", lambda explicit=None: None)
    source = C.get_source()
    assert source.synthetic and "SYNTHETIC" in source.description and "not real data" in source.description
    assert source.organ(C.LIVER).any() and source.organ(None).sum() > source.organ(C.LIVER).sum()


def test_data_folder_without_btcv_is_refused(tmp_path):
    with pytest.raises(ValueError, match="btcv_sabs_ct"):
        C.get_source(tmp_path)


def test_check_exits_zero_when_no_bar_is_missed(capsys):
    # dice3d has no bars, so --check cannot fail on timing noise here.
    assert main(["bench", "--size", "tiny", "--repeat", "1", "--only", "dice", "--synthetic", "--check"]) == 0
    assert "Dice 3D" in capsys.readouterr().out
