"""`radseg eval click` end to end on the real data with a real exported (tiny) ONNX model: files and numbers."""
import json

import pytest

from radseg.cli import main
from tests.backends.tiny_model import make_tiny_model_dir
from tests.conftest import shared_data

pytest.importorskip("onnxruntime")
pytest.importorskip("torch")
pytest.importorskip("nibabel")


def test_eval_click_writes_json_and_plot(tmp_path, capsys):
    root = shared_data()
    model = make_tiny_model_dir(tmp_path / "m", size=64)
    out = tmp_path / "out"
    code = main(["eval", "click", "--model", str(model), "--data", str(root), "--out", str(out), "--max-slices", "1",
                 "--btcv", "sabs_02", "--chaos", "chaos_t2_03", "--no-progress"])
    assert code == 0
    doc = json.loads((out / "eval.json").read_text())
    groups = doc["summary"]["groups"]
    assert len(groups["btcv_heldout"]["structures"]) == 13
    assert "chaos/spleen" in groups["unseen_mr"]["structures"]  # held out of training by the split
    assert "chaos/spleen" not in groups["chaos_heldout"]["structures"]
    assert {"unseen_ct", "seen", "unseen"} <= set(groups)
    for g in groups.values():
        assert set(g["dice_at"]) == {"1", "2", "3", "5", "10", "15"} and 1 <= g["noc"]["90"] <= 20
    assert doc["meta"]["patients"] == {"btcv": ["sabs_02"], "chaos": ["chaos_t2_03"]}
    assert "spleen (seen)" in doc["comparison"]
    assert "[btcv_heldout]" in capsys.readouterr().out
    assert "| btcv_heldout | 13 |" in (out / "eval.md").read_text()
    if (out / "dice_vs_clicks.png").exists():
        assert (out / "dice_vs_clicks.png").read_bytes()[:4] == b"\x89PNG"


def test_eval_click_bad_arguments(tmp_path, capsys):
    assert main(["eval", "click", "--out", str(tmp_path), "--data", str(tmp_path / "nope")]) == 1
    assert "nope: no such folder" in capsys.readouterr().err
    assert main(["eval", "click", "--out", str(tmp_path), "--max-slices", "0"]) == 2
