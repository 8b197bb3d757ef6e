"""Propagation evaluation (seed 001): the correction schedule, the protocol's calls into the SDK, averaging, the
reports, end to end with the tiny hand-weighted propagation model, and `radseg eval propagation` on real data."""
import gzip
import json
import struct

import numpy as np
import pytest

import radseg
from radseg.cli import main
from radseg.eval import propagation as pe
from radseg.eval import propagation_report as report
from radseg.eval.propagation import (VolumeCase, correction_schedule, evaluate, evaluate_case, middle_slice,
                                     plan_corrections, structure_extent, summarize)
from tests.conftest import shared_data


# ---------------------------------------------------------------------------------------------- the schedule
def test_schedule_steps_of_ten_percent_alternating_from_the_middle():
    # 20 slices (10..29): 10 % is 2 slices; the middle is (10 + 29) // 2 = 19; upper side first.
    assert correction_schedule(10, 29, 5) == [21, 17, 23, 15, 25]
    # 37 slices: offsets round(3.7 k) half up = 4, 7, 11
    assert correction_schedule(100, 136, 5) == [122, 114, 125, 111, 129]
    # 100 slices: exactly 10, 20, 30 slices from slice 49
    assert correction_schedule(0, 99, 6) == [59, 39, 69, 29, 79, 19]


def test_schedule_short_structures_and_the_ends():
    assert correction_schedule(0, 4, 10) == [3, 1, 4, 0]  # at least k slices for the k-th step; then both ends out
    assert correction_schedule(7, 7, 5) == []  # one slice: nothing to correct
    assert correction_schedule(3, 4, 5) == [4]  # the middle is 3; 2 is outside
    # one side leaves the extent first: the other side goes on alone
    assert correction_schedule(0, 9, 10) == [5, 3, 6, 2, 7, 1, 8, 0, 9]
    assert correction_schedule(10, 29, 0) == []
    with pytest.raises(ValueError):
        correction_schedule(5, 4, 3)
    with pytest.raises(ValueError):
        correction_schedule(0, 9, 3, step=0)


def test_plan_skips_gaps_and_seeds_on_the_nearest_present_slice():
    gt = np.zeros((40, 8, 8), bool)
    gt[10:30, 2:6, 2:6] = True
    assert structure_extent(gt) == (10, 29)
    assert plan_corrections(gt, 5) == (19, [21, 17, 23, 15, 25])
    gt[21] = False  # a gap where the first correction would go: skipped, the schedule goes on
    assert plan_corrections(gt, 5) == (19, [17, 23, 15, 25, 13])
    gt[18:21] = False  # the middle (19) is empty: the nearest present slices are 17 and 22 -> 17 (2 away)
    assert middle_slice(gt) == 17
    seed, plan = plan_corrections(gt, 3)
    assert seed == 17 and seed not in plan and plan == [23, 15, 25]
    tie = np.zeros((10, 4, 4), bool)
    tie[[2, 6]] = True  # middle 4, both 2 away: the lower one
    assert middle_slice(tie) == 2
    with pytest.raises(ValueError):
        structure_extent(np.zeros((3, 4, 4), bool))


# ---------------------------------------------------------------------------------------------- the protocol
class _RecordingRun:
    """A stand-in for PropagationRun: records calls; "propagates" by copying the truth, except a slice it leaves
    out until it is corrected."""

    def __init__(self, gt, miss):
        self.gt, self.miss, self.calls = gt, miss, []
        self.last_stats = {"network_steps": 3}
        self.masks = np.zeros(gt.shape, bool)

    def propagate(self, k, mask):
        self.calls.append(("propagate", int(k), np.asarray(mask).copy()))
        self.masks = self.gt.copy()
        self.masks[k] = mask
        if self.miss is not None:
            self.masks[self.miss] = False
        return self.masks.copy()

    def correct(self, k, mask):
        self.calls.append(("correct", int(k), np.asarray(mask).copy()))
        self.masks[k] = mask
        return self.masks.copy()

    @property
    def stopped(self):
        return {"up": {"last": 30, "reason": "vanished", "area_mm2": 1.0},
                "down": {"last": 12, "reason": "volume end", "area_mm2": 1.0}}


class _RecordingModel:
    def __init__(self, gt, miss):
        self.gt, self.miss, self.runs = gt, miss, []

    def start(self, volume, spacing=None, modality=None):
        assert spacing is not None and modality is not None
        run = _RecordingRun(self.gt, self.miss)
        self.runs.append((volume.shape, tuple(spacing), modality, run))
        return run


