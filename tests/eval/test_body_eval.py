"""Body-outline evaluation (seed 000's Table 1): per-slice scores, the protocol for empty references and undefined
Hausdorff distances, the tables, the reference loader on body_refs, and `radseg eval body` end to end."""
import json

import numpy as np
import pytest

from radseg.body.candidates import VARIANTS
from radseg.cli import main
from radseg.eval import body, body_report
from radseg.metrics import dice, surface_metrics
from tests.conftest import shared_data


def disc(shape, centre, radius):
    r, c = np.ogrid[:shape[0], :shape[1]]
    return (r - centre[0]) ** 2 + (c - centre[1]) ** 2 <= radius ** 2


def test_score_matches_the_metrics_and_defines_the_empty_cases():
    ref = disc((64, 64), (32, 32), 20)
    pred = disc((64, 64), (33, 31), 19)
    s = body.score(pred, ref)
    assert s["dice"] == pytest.approx(dice(pred, ref))
    assert s["hd"] == pytest.approx(surface_metrics(pred, ref).hausdorff)  # pixels: no spacing
    empty = np.zeros_like(ref)
    assert body.score(empty, ref) == {"dice": 0.0, "hd": None}       # nothing outlined: HD undefined
    assert body.score(ref, empty) == {"dice": 0.0, "hd": None}       # outline where the reference has none
    assert body.score(empty, empty) == {"dice": 1.0, "hd": 0.0}


def _evaluation():
    """Three slices: two with a reference (one the method misses), one with an empty reference it outlines."""
    ref = disc((48, 48), (24, 24), 15)
    ev = body.BodyEvaluation()
    ev.slices = [
        {"case": "a", "index": 0, "modality": "CT", "ref_empty": False,
         "scores": {"M1(1)": {"dice": 0.9, "hd": 3.0}, body.NET: {"dice": 0.95, "hd": 2.0}}},
        {"case": "a", "index": 1, "modality": "MR", "ref_empty": False,
         "scores": {"M1(1)": {"dice": 0.0, "hd": None}, body.NET: {"dice": 0.99, "hd": 1.0}}},
        {"case": "a", "index": 2, "modality": "MR", "ref_empty": True,
         "scores": {"M1(1)": {"dice": 0.0, "hd": None}, body.NET: {"dice": 1.0, "hd": 0.0}}},
    ]
    assert ref.any()
    return ev


def test_table_counts_undefined_and_empty_reference_slices_apart():
    t = _evaluation().table(["M1(1)", body.NET])
    m = t["M1(1)"]
    assert m["slices"] == 2 and m["empty_ref_slices"] == 1
    assert m["dice"]["mean"] == pytest.approx(0.45)             # the missed slice scores 0, not dropped
    assert m["hd"]["n"] == 1 and m["hd_undefined"] == 1 and m["hd"]["mean"] == 3.0
    assert m["false_outline_slices"] == 1
    n = t[body.NET]
    assert n["dice"]["median"] == pytest.approx(0.97) and n["false_outline_slices"] == 0
    mr = _evaluation().table(["M1(1)"], "MR")["M1(1)"]
    assert mr["slices"] == 1 and mr["empty_ref_slices"] == 1


def test_worst_lists_the_lowest_dice_first():
    ev = _evaluation()
    assert [s["index"] for s in ev.worst("M1(1)", 2)] == [1, 2]  # Dice 0 both; ties keep slice order
    assert ev.worst(body.NET, 1)[0]["index"] == 0


def test_evaluate_scores_every_variant_and_a_network_on_a_synthetic_case():
    image = np.full((2, 64, 64), -1000.0, np.float32)
    ref = np.stack([disc((64, 64), (32, 32), 20)] * 2)
    image[ref] = 40.0
    case = body.RefCase("synthetic", "CT", image, ref, (2.0, 1.0, 1.0))
    ev = body.evaluate([case], net=lambda img, sp, mod: img > -500)
    assert len(ev.slices) == 2
    assert set(ev.slices[0]["scores"]) == set(VARIANTS) | {body.NET}
    assert ev.slices[0]["scores"][body.NET] == {"dice": 1.0, "hd": 0.0}
    summ = body_report.summary(ev, list(VARIANTS) + [body.NET])
    assert set(summ) == {"all", "CT"}
    text = body_report.markdown(summ, list(VARIANTS) + [body.NET], [case])
    assert "| **Net** | 1.0000 | 1.0000 | 0.00 | 0.00 | 0 | 0 |" in text


def test_reference_cases_load_the_four_body_refs_aligned():
    root = shared_data("body_refs").parent
    cases = {c.name: c for c in body.reference_cases(root)}
    assert set(cases) == {"ct_breast_dicompyler", "ct_visible_human", "mr_mne_sample", "mr_colin27"}
    for c in cases.values():
        assert c.image.shape == c.ref.shape and c.ref.any()
    ct = cases["ct_visible_human"]
    # the clinical BODY outline holds soft tissue, the outside is air
    assert np.median(ct.image[ct.ref]) > -200 and np.median(ct.image[~ct.ref]) < -800


def test_cli_classical_only_on_body_refs(tmp_path):
    root = shared_data("body_refs").parent
    rc = main(["eval", "body", "--classical-only", "--data", str(root), "--out", str(tmp_path), "--no-progress"])
    assert rc == 0
    doc = json.loads((tmp_path / "eval.json").read_text())
    assert set(doc["summary"]) == {"all", "CT", "MR"}
    assert len(doc["slices"]) == 1 + 4 + 86 + 181
    assert "M1(3)" in (tmp_path / "eval.md").read_text()
