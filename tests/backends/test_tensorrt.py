"""The TensorRT backend without TensorRT: metadata checks, refusals, shape checks, and its control flow on a fake.

The TensorRT path is NOT verified on hardware (no GPU here); `fake_tensorrt` stands in for tensorrt and cuda-python.
"""
import json
import subprocess
import sys

import numpy as np
import pytest

from radseg.backends import BackendUnavailable, select_backend
from radseg.backends import select as select_mod
from radseg.backends import tensorrt as trt_backend
from radseg.backends.tensorrt import (
    REQUIRED_FIELDS, batch_chunks, check_engine_metadata, check_input_shape, tensorrt_factory,
)
from tests.backends.fake_tensorrt import FakeCudart, make_tensorrt
from tests.backends.tiny_model import INPUT_NAME, OUTPUT_NAME, reference_logits

RUNNING = {"tensorrt_version": "10.3.0", "gpu_name": "NVIDIA L4", "compute_capability": "8.9"}
RECORDED = {"file": "model.plan", "precision": "fp16", "onnx_file": "model.onnx", **RUNNING}


def _says_rebuild(msg, folder="MODEL"):
    assert f"radseg export {folder} --tensorrt" in msg and "on this machine" in msg, msg


def test_matching_engine_is_accepted():
    assert check_engine_metadata(RECORDED, RUNNING) is None
    # TensorRT's fourth (build) number does not change the engine format
    assert check_engine_metadata({**RECORDED, "tensorrt_version": "10.3.0.26"}, RUNNING) is None


@pytest.mark.parametrize("built", ["10.4.0", "10.3.1", "9.2.0"])
def test_other_tensorrt_version_is_refused(built):
    msg = check_engine_metadata({**RECORDED, "tensorrt_version": built}, RUNNING, model_dir="/m/click")
    assert f"TensorRT {built}" in msg and "TensorRT 10.3.0" in msg
    _says_rebuild(msg, "/m/click")
    assert "--fp16" in msg  # the rebuild command keeps the engine's precision


def test_other_compute_capability_is_refused():
    msg = check_engine_metadata({**RECORDED, "compute_capability": "9.0", "gpu_name": "NVIDIA H100"}, RUNNING)
    assert "compute capability 9.0" in msg and "NVIDIA H100" in msg and "NVIDIA L4" in msg and "8.9" in msg
    _says_rebuild(msg)


def test_other_gpu_model_same_capability_is_refused():
    msg = check_engine_metadata({**RECORDED, "gpu_name": "NVIDIA GeForce RTX 4090"}, RUNNING)
    assert "NVIDIA GeForce RTX 4090" in msg and "NVIDIA L4" in msg
    _says_rebuild(msg)


@pytest.mark.parametrize("field", REQUIRED_FIELDS)
def test_missing_field_is_refused(field):
    entry = {k: v for k, v in RECORDED.items() if k != field}
    msg = check_engine_metadata(entry, RUNNING)
    assert field in msg and "lacks" in msg
    _says_rebuild(msg)


def test_malformed_entries_are_refused():
    _says_rebuild(check_engine_metadata(["not", "a", "dict"], RUNNING))
    msg = check_engine_metadata({**RECORDED, "precision": "bf16"}, RUNNING)
    assert "bf16" in msg
    _says_rebuild(msg)


def test_old_tensorrt_here_is_refused():
    msg = check_engine_metadata(RECORDED, {**RUNNING, "tensorrt_version": "8.6.1"})
    assert "8.6.1" in msg and "TensorRT 10 or later" in msg


def test_changed_onnx_is_refused():
    entry = {**RECORDED, "onnx_sha256": "a" * 64}
    assert check_engine_metadata(entry, {**RUNNING, "onnx_sha256": "a" * 64}) is None
    msg = check_engine_metadata(entry, {**RUNNING, "onnx_sha256": "b" * 64})
    assert "model.onnx has changed" in msg
    _says_rebuild(msg)