def _box_case(first=10, last=29, shape=(40, 16, 16), structure="box", dataset="synthetic", patient="p0",
              group="synthetic", seen=True):
    gt = np.zeros(shape, bool)
    gt[first:last + 1, 4:12, 4:12] = True
    image = np.where(gt, 100.0, -1000.0).astype(np.float32)
    return VolumeCase.from_mask(image, gt, (2.0, 1.0, 1.0), "CT", structure, dataset, patient, group, seen), gt


def test_protocol_seeds_with_the_truth_and_corrects_in_schedule_order():
    case, gt = _box_case()
    model = _RecordingModel(gt, miss=21)  # the first correction's slice is missing until corrected
    r = evaluate_case(model, case, corrections=5)
    _, spacing, modality, run = model.runs[0]
    assert spacing == (2.0, 1.0, 1.0) and modality == "CT"
    kinds = [(c[0], c[1]) for c in run.calls]
    assert kinds == [("propagate", 19), ("correct", 21), ("correct", 17), ("correct", 23), ("correct", 15),
                     ("correct", 25)]
    for _, k, mask in run.calls:
        np.testing.assert_array_equal(mask, gt[k])  # every seed and correction is the true mask of its slice
    assert r.seed == 19 and r.corrections == [21, 17, 23, 15, 25] and r.extent == (10, 29)
    assert len(r.dice) == len(r.hd95) == len(r.msd) == 6
    assert r.dice[0] == pytest.approx(2 * 19 / (19 + 20))  # one of 20 slices missing
    assert r.dice[1:] == [1.0] * 5 and r.hd95[1:] == [0.0] * 5
    assert r.hd95[0] > 0
    assert r.stopped["up"] == {"last": 30, "reason": "vanished", "area_mm2": 1.0, "early_by": -1}
    assert r.stopped["down"]["early_by"] == 2  # stopped at 12, the structure begins at 10
    assert r.network_steps == 3 * 6 and not r.schedule_exhausted


def test_short_structure_exhausts_the_schedule_and_keeps_its_last_numbers():
    case, gt = _box_case(first=10, last=12)
    r = evaluate_case(_RecordingModel(gt, miss=12), case, corrections=5)
    assert r.seed == 11 and r.corrections == [12, 10]
    assert len(r.dice) == 6 and r.dice[2:] == [r.dice[2]] * 4 and r.schedule_exhausted
    s = summarize([r])["structures"]["synthetic/box"]
    assert s["schedule_exhausted"] == 1 and s["corrections_applied"] == 2


class _EmptyClickModel:
    """A click model whose masks are always empty: a seed the propagation cannot start from."""

    def start(self, image, spacing=None, modality=None):
        assert image.ndim == 2 and len(spacing) == 2
        return self

    def click(self, row, col, positive=True):
        return np.zeros((16, 16), bool)


def test_realistic_protocol_with_an_empty_click_seed():
    case, gt = _box_case()
    r = evaluate_case(_RecordingModel(gt, miss=21), case, corrections=1, click_model=_EmptyClickModel())
    assert set(r.realistic) == {1, 3}
    for n, e in r.realistic.items():
        assert e["empty_seed"] and e["dice"] == 0.0 and e["seed_dice"] == 0.0
        assert e["hd95"] == e["msd"] == pytest.approx(np.sqrt(80 ** 2 + 16 ** 2 + 16 ** 2))  # the diagonal, mm
        assert len(e["clicks"]) == n
    s = summarize([r])
    assert s["structures"]["synthetic/box"]["realistic"]["3"]["empty_seeds"] == 1
    assert s["groups"]["synthetic"]["realistic"]["1"]["dice"] == 0.0


def test_summarize_averages_cases_then_structures():
    results = []
    for structure, misses in (("a", (21, 21)), ("b", (21,))):
        for i, miss in enumerate(misses):
            case, gt = _box_case(structure=structure, patient=f"p{i}")
            results.append(evaluate_case(_RecordingModel(gt, miss), case, corrections=2))
    other, gt = _box_case(structure="c", group="other", seen=False)
    results.append(evaluate_case(_RecordingModel(gt, None), other, corrections=2))  # None: nothing missed
    s = summarize(results)
    assert s["structures"]["synthetic/a"]["cases"] == 2 and s["structures"]["synthetic/a"]["patients"] == ["p0", "p1"]
    assert set(s["groups"]) == {"synthetic", "other", "seen", "unseen"}
    assert s["groups"]["synthetic"]["structures"] == ["synthetic/a", "synthetic/b"]
    assert s["groups"]["seen"]["dice"][0] == pytest.approx(2 * 19 / 39, abs=1e-5)
    assert s["groups"]["unseen"]["dice"] == [1.0, 1.0, 1.0]
    assert s["structures"]["synthetic/a"]["stops"]["up"] == {"reasons": {"vanished": 2}, "early_by_mean": -1.0}
    assert s["groups"]["synthetic"]["stops"]["down"] == {"volume end": 3}
    json.dumps(s)  # JSON-ready
    records = pe.case_records(results)
    assert records[0]["corrections"] == [21, 17] and records[0]["extent"] == [10, 29]
    json.dumps(records)


