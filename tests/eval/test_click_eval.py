"""Click evaluation: metrics against independent references, the user loop's bookkeeping, averaging, reports."""
import json

import numpy as np
import pytest

import radseg
from radseg.eval.click import (REPORT_AT, Case, CaseResult, dice_score, evaluate, evaluate_case, summarize,
                               surface_distances)
from radseg.eval import report
from tests.backends.tiny_model import make_tiny_model_dir


def _scipy_surface(a, b, spacing):
    """Independent reference: borders by scipy erosion, distances by scipy's EDT."""
    ndimage = pytest.importorskip("scipy.ndimage")
    cross = ndimage.generate_binary_structure(2, 1)
    sa = a & ~ndimage.binary_erosion(a, cross, border_value=0)
    sb = b & ~ndimage.binary_erosion(b, cross, border_value=0)
    da = ndimage.distance_transform_edt(~sa, sampling=spacing)
    db = ndimage.distance_transform_edt(~sb, sampling=spacing)
    ab, ba = db[sa], da[sb]
    return max(np.percentile(ab, 95), np.percentile(ba, 95)), np.concatenate([ab, ba]).mean()


def _random_blob(rng, shape=(64, 72)):
    ndimage = pytest.importorskip("scipy.ndimage")
    m = ndimage.gaussian_filter(rng.normal(size=shape), 4) > 0.02
    return m


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("spacing", [(1.0, 1.0), (0.7, 1.9)])
def test_surface_distances_match_scipy(seed, spacing):
    rng = np.random.default_rng(seed)
    a, b = _random_blob(rng), _random_blob(rng)
    if not a.any() or not b.any():
        pytest.skip("empty random blob")
    np.testing.assert_allclose(surface_distances(a, b, spacing), _scipy_surface(a, b, spacing), rtol=1e-5, atol=1e-4)


def test_surface_distances_known_shift():
    a = np.zeros((40, 40), bool)
    a[10:30, 10:30] = True
    b = np.roll(a, 3, axis=0)
    hd, msd = surface_distances(a, b, (2.0, 1.0))
    assert 0 < msd < hd <= 6.0 + 1e-6  # nothing is farther than the 3-row (6 mm) shift
    assert surface_distances(a, a, (2.0, 1.0)) == (0.0, 0.0)


def test_dice_score():
    a = np.zeros((10, 10), bool)
    a[:5] = True
    b = np.zeros((10, 10), bool)
    b[:, :5] = True
    assert dice_score(a, b) == pytest.approx(0.5)
    assert dice_score(a, a) == 1.0
    assert dice_score(np.zeros((3, 3), bool), np.zeros((3, 3), bool)) == 1.0


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("torch")
    return radseg.load(make_tiny_model_dir(tmp_path_factory.mktemp("tiny_eval"), size=64), threads=1)


def _disc_case(radius=12, shape=(96, 96), centre=(50, 44)):
    rr, cc = np.mgrid[: shape[0], : shape[1]]
    gt = (rr - centre[0]) ** 2 + (cc - centre[1]) ** 2 <= radius ** 2
    image = np.where(gt, 60.0, -1000.0).astype(np.float32)
    return Case(image, gt, (1.0, 1.0), "CT", "disc", "synthetic", "p0", 0, "synthetic", True)


def test_evaluate_case_bookkeeping(tiny_model):
    case = _disc_case()
    r = evaluate_case(tiny_model, case)
    assert len(r.dice) == 20 and all(0.0 <= d <= 1.0 for d in r.dice)
    assert r.clicks[0] == (50, 44, True)  # the deterministic user starts at the deepest point
    assert set(r.hd95) == set(REPORT_AT) == set(r.msd)
    assert r.area_px == int(case.gt.sum())
    for t in (0.85, 0.90):
        if r.reached[t]:
            k = r.noc[t]
            assert r.dice[k - 1] >= t and all(d < t for d in r.dice[: k - 1])
        else:
            assert r.noc[t] == 20 and max(r.dice) < t or r.dice[-1] < t
    # Dice after k clicks is what a session replaying the same clicks gives
    sess = tiny_model.start(case.image, spacing=case.spacing, modality="CT")
    for k, (row, col, pos) in enumerate(r.clicks[:5], start=1):
        assert dice_score(sess.click(row, col, positive=pos), case.gt) == pytest.approx(r.dice[k - 1])


def test_evaluate_refuses_empty_reference_and_small_max_clicks(tiny_model):
    case = _disc_case()
    with pytest.raises(ValueError, match="max_clicks"):
        evaluate_case(tiny_model, case, max_clicks=10)
    case.gt = np.zeros_like(case.gt)
    with pytest.raises(ValueError, match="empty"):
        evaluate_case(tiny_model, case)


def _result(structure, dice_value, group="g", seen=True, noc=3):
    return CaseResult(structure, "ds", "p", 0, group, seen, "CT", 10, [dice_value] * 20,
                      {k: 1.0 for k in REPORT_AT}, {k: 0.5 for k in REPORT_AT}, {0.85: noc, 0.9: noc},
                      {0.85: True, 0.9: noc < 20})


def test_summarize_averages_cases_then_structures():
    results = [_result("a", 0.5, noc=4), _result("a", 0.7, noc=6), _result("b", 0.9, noc=20),
               _result("c", 0.3, group="u", seen=False)]
    s = summarize(results)
    assert s["structures"]["ds/a"]["dice_at"]["1"] == pytest.approx(0.6)
    assert s["structures"]["ds/a"]["cases"] == 2
    assert s["structures"]["ds/b"]["noc_failures"]["90"] == 1
    g = s["groups"]["g"]
    assert g["dice_at"]["5"] == pytest.approx(0.75)  # (0.6 + 0.9) / 2, not the case mean 0.7
    assert g["noc"]["90"] == pytest.approx((5 + 20) / 2)
    assert s["groups"]["seen"]["structures"] == ["ds/a", "ds/b"]
    assert s["groups"]["unseen"]["dice_at"]["1"] == pytest.approx(0.3)


def test_reports(tmp_path, tiny_model):
    results = evaluate(tiny_model, [_disc_case(), _disc_case(radius=6)])
    s = summarize(results)
    path = report.write_json(tmp_path / "eval.json", s, {"note": "test"}, report.case_records(results))
    doc = json.loads(open(path).read())
    assert doc["summary"]["groups"]["synthetic"]["cases"] == 2
    assert doc["paper"]["spleen (seen)"]["5"] == 0.95
    assert len(doc["cases"]) == 2 and len(doc["cases"][0]["dice"]) == 20
    assert "synthetic/disc" in report.text_table(s)
    md = report.markdown_tables(s).splitlines()
    assert md[0].startswith("| group |") and any(line.startswith("| synthetic | 1 | 2 |") for line in md)
    assert any(line.startswith("| synthetic/disc | 2 |") for line in md)
    pytest.importorskip("matplotlib")
    png = report.plot_dice_vs_clicks(tmp_path / "plot.png", s)
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
