"""The INT8 backend (`radseg.backends.int8`): when automatic selection may take a variant, the named backend,
and the bundled models' recorded variants (validated, the file the manifest names)."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from radseg.backends import select_backend
from radseg.backends.int8 import INT8_FILE, automatic_refusal, int8_factory
from tests.backends.tiny_model import INPUT_NAME, export_tiny_onnx

pytest.importorskip("onnxruntime")

GOOD = {"file": INT8_FILE, "validated": True, "agreement": {"mask_dice_mean": 0.995},
        "speed": {"isa": ["avx512_vnni"], "speedup": 2.1}}


@pytest.mark.parametrize("entry,isa,words", [
    (None, ["avx512_vnni"], "no int8 variant"),
    (dict(GOOD, validated=False), ["avx512_vnni"], "not validated"),
    (dict(GOOD, speed={"isa": [], "speedup": 1.1}), ["avx512_vnni"], "without int8 dot-product"),
    (GOOD, [], "lacks the int8 instructions"),
    (GOOD, ["asimddp"], "avx512_vnni"),
])
def test_automatic_selection_needs_a_validated_variant_and_the_same_instructions(entry, isa, words):
    assert words in automatic_refusal(entry, isa)


def test_a_validated_variant_on_a_matching_cpu_is_taken():
    assert automatic_refusal(GOOD, ["avx512_vnni", "avx_vnni"]) is None


@pytest.fixture
def tiny_int8(tmp_path):
    """A tiny model folder whose "int8 variant" is a copy of the fp32 file (enough for the selection rules)."""
    pytest.importorskip("torch")
    export_tiny_onnx(tmp_path / "model.onnx")
    shutil.copy(tmp_path / "model.onnx", tmp_path / INT8_FILE)
    (tmp_path / "manifest.json").write_text(json.dumps({"variants": {"int8": GOOD}}))
    return tmp_path


def test_named_int8_backend_runs_the_int8_file(tiny_int8):
    backend = select_backend(tiny_int8, backend="onnxruntime-cpu-int8")
    assert backend.name == "onnxruntime-cpu-int8" and backend.model_path.endswith(INT8_FILE)
    out = backend.run({INPUT_NAME: np.zeros((1, 3, 16, 16), np.float32)})
    assert next(iter(out.values())).shape == (1, 1, 16, 16)


def test_automatic_selection_takes_int8_only_where_validated(tiny_int8, monkeypatch):
    import radseg.backends.int8 as int8

    monkeypatch.setattr(int8, "cpu_isa", lambda: ["avx512_vnni"])
    assert select_backend(tiny_int8).name == "onnxruntime-cpu-int8"
    monkeypatch.setattr(int8, "cpu_isa", lambda: [])
    chosen = select_backend(tiny_int8)
    assert chosen.name == "onnxruntime-cpu" and "lacks the int8" in chosen.refused["onnxruntime-cpu-int8"]
    (tiny_int8 / "manifest.json").write_text(json.dumps({"variants": {"int8": dict(GOOD, validated=False)}}))
    monkeypatch.setattr(int8, "cpu_isa", lambda: ["avx512_vnni"])
    assert select_backend(tiny_int8).name == "onnxruntime-cpu"
    assert select_backend(tiny_int8, backend="onnxruntime-cpu-int8").name == "onnxruntime-cpu-int8"  # named: yes


def test_refusals_say_how_to_make_the_variant(tiny_int8):
    from radseg.backends.base import BackendUnavailable

    (tiny_int8 / "manifest.json").write_text("{}")
    with pytest.raises(BackendUnavailable, match="not recorded in the manifest"):
        int8_factory(tiny_int8)
    (tiny_int8 / INT8_FILE).unlink()
    with pytest.raises(BackendUnavailable, match="--int8"):
        int8_factory(tiny_int8)


@pytest.mark.parametrize("task", ["click", "propagation", "body"])
def test_bundled_models_carry_a_validated_int8_variant(task):
    from radseg.export.quantize import sha256
    from radseg.load import BUNDLED_DIR

    folder = BUNDLED_DIR / task
    entry = json.loads((folder / "manifest.json").read_text())["variants"]["int8"]
    assert entry["file"] == INT8_FILE and sha256(folder / INT8_FILE) == entry["sha256"]
    assert entry["agreement"]["mask_dice_mean"] >= 0.99 and entry["speed"]["speedup"] > 1
    if task == "propagation":  # whole runs compound the per-pass error: below the bar, so never taken automatically
        runs = entry["agreement"]["runs"]
        assert entry["validated"] is (runs["mask_dice_mean"] >= 0.99) and not entry["validated"]
        assert entry["openvino"]["validated"] is False
        return
    if task == "click":  # v3's whole sessions agree at 0.987: below the bar, so not taken automatically
        sessions = entry["agreement"]["sessions"]
        assert entry["validated"] is (sessions["mask_dice_mean"] >= 0.99)
        assert abs(sessions["gt_dice_fp32"] - sessions["gt_dice_int8"]) < 0.005
        return
    assert entry["validated"]