# ---------------------------------------------------------------------------------------------- the tiny model
@pytest.fixture(scope="module")
def tiny_prop(tmp_path_factory):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("torch")
    from tests.propagation.tiny_model import make_tiny_propagation_dir

    return radseg.load(make_tiny_propagation_dir(tmp_path_factory.mktemp("tiny_prop")), threads=1)


@pytest.fixture(scope="module")
def tiny_click(tmp_path_factory):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("torch")
    from tests.backends.tiny_model import make_tiny_model_dir

    return radseg.load(make_tiny_model_dir(tmp_path_factory.mktemp("tiny_click"), size=64), threads=1)


def _blob_cases():
    from tests.propagation.tiny_model import blob_volume

    vol, gt, spacing = blob_volume()
    small, small_gt, _ = blob_volume(slices=24, first=6, last=14, radius_mm=12.0)
    return [VolumeCase.from_mask(vol, gt, spacing, "CT", "blob", "synthetic", "p0", "blobs", True),
            VolumeCase.from_mask(small, small_gt, spacing, "CT", "small blob", "synthetic", "p1", "blobs", False)]


def test_end_to_end_with_the_tiny_model(tiny_prop, tiny_click, tmp_path):
    cases = _blob_cases()
    seen = []
    results = evaluate(tiny_prop, cases, corrections=3, click_model=tiny_click, progress=seen.append)
    assert len(seen) == 2
    big = results[0]
    assert big.extent == (8, 31) and big.seed == 19
    assert big.corrections == correction_schedule(8, 31, 3)  # [21, 17, 24]: 10 % of 24 slices rounds to 2
    assert big.dice[0] > 0.97  # the tiny net follows the bright blob
    assert all(d > 0.95 for d in big.dice) and all(h < 3.0 for h in big.hd95)
    # the blob ends inside the volume: both directions stop where the mask vanishes, at the blob's ends
    assert {d: (s["reason"], s["early_by"]) for d, s in big.stopped.items()} == {"up": ("vanished", 0),
                                                                                 "down": ("vanished", 0)}
    for n in (1, 3):
        e = big.realistic[n]
        assert 0.0 < e["seed_dice"] <= 1.0 and 0.0 <= e["dice"] <= 1.0 and len(e["clicks"]) <= n
    summary = summarize(results)
    assert set(summary["groups"]) == {"blobs", "seen", "unseen"}
    assert summary["groups"]["blobs"]["dice"][0] > 0.9
    # reports
    meta = {"protocol": pe.PROTOCOL.format(step=0.1, n=3, clicks="1 and 3"), "model": "tiny", "backend": "x",
            "command": "test", "skipped": ["la_heart_unseen: h5py is not installed"]}
    path = report.write_json(tmp_path / "eval.json", summary, meta, pe.case_records(results))
    doc = json.loads(open(path).read())
    assert set(doc) == {"meta", "summary", "paper", "comparison", "cases"} and len(doc["cases"]) == 2
    assert doc["paper"]["one_seed_slice"]["pancreas"] == 0.61
    md = report.markdown_tables(summary, 3, (1, 3), meta)
    assert "| blobs | 2 | 2 |" in md and "Realistic protocol" in md and "h5py" in md
    assert "| pancreas | 0.61 | - | not in this evaluation |" in md
    table = report.text_table(summary, 3)
    assert "synthetic/blob" in table and "*synthetic/small blob" in table and "[blobs] (2 structures)" in table
    try:
        png = report.plot_dice_vs_corrections(tmp_path / "p.png", summary)
    except ModuleNotFoundError:
        return
    assert open(png, "rb").read(4) == b"\x89PNG"


def test_comparison_puts_our_structures_beside_the_paper():
    s = {"structures": {"btcv/liver": {"dice": [0.8, 0.9], "seen": True, "cases": 4},
                        "btcv/right kidney": {"dice": [0.85, 0.9], "seen": True, "cases": 4}},
         "groups": {"unseen": {"dice": [0.5, 0.6]}}}
    c = report.comparison(s)
    assert c["liver"] == {"paper": 0.88, "ours": {"btcv/liver": {"dice": 0.8, "seen": True, "cases": 4}}}
    assert c["right kidney (unseen)"]["ours"]["group:unseen"] == {"dice": 0.5, "seen": False}
    assert c["pancreas"]["ours"] == {}


