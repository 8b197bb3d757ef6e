"""Backend selection: order, refusal reasons, named backends, and a plugged-in engine."""
import shutil

import numpy as np
import pytest

from radseg.backends import ModelFileError, available_names, register_backend, select_backend
from radseg.backends.base import Backend, BackendUnavailable
from radseg.backends import select as select_mod
from tests.backends.tiny_model import INPUT_NAME, OUTPUT_NAME, export_tiny_onnx

pytest.importorskip("onnxruntime")
pytest.importorskip("torch")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("tinydir")
    export_tiny_onnx(d / "model.onnx")
    return d


def test_default_order():
    names = available_names()
    assert names.index("onnxruntime-cuda") < names.index("onnxruntime-cpu")
    assert names.index("tensorrt") < names.index("onnxruntime-cuda") < names.index("onnxruntime-cpu-int8")
    assert names.index("onnxruntime-cpu-int8") < names.index("onnxruntime-cpu")


def test_automatic_selection_records_refusals(model_dir):
    import onnxruntime as ort

    be = select_backend(model_dir)
    assert isinstance(be, Backend)
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        assert be.name == "onnxruntime-cpu"
        assert "onnxruntime-cuda" in be.refused and "CUDAExecutionProvider" in be.refused["onnxruntime-cuda"]
    out = be.run({INPUT_NAME: np.zeros((1, 3, 16, 16), np.float32)})
    assert out[OUTPUT_NAME].shape == (1, 1, 16, 16)


def test_named_backend(model_dir):
    be = select_backend(model_dir, backend="onnxruntime-cpu", threads=1)
    assert be.name == "onnxruntime-cpu" and be.refused == {}
    with pytest.raises(ValueError, match="one of") as info:
        select_backend(model_dir, backend="no-such-engine")
    assert isinstance(info.value, select_mod.UnknownBackendError) and "onnxruntime-cpu" in info.value.names


def test_refused_named_backend_says_why(model_dir, monkeypatch):
    def refusing(d, threads=None):
        raise BackendUnavailable("no such device here")

    monkeypatch.setattr(select_mod, "_REGISTRY", dict(select_mod._REGISTRY))
    register_backend("refusing-engine", refusing, priority=1)
    with pytest.raises(RuntimeError, match="no such device here") as info:
        select_backend(model_dir, backend="refusing-engine")
    assert info.value.reasons == {"refusing-engine": "no such device here"}


def test_corrupt_model_stops_selection(tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"\x00garbage" * 50)
    with pytest.raises(ModelFileError):
        select_backend(tmp_path)


def test_a_registered_engine_plugs_in_first(model_dir, monkeypatch):
    """A new backend registered with a higher priority is chosen and reports its name."""
    from radseg.backends.onnxruntime import OnnxRuntimeBackend

    class WrappedEngine(OnnxRuntimeBackend):
        def __init__(self, d, threads=None):
            super().__init__(d / "model.onnx", threads=threads)
            self.name = "test-engine"

    def refusing(d, threads=None):
        raise BackendUnavailable("not on this machine")

    monkeypatch.setattr(select_mod, "_REGISTRY", dict(select_mod._REGISTRY))
    register_backend("test-engine", WrappedEngine, priority=1000)
    register_backend("refusing-engine", refusing, priority=2000)
    be = select_backend(model_dir)
    assert be.name == "test-engine"
    assert be.refused["refusing-engine"] == "not on this machine"
    assert list(be.refused) == ["refusing-engine"]
