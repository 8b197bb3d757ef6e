"""ONNX Runtime backend on a real exported model: numerics, names, provider checks, bad files and bad feeds."""
import numpy as np
import pytest

from radseg.backends import BackendUnavailable, ModelFileError
from radseg.backends.onnxruntime import OnnxRuntimeBackend
from tests.backends.tiny_model import INPUT_NAME, OUTPUT_NAME, export_tiny_onnx, reference_logits

pytest.importorskip("onnxruntime")
pytest.importorskip("torch")


@pytest.fixture(scope="module")
def onnx_path(tmp_path_factory):
    return export_tiny_onnx(tmp_path_factory.mktemp("tiny") / "model.onnx")


def test_cpu_backend_matches_numpy_reference(onnx_path):
    be = OnnxRuntimeBackend(onnx_path, device="cpu", threads=1)
    assert be.name == "onnxruntime-cpu"
    assert be.providers[0] == "CPUExecutionProvider"
    assert be.input_names == (INPUT_NAME,) and be.output_names == (OUTPUT_NAME,)
    rng = np.random.default_rng(0)
    for shape in [(1, 3, 64, 64), (2, 3, 96, 80)]:  # dynamic batch and spatial size
        x = rng.normal(size=shape).astype(np.float32)
        out = be.run({INPUT_NAME: x})
        assert set(out) == {OUTPUT_NAME}
        np.testing.assert_allclose(out[OUTPUT_NAME], reference_logits(x), atol=1e-5)


def test_float64_feeds_are_cast(onnx_path):
    be = OnnxRuntimeBackend(onnx_path)
    x = np.ones((1, 3, 8, 8))
    assert be.run({INPUT_NAME: x})[OUTPUT_NAME].dtype == np.float32


def test_cuda_is_refused_or_really_in_use(onnx_path):
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        with pytest.raises(BackendUnavailable, match="CUDAExecutionProvider"):
            OnnxRuntimeBackend(onnx_path, device="cuda")
    else:  # a GPU machine: the provider must actually be the one running
        try:
            be = OnnxRuntimeBackend(onnx_path, device="cuda")
        except BackendUnavailable:
            return
        assert be.providers[0] == "CUDAExecutionProvider"


@pytest.mark.parametrize("feeds, err, match", [
    ({"wrong": np.zeros((1, 3, 8, 8), np.float32)}, ValueError, "missing"),
    ({INPUT_NAME: np.array([["a"]], dtype=object)}, TypeError, "numeric"),
    ([np.zeros((1, 3, 8, 8))], TypeError, "dict"),
])
def test_bad_feeds(onnx_path, feeds, err, match):
    with pytest.raises(err, match=match):
        OnnxRuntimeBackend(onnx_path).run(feeds)


def test_missing_empty_and_corrupt_files(tmp_path):
    with pytest.raises(ModelFileError, match="missing"):
        OnnxRuntimeBackend(tmp_path / "nope.onnx")
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(ModelFileError, match="empty"):
        OnnxRuntimeBackend(empty)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not a protobuf" * 10)
    with pytest.raises(ModelFileError, match="re-export"):
        OnnxRuntimeBackend(bad)


def test_bad_arguments(onnx_path):
    with pytest.raises(ValueError, match="device"):
        OnnxRuntimeBackend(onnx_path, device="tpu")
    with pytest.raises(ValueError, match="threads"):
        OnnxRuntimeBackend(onnx_path, threads=0)