def test_input_shape_checks_and_batch_split():
    lo, hi = (1, 3, 96, 96), (4, 3, 96, 96)
    assert check_input_shape((9, 3, 96, 96), lo, hi, "input") is None  # batch is split, not refused
    assert "axis 1" in check_input_shape((1, 2, 96, 96), lo, hi, "input")
    assert "axis 3" in check_input_shape((1, 3, 96, 128), lo, hi, "input")
    assert "4 axes" in check_input_shape((3, 96, 96), lo, hi, "input")
    assert batch_chunks(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert batch_chunks(4, 4) == [(0, 4)] and batch_chunks(0, 4) == []
    with pytest.raises(ValueError):
        batch_chunks(3, 0)


def _folder(tmp_path, entry=RECORDED, plan=b"{}"):
    (tmp_path / "model.plan").write_bytes(plan)
    manifest = {"format_version": 1, "task": "click"}
    if entry is not None:
        manifest["engines"] = {"tensorrt": entry}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    return tmp_path


def test_factory_refuses_without_plan(tmp_path):
    with pytest.raises(BackendUnavailable, match="no TensorRT engine .*model.plan.*radseg export .* --tensorrt"):
        tensorrt_factory(tmp_path)


def test_factory_refuses_without_engine_record(tmp_path):
    with pytest.raises(BackendUnavailable, match=r"records no TensorRT engine \(engines.tensorrt\).*radseg export"):
        tensorrt_factory(_folder(tmp_path, entry=None))


def test_factory_refuses_when_tensorrt_is_not_importable(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # `import tensorrt` raises ImportError, installed or not
    with pytest.raises(BackendUnavailable, match="TensorRT is not installed"):
        tensorrt_factory(_folder(tmp_path))


@pytest.fixture
def fake(monkeypatch):
    """tensorrt and cuda-python replaced by the numpy fake; returns (trt module, cudart object)."""
    trt, cudart = make_tensorrt(), FakeCudart(name=b"NVIDIA L4\x00\x00", cc=(8, 9))
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    monkeypatch.setattr(trt_backend, "_import_cudart", lambda: cudart)
    return trt, cudart


def _plan(lo=(1, 3, 16, 16), hi=(4, 3, 16, 16)):
    return json.dumps({"io": [INPUT_NAME, OUTPUT_NAME], "offset": 0.0, "profile": [lo, lo, hi]}).encode()


def test_running_info_reads_the_gpu(fake):
    assert trt_backend.running_info(0) == RUNNING
    with pytest.raises(BackendUnavailable, match="no CUDA device 1"):
        trt_backend.running_info(1)


def test_factory_refuses_engine_of_another_machine(tmp_path, fake):
    folder = _folder(tmp_path, entry={**RECORDED, "tensorrt_version": "10.1.0"}, plan=_plan())
    with pytest.raises(BackendUnavailable, match="built with TensorRT 10.1.0.*rebuild it on this machine"):
        tensorrt_factory(folder)


def test_factory_refuses_engine_of_changed_onnx(tmp_path, fake):
    folder = _folder(tmp_path, entry={**RECORDED, "onnx_sha256": "0" * 64}, plan=_plan())
    (folder / "model.onnx").write_bytes(b"other weights")
    with pytest.raises(BackendUnavailable, match="model.onnx has changed"):
        tensorrt_factory(folder)


def test_corrupt_plan_is_a_refusal_not_a_model_error(tmp_path, fake):
    with pytest.raises(BackendUnavailable, match="could not deserialize"):
        tensorrt_factory(_folder(tmp_path, plan=b"\x00corrupt"))


def test_run_reuses_buffers_and_splits_large_batches(tmp_path, fake):
    _, cudart = fake
    be = tensorrt_factory(_folder(tmp_path, plan=_plan()))
    assert be.name == "tensorrt" and be.input_names == (INPUT_NAME,) and be.output_names == (OUTPUT_NAME,)
    assert be.max_batch == 4
    rng = np.random.default_rng(0)
    x4 = rng.random((4, 3, 16, 16), dtype=np.float32)
    np.testing.assert_allclose(be.run({INPUT_NAME: x4})[OUTPUT_NAME], reference_logits(x4), rtol=1e-6)
    allocated, shape_calls = cudart.mallocs, be.context.shape_calls
    assert allocated == 2  # one input and one output buffer
    for n in (1, 4, 2, 4):
        x = rng.random((n, 3, 16, 16), dtype=np.float32)
        np.testing.assert_allclose(be.run({INPUT_NAME: x})[OUTPUT_NAME], reference_logits(x), rtol=1e-6)
    assert cudart.mallocs == allocated  # smaller and equal batches reuse the buffers
    assert be.context.shape_calls == shape_calls + 4  # the input shape is set only when it changes
    x10 = rng.random((10, 3, 16, 16), dtype=np.float32)
    out = be.run({INPUT_NAME: x10})[OUTPUT_NAME]
    assert out.shape == (10, 1, 16, 16) and out.dtype == np.float32
    np.testing.assert_allclose(out, reference_logits(x10), rtol=1e-6)
    assert cudart.mallocs == allocated
    with pytest.raises(ValueError, match="axis 2"):
        be.run({INPUT_NAME: np.zeros((1, 3, 32, 16), np.float32)})
    with pytest.raises(ValueError, match="missing"):
        be.run({"other": x4})
    be.close()
    assert cudart.frees == cudart.mallocs and not cudart.mem


def test_selection_prefers_tensorrt_and_falls_back_with_the_reason(tmp_path, monkeypatch, fake):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("torch")
    from tests.backends.tiny_model import export_tiny_onnx

    folder = _folder(tmp_path, plan=_plan())
    export_tiny_onnx(folder / "model.onnx")
    monkeypatch.setitem(select_mod._REGISTRY, "tensorrt", (300, tensorrt_factory))  # as select.py will register it
    assert select_backend(folder).name == "tensorrt"
    entry = {**RECORDED, "gpu_name": "NVIDIA A10G", "compute_capability": "8.6"}
    _folder(tmp_path, entry=entry, plan=_plan())
    chosen = select_backend(folder)
    assert chosen.name != "tensorrt"  # the next registered backend (ONNX Runtime, OpenVINO, ...) runs instead
    assert "compute capability 8.6" in chosen.refused["tensorrt"]
    with pytest.raises(RuntimeError, match="backend 'tensorrt' was refused.*rebuild it on this machine"):
        select_backend(folder, backend="tensorrt")


def test_importing_the_backend_loads_no_gpu_library():
    code = ("import sys, radseg.backends.tensorrt, radseg.export.tensorrt; "
            "print([m for m in ('tensorrt', 'cuda', 'torch', 'onnxruntime', 'onnx') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
