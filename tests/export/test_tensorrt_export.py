"""`radseg.export.tensorrt` without TensorRT: profiles, the manifest record, validation, refusals, the CLI.

The TensorRT build itself is NOT verified on hardware; the end-to-end tests run it on `fake_tensorrt`.
"""
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from radseg.backends import tensorrt as trt_backend
from radseg.backends.tensorrt import check_engine_metadata
from radseg.errors import UsageError
from radseg.export import tensorrt as trt_export
from radseg.export.tensorrt import (
    EngineBuildError, TensorRTMissing, build_engine, check_qdq_graph, compare_logits, engine_metadata,
    judge_validation, profile_shapes,
)
from radseg.manifest import ModelManifest

REPO = pathlib.Path(__file__).resolve().parents[2]
MODELS = REPO / "sdk" / "models"
RUNNING = {"tensorrt_version": "10.3.0", "gpu_name": "NVIDIA L4", "compute_capability": "8.9"}


@pytest.mark.parametrize("task, c, s, opt, top", [("click", 4, 96, 1, 4), ("propagation", 2, 96, 2, 8),
                                                   ("body", 1, 256, 8, 16)])
def test_profile_shapes_from_bundled_manifests(task, c, s, opt, top):
    m = ModelManifest.from_json(MODELS / task / "manifest.json")
    assert profile_shapes(m) == {"input": ((1, c, s, s), (opt, c, s, s), (top, c, s, s))}
    assert profile_shapes(m, max_batch=32)["input"][2] == (32, c, s, s)
    with pytest.raises(UsageError, match=f">= {opt}"):
        profile_shapes(m, max_batch=opt - 1 if opt > 1 else 0)


def test_engine_metadata_round_trips_through_the_manifest(tmp_path):
    m = ModelManifest.from_json(MODELS / "click" / "manifest.json")
    entry = engine_metadata(RUNNING, "fp16", profile_shapes(m), "model.onnx", "f" * 64, 2048,
                            built_at="2025-01-01T00:00:00Z")
    assert entry["profile"] == {"input": {"min": [1, 4, 96, 96], "opt": [1, 4, 96, 96], "max": [4, 4, 96, 96]}}
    assert entry["file"] == "model.plan" and entry["built_by"].startswith("radseg ")
    entry["validation"] = {"max_abs_logit_diff": 0.01, "mask_dice_min": 0.999}
    m2 = m.replace(extra={**m.extra, "engines": {"tensorrt": entry}})
    back = ModelManifest.from_json(m2.to_json(tmp_path / "manifest.json"))
    assert back.extra["engines"]["tensorrt"] == entry
    assert back.extra["export"] == m.extra["export"]  # the other records are kept
    assert check_engine_metadata(back.extra["engines"]["tensorrt"], RUNNING) is None  # what export writes, load takes
    with pytest.raises(ValueError, match="precision"):
        engine_metadata(RUNNING, "bf16", {}, "model.onnx", "", 1)
    with pytest.raises(ValueError, match="gpu_name"):
        engine_metadata({**RUNNING, "gpu_name": ""}, "fp32", {}, "model.onnx", "", 1)


def test_compare_and_judge():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(3, 1, 32, 32)).astype(np.float32) * 5
    r = compare_logits(ref, ref.copy())
    assert r == {"max_abs_logit_diff": 0.0, "mask_dice_min": 1.0, "mask_dice_mean": 1.0}
    assert judge_validation(r, "fp32")["tolerance"] == trt_export.DEFAULT_TOLERANCE["fp32"]
    shifted = compare_logits(ref, ref + 0.05)
    assert shifted["max_abs_logit_diff"] == pytest.approx(0.05, abs=1e-5)
    judge_validation(shifted, "fp16")  # within fp16's tolerance
    with pytest.raises(EngineBuildError, match="max abs logit difference 0.05 .*tolerance 0.01.*not written"):
        judge_validation(shifted, "fp32")
    flipped = ref.copy()
    flipped[1] = -flipped[1]  # one input's mask inverted: small Dice, whatever the logit tolerance
    with pytest.raises(EngineBuildError, match="lowest mask Dice 0.0"):
        judge_validation(compare_logits(ref, flipped), "fp32", tolerance=100)
    nan = ref.copy()
    nan[0, 0, 0, 0] = np.nan
    with pytest.raises(EngineBuildError):
        judge_validation(compare_logits(ref, nan), "int8")
    with pytest.raises(EngineBuildError, match="output shape"):
        compare_logits(ref, ref[:2])


