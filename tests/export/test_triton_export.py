"""`write_triton_repository`: the layout Triton loads, and config.pbtxt parsed back with Triton's own protobuf.

Every config.pbtxt is read with ``text_format.Parse(text, model_config_pb2.ModelConfig())`` from tritonclient: a
misspelt field, a wrong enum or a wrong type makes the parse (and the test) fail, as it would fail Triton.
"""
from __future__ import annotations

import json
import pathlib
import shutil

import pytest

model_config_pb2 = pytest.importorskip("tritonclient.grpc.model_config_pb2",
                                       reason="tritonclient[grpc] is not installed (pip install 'radseg[triton]')")
from google.protobuf import text_format  # noqa: E402

from radseg.errors import MissingExtraError, UsageError  # noqa: E402
from radseg.export import triton as tx  # noqa: E402

BUNDLED = pathlib.Path(__file__).resolve().parents[2] / "sdk" / "models"


def parse(path) -> "model_config_pb2.ModelConfig":
    return text_format.Parse(pathlib.Path(path).read_text(), model_config_pb2.ModelConfig())


def model_copy(tmp_path, task="click", plan=False, profile_max=None):
    """A writable copy of a bundled model folder (optionally with a dummy model.plan and its manifest entry)."""
    folder = tmp_path / f"{task}_model"
    folder.mkdir()
    shutil.copyfile(BUNDLED / task / "model.onnx", folder / "model.onnx")
    manifest = json.loads((BUNDLED / task / "manifest.json").read_text())
    if plan:
        (folder / "model.plan").write_bytes(b"not a real engine: the layout test only copies it")
        if profile_max is not None:
            manifest["engines"] = {"tensorrt": {"file": "model.plan", "profile": {
                "input": {"min": [1, 4, 96, 96], "opt": [1, 4, 96, 96], "max": [profile_max, 4, 96, 96]}}}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_click_repository_layout_and_config(tmp_path):
    report = tx.write_triton_repository("click", tmp_path / "repo")
    model = tmp_path / "repo" / "radseg_click"
    assert [m["name"] for m in report["models"]] == ["radseg_click"]
    assert sorted(p.relative_to(model).as_posix() for p in model.rglob("*")) == [
        "1", "1/model.onnx", "config.pbtxt", "radseg_manifest.json"]
    assert (model / "1" / "model.onnx").read_bytes() == (BUNDLED / "click" / "model.onnx").read_bytes()
    assert json.loads((model / "radseg_manifest.json").read_text()) == json.loads(
        (BUNDLED / "click" / "manifest.json").read_text())
    cfg = parse(model / "config.pbtxt")
    assert (cfg.name, cfg.platform, cfg.max_batch_size) == ("radseg_click", "onnxruntime_onnx", 8)
    assert cfg.default_model_filename == "model.onnx"
    [inp], [out] = cfg.input, cfg.output
    assert (inp.name, inp.data_type, list(inp.dims)) == ("input", model_config_pb2.TYPE_FP32, [4, 96, 96])
    assert (out.name, out.data_type, list(out.dims)) == ("logits", model_config_pb2.TYPE_FP32, [1, 96, 96])
    assert cfg.WhichOneof("scheduling_choice") == "dynamic_batching"
    assert list(cfg.dynamic_batching.preferred_batch_size) == [1, 2, 4, 8]
    assert cfg.dynamic_batching.max_queue_delay_microseconds == 100
    [group] = cfg.instance_group
    assert (group.kind, group.count, list(group.gpus)) == (model_config_pb2.ModelInstanceGroup.KIND_GPU, 1, [])


@pytest.mark.parametrize("task,channels,size,preferred,max_batch", [
    ("propagation", 2, 96, [2, 4, 8], 8), ("body", 1, 256, [8, 16], 16)])
def test_task_batches_and_dims(tmp_path, task, channels, size, preferred, max_batch):
    tx.write_triton_repository(task, tmp_path)
    cfg = parse(tmp_path / f"radseg_{task}" / "config.pbtxt")
    assert list(cfg.input[0].dims) == [channels, size, size] and list(cfg.output[0].dims) == [1, size, size]
    assert cfg.max_batch_size == max_batch and list(cfg.dynamic_batching.preferred_batch_size) == preferred


def test_options_cpu_instances_name_and_no_batching(tmp_path):
    tx.write_triton_repository("click", tmp_path, name="seg", instances=3, kind="cpu", max_queue_delay_us=0)
    cfg = parse(tmp_path / "seg" / "config.pbtxt")
    [group] = cfg.instance_group
    assert (cfg.name, group.kind, group.count) == ("seg", model_config_pb2.ModelInstanceGroup.KIND_CPU, 3)
    tx.write_triton_repository("click", tmp_path, name="pinned", gpus=[0, 1], max_batch_size=4, preferred=[1, 4])
    cfg = parse(tmp_path / "pinned" / "config.pbtxt")
    assert list(cfg.instance_group[0].gpus) == [0, 1] and list(cfg.dynamic_batching.preferred_batch_size) == [1, 4]
    tx.write_triton_repository("click", tmp_path, name="single", max_batch_size=0)
    cfg = parse(tmp_path / "single" / "config.pbtxt")
    # without batching the dims carry the batch axis themselves, and there is no batcher
    assert cfg.max_batch_size == 0 and list(cfg.input[0].dims) == [-1, 4, 96, 96]
    assert cfg.WhichOneof("scheduling_choice") is None


def test_tensorrt_plan_gets_its_own_model(tmp_path):
    folder = model_copy(tmp_path, plan=True, profile_max=4)
    report = tx.write_triton_repository(folder, tmp_path / "repo")
    assert [(m["name"], m["platform"]) for m in report["models"]] == [
        ("radseg_click", "onnxruntime_onnx"), ("radseg_click_trt", "tensorrt_plan")]
    trt = tmp_path / "repo" / "radseg_click_trt"
    assert (trt / "1" / "model.plan").read_bytes() == (folder / "model.plan").read_bytes()
    assert (trt / "radseg_manifest.json").is_file() and not (trt / "1" / "model.onnx").exists()
    cfg = parse(trt / "config.pbtxt")
    assert (cfg.platform, cfg.default_model_filename) == ("tensorrt_plan", "model.plan")
    assert cfg.max_batch_size == 4  # capped at the engine profile's max batch, or Triton refuses to load it
    assert list(cfg.dynamic_batching.preferred_batch_size) == [1, 2, 4]
    assert list(cfg.input[0].dims) == [4, 96, 96]
    assert cfg.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_GPU
    # tensorrt=False skips it; tensorrt=True without a plan is an error
    tx.write_triton_repository(folder, tmp_path / "onnx_only", tensorrt=False)
    assert not (tmp_path / "onnx_only" / "radseg_click_trt").exists()
    with pytest.raises(UsageError, match="model.plan is missing"):
        tx.write_triton_repository("click", tmp_path / "x", tensorrt=True)


def test_refusals(tmp_path):
    tx.write_triton_repository("click", tmp_path)
    with pytest.raises(UsageError, match="already exists"):
        tx.write_triton_repository("click", tmp_path)
    tx.write_triton_repository("click", tmp_path, overwrite=True, instances=2)
    assert parse(tmp_path / "radseg_click" / "config.pbtxt").instance_group[0].count == 2
    for bad in (dict(kind="tpu"), dict(instances=0), dict(max_batch_size=-1), dict(name="a/b"),
                dict(max_batch_size=True)):
        with pytest.raises(UsageError):
            tx.write_triton_repository("click", tmp_path / "bad", **bad)
    with pytest.raises(UsageError, match="below the propagation model's usual batch 2"):
        tx.write_triton_repository("propagation", tmp_path / "bad", max_batch_size=1)
    with pytest.raises(FileNotFoundError):
        tx.write_triton_repository(tmp_path / "nowhere", tmp_path / "bad")


def test_without_tritonclient_the_reason_names_the_extra(monkeypatch, tmp_path):
    import builtins

    real_import = builtins.__import__

    def no_tritonclient(name, *a, **kw):
        if name.startswith("tritonclient"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", no_tritonclient)
    with pytest.raises(MissingExtraError, match=r"radseg\[triton\]") as info:
        tx.write_triton_repository("click", tmp_path)
    assert "\n" not in str(info.value) and not (tmp_path / "radseg_click").exists()


def test_command_line_flags(tmp_path, capsys):
    import argparse

    p = argparse.ArgumentParser()
    p.add_argument("checkpoint")
    tx.add_cli_arguments(p)
    args = p.parse_args(["click", "--triton", str(tmp_path), "--triton-kind", "cpu", "--triton-max-batch", "4"])
    assert tx.cli_run(args) == 0
    cfg = parse(tmp_path / "radseg_click" / "config.pbtxt")
    assert cfg.max_batch_size == 4 and cfg.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_CPU
    assert "radseg_click (onnxruntime_onnx)" in capsys.readouterr().out