# ---------------------------------------------------------------------------------------------- readers
def test_read_gipl_round_trip(tmp_path):
    data = np.arange(3 * 4 * 5, dtype=">i2").reshape(3, 4, 5)  # [z, y, x]
    header = bytearray(256)
    header[0:8] = struct.pack(">4H", 5, 4, 3, 1)
    header[8:10] = struct.pack(">H", 15)
    header[10:26] = struct.pack(">4f", 0.5, 0.7, 2.0, 0.0)
    header[252:256] = struct.pack(">I", 0xEFFFE9B0)
    path = tmp_path / "x.gipl.gz"
    with gzip.open(path, "wb") as f:
        f.write(bytes(header) + data.tobytes())
    arr, spacing = pe.read_gipl(path)
    np.testing.assert_array_equal(arr, data)
    assert arr.dtype.isnative and spacing == (2.0, 0.7, 0.5)
    bad = tmp_path / "bad.gipl"
    bad.write_bytes(b"\0" * 300)
    with pytest.raises(ValueError, match="not a GIPL"):
        pe.read_gipl(bad)


# ---------------------------------------------------------------------------------------------- the command
def test_cli_refuses_a_click_model_and_unknown_structures(tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("torch")
    from tests.backends.tiny_model import make_tiny_model_dir
    from tests.propagation.tiny_model import make_tiny_propagation_dir

    click = make_tiny_model_dir(tmp_path / "click", size=64)
    code = main(["eval", "propagation", "--model", str(click), "--data", str(tmp_path), "--out", str(tmp_path / "o")])
    assert code == 2 and "not a propagation model" in capsys.readouterr().err
    prop = make_tiny_propagation_dir(tmp_path / "prop")
    code = main(["eval", "propagation", "--model", str(prop), "--data", str(tmp_path), "--out", str(tmp_path / "o"),
                 "--no-realistic", "--structures", "livr"])
    assert code == 2 and "unknown structure names ['livr']" in capsys.readouterr().err
    code = main(["eval", "propagation", "--model", str(prop), "--data", str(tmp_path), "--out", str(tmp_path / "o"),
                 "--no-realistic", "--no-unseen", "--groups", "btcv_heldout,itksnap_mr"])
    assert code == 2 and "unknown groups ['itksnap_mr']" in capsys.readouterr().err
    assert main(["eval", "propagation", "--out", str(tmp_path), "--data", str(tmp_path / "nope")]) == 1
    assert "nope: no such folder" in capsys.readouterr().err
    assert main(["eval", "propagation", "--out", str(tmp_path), "--corrections", "-1"]) == 2


def test_cli_on_real_data(tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("torch")
    pytest.importorskip("nibabel")
    root = shared_data("btcv_sabs_ct")
    from tests.backends.tiny_model import make_tiny_model_dir
    from tests.propagation.tiny_model import make_tiny_propagation_dir

    prop = make_tiny_propagation_dir(tmp_path / "prop")
    click = make_tiny_model_dir(tmp_path / "click", size=64)
    out = tmp_path / "out"
    code = main(["eval", "propagation", "--model", str(prop), "--click-model", str(click), "--data", str(root.parent),
                 "--out", str(out), "--btcv", "sabs_02", "--structures", "gallbladder,left adrenal gland",
                 "--corrections", "2", "--groups", "btcv_heldout,chaos_heldout", "--no-progress", "--threads", "1"])
    assert code == 0
    doc = json.loads((out / "eval.json").read_text())
    groups = doc["summary"]["groups"]
    assert groups["btcv_heldout"]["structures"] == ["btcv/gallbladder", "btcv/left adrenal gland"]
    assert set(groups) == {"btcv_heldout", "seen"}  # the CHAOS groups hold neither structure
    assert all(len(g["dice"]) == 3 and set(g["realistic"]) == {"1", "3"} for g in groups.values())
    assert doc["meta"]["patients"]["btcv"] == ["sabs_02"] and doc["meta"]["corrections"] == 2
    assert "middle slice" in doc["meta"]["protocol"] and doc["meta"]["backend"]
    assert {c["patient"] for c in doc["cases"]} == {"sabs_02"}
    assert "[btcv_heldout] (2 structures)" in capsys.readouterr().out
    md = (out / "eval.md").read_text()
    assert "| btcv_heldout | 2 | 2 |" in md
    if (out / "dice_vs_corrections.png").exists():
        assert (out / "dice_vs_corrections.png").read_bytes()[:4] == b"\x89PNG"