def _qdq_model(path, zero_point):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(np.array(0.1, np.float32), "scale"),
             numpy_helper.from_array(np.array(zero_point), "zp")]
    nodes = [helper.make_node("QuantizeLinear", ["x", "scale", "zp"], ["q"], name="q0"),
             helper.make_node("DequantizeLinear", ["q", "scale", "zp"], ["y"], name="dq0")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_check_qdq_graph(tmp_path):
    assert check_qdq_graph(_qdq_model(tmp_path / "ok.onnx", np.int8(0))) is None
    assert "uint8 zero points (e.g. q0)" in check_qdq_graph(_qdq_model(tmp_path / "u8.onnx", np.uint8(128)))
    assert "nonzero int8 zero points" in check_qdq_graph(_qdq_model(tmp_path / "asym.onnx", np.int8(3)))
    assert "int32 zero points" in check_qdq_graph(_qdq_model(tmp_path / "bias.onnx", np.int32(0)))
    assert "no QuantizeLinear" in check_qdq_graph(MODELS / "click" / "model.onnx")


@pytest.fixture
def tiny_dir(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    pytest.importorskip("pydicom")
    from tests.backends.tiny_model import make_tiny_model_dir

    return make_tiny_model_dir(tmp_path / "tiny", size=64)


def test_build_refuses_cleanly_without_tensorrt(tiny_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    out = tmp_path / "out"
    with pytest.raises(TensorRTMissing) as info:
        build_engine(tiny_dir, out)
    assert isinstance(info.value, ModuleNotFoundError) and info.value.exit_code == 3
    assert "tensorrt is not installed" in str(info.value) and "pip install tensorrt cuda-python" in str(info.value)
    assert not out.exists()  # nothing written before the refusal


def test_int8_needs_the_qdq_graph(tiny_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with pytest.raises(EngineBuildError, match=r"model.int8.onnx.*run `radseg export .* --int8 --out .*` first"):
        build_engine(tiny_dir, int8=True)
    _qdq_model(tiny_dir / "model.int8.onnx", np.uint8(128))
    with pytest.raises(EngineBuildError, match="symmetric signed INT8"):
        build_engine(tiny_dir, int8=True)


def test_validate_engine_on_real_inputs(tiny_dir):
    from radseg.backends.onnxruntime import OnnxRuntimeBackend
    from tests.backends.tiny_model import INPUT_NAME, OUTPUT_NAME

    m = ModelManifest.from_json(tiny_dir / "manifest.json")
    ort = OnnxRuntimeBackend(tiny_dir / "model.onnx")
    report = trt_export.validate_engine(ort.run, tiny_dir, m, "fp32", data=None)
    assert report["max_abs_logit_diff"] == 0.0 and report["mask_dice_min"] == 1.0
    assert "CT_small.dcm" in report["source"] and "batches of 8 and 1" in report["inputs"]

    def off(feeds):
        return {OUTPUT_NAME: ort.run(feeds)[OUTPUT_NAME] + np.float32(0.5)}
    with pytest.raises(EngineBuildError, match="fp32 TensorRT engine disagrees"):
        trt_export.validate_engine(off, tiny_dir, m, "fp32", data=None)
    assert INPUT_NAME in ort.input_names


@pytest.fixture
def fake(monkeypatch):
    from tests.backends import fake_tensorrt

    trt, cudart = fake_tensorrt.make_tensorrt(), fake_tensorrt.FakeCudart(name=b"NVIDIA L4", cc=(8, 9))
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    monkeypatch.setattr(trt_backend, "_import_cudart", lambda: cudart)
    monkeypatch.setitem(fake_tensorrt.OFFSET, "value", 0.0)
    return trt, fake_tensorrt.OFFSET


def test_build_on_the_fake_writes_a_loadable_validated_engine(tiny_dir, tmp_path, fake, monkeypatch):
    import radseg
    from radseg.backends import select as select_mod

    trt, _ = fake
    out = tmp_path / "fp16"
    report = build_engine(tiny_dir, out, fp16=True, data=None)
    flags, profile = trt.built[-1]
    assert flags == ["FP16", "TF32"] and profile == {"image_guidance": ((1, 3, 64, 64), (1, 3, 64, 64), (4, 3, 64, 64))}
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "model.onnx", "model.plan", "model.timing_cache"]
    entry = json.loads((out / "manifest.json").read_text())["engines"]["tensorrt"]
    assert entry["precision"] == "fp16" and entry["gpu_name"] == "NVIDIA L4" and entry["timing_cache"] == "model.timing_cache"
    assert entry["validation"]["mask_dice_min"] == 1.0 and report["validation"] == entry["validation"]
    build_engine(tiny_dir, tmp_path / "fp32", data=None)
    assert "TF32" not in trt.built[-1][0]  # fp32 is IEEE fp32
    monkeypatch.setitem(select_mod._REGISTRY, "tensorrt", (300, trt_backend.tensorrt_factory))
    model = radseg.load(out)
    assert model.backend == "tensorrt"


def test_build_failing_validation_leaves_no_engine(tiny_dir, tmp_path, fake):
    fake[1]["value"] = 1.0
    with pytest.raises(EngineBuildError, match="disagrees"):
        build_engine(tiny_dir, tmp_path / "bad", data=None)
    assert not any(p.name.endswith((".plan", ".building")) for p in (tmp_path / "bad").iterdir())


def _export_parser():
    from radseg.cli import Parser
    from radseg.cli import export as export_cli

    root = Parser(prog="radseg")
    export_cli.register(root.add_subparsers(dest="command"))
    p = root._subparsers._group_actions[0].choices["export"]
    options = {s for a in p._actions for s in a.option_strings}
    if "--tensorrt" not in options:  # until radseg.cli.export adds them itself
        trt_export.add_cli_arguments(p)
    if "--int8" not in options:
        p.add_argument("--int8", action="store_true")
    return root


def test_cli_refusals(tiny_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    parse = _export_parser().parse_args
    pt = tmp_path / "final.pt"
    pt.write_bytes(b"x")
    cases = [([str(pt), "--tensorrt"], "is a file"), ([str(tiny_dir), "--fp16"], "need --tensorrt"),
             ([str(tiny_dir), "--tensorrt", "--crop", "expand=2"], "as it is")]
    for argv, message in cases:
        with pytest.raises(UsageError, match=message):
            trt_export.cli_run(parse(["export", *argv, "--out", str(tmp_path / "o")]))
    with pytest.raises(TensorRTMissing):
        trt_export.cli_run(parse(["export", str(tiny_dir), "--tensorrt", "--out", str(tmp_path / "o")]))
    with pytest.raises(EngineBuildError, match="--int8 --out"):
        trt_export.cli_run(parse(["export", str(tiny_dir), "--tensorrt", "--int8", "--out", str(tmp_path / "o")]))


def test_cli_prints_the_build_and_validation(tiny_dir, tmp_path, fake, capsys):
    args = _export_parser().parse_args(["export", str(tiny_dir), "--tensorrt", "--fp16", "--max-batch", "6",
                                        "--data", str(tmp_path / "no-data"), "--out", str(tmp_path / "o")])
    assert trt_export.cli_run(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert "fp16, TensorRT 10.3.0 on NVIDIA L4, compute capability 8.9" in out[0]
    assert "max abs logit difference 0.00e+00" in out[1] and "lowest mask Dice 1.0000" in out[1]
    assert fake[0].built[-1][1]["image_guidance"][2][0] == 6


def test_gpu_check_script_help_and_refusal():
    script = REPO / "benchmarks" / "gpu_tensorrt.py"
    helped = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True)
    assert helped.returncode == 0 and "p50 and p99" in helped.stdout
    try:
        import tensorrt  # noqa: F401
        pytest.skip("TensorRT is installed here: the refusal path does not apply")
    except ImportError:
        pass
    ran = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert ran.returncode == 2 and ran.stdout == ""
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1 and "TensorRT is not installed" in lines[0]
