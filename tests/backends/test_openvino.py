"""The OpenVINO backends (`radseg.backends.openvino`) on the real runtime: the bundled click model's logits and
masks against ONNX Runtime fp32, one compiled model per input shape, threads side by side, and the rules that
keep automatic selection off an int8 variant not validated on OpenVINO."""
from __future__ import annotations

import json
import shutil
import threading

import numpy as np
import pytest

pytest.importorskip("openvino", reason="openvino is not installed (pip install 'radseg[openvino]')")
pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def real_inputs():
    """Click-model inputs the SDK builds from pydicom's CT slice (first click: both passes, then a correction)."""
    import radseg
    import radseg.dicom as rd
    from pydicom.data import get_testdata_file
    from radseg.export.quantize import record_inputs

    vol = rd.read_series([get_testdata_file("CT_small.dcm")])
    model = radseg.load("click", backend="onnxruntime-cpu", threads=1)

    def drive(m):
        s = m.start(np.asarray(vol.array)[0], spacing=vol.spacing[1:], modality="CT")
        s.click(64, 64)
        s.click(40, 70, positive=False)

    return model, record_inputs(model, drive, limit=10)


def test_fp32_on_openvino_matches_onnxruntime(real_inputs):
    from radseg.backends.openvino import openvino_factory
    from radseg.load import BUNDLED_DIR

    model, inputs = real_inputs
    ov = openvino_factory(BUNDLED_DIR / "click", threads=1)
    assert ov.name == "openvino" and ov.input_names == model.runtime.input_names
    for x in inputs:
        want = model.runtime.run({"input": x})["logits"]
        got = ov.run({"input": x})["logits"]
        assert got.shape == want.shape and got.dtype == np.float32
        np.testing.assert_allclose(got, want, atol=2e-3)
        assert np.mean((got > 0) == (want > 0)) > 0.999
    assert len(ov._compiled) == 1  # one shape, compiled once
    ov.run({"input": np.zeros((2,) + inputs[0].shape[1:], np.float32)})
    assert len(ov._compiled) == 2


def test_threads_side_by_side_get_their_own_requests(real_inputs):
    from radseg.backends.openvino import openvino_factory
    from radseg.load import BUNDLED_DIR

    model, inputs = real_inputs
    ov = openvino_factory(BUNDLED_DIR / "click", threads=1)
    want = [ov.run({"input": x})["logits"] for x in inputs]
    errors = []

    def worker():
        try:
            for _ in range(5):
                for x, w in zip(inputs, want):
                    assert np.array_equal(ov.run({"input": x})["logits"], w)
        except Exception as exc:  # reported below: an assertion in a thread would be lost
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and not any(t.is_alive() for t in threads)


def test_a_whole_session_on_openvino(real_inputs):
    import radseg
    import radseg.dicom as rd
    from pydicom.data import get_testdata_file

    vol = rd.read_series([get_testdata_file("CT_small.dcm")])
    a = np.asarray(vol.array)[0]
    ref = radseg.load("click", backend="onnxruntime-cpu", threads=1).start(a, spacing=vol.spacing[1:], modality="CT")
    ov = radseg.load("click", backend="openvino", threads=1)
    assert ov.backend == "openvino"
    s = ov.start(a, spacing=vol.spacing[1:], modality="CT")
    m1, m2 = ref.click(64, 64), s.click(64, 64)
    assert m1.any() and (m1 & m2).sum() * 2 / (m1.sum() + m2.sum()) > 0.995


def test_openvino_int8_is_automatic_only_when_validated_on_openvino(tmp_path, monkeypatch):
    import radseg.backends.openvino as ovb
    from radseg.backends.base import BackendUnavailable
    from radseg.load import BUNDLED_DIR

    for name in ("model.onnx", "model.int8.onnx", "manifest.json"):
        shutil.copy(BUNDLED_DIR / "click" / name, tmp_path / name)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    entry = manifest["variants"]["int8"]
    monkeypatch.setattr(ovb, "cpu_isa", lambda: list(entry["speed"]["isa"]))
    entry.pop("openvino", None)
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BackendUnavailable, match="on OpenVINO: no int8 variant"):
        ovb.openvino_int8_factory(tmp_path, automatic=True)
    assert ovb.openvino_int8_factory(tmp_path).name == "openvino-int8"  # named: it runs
    entry["openvino"] = {"validated": True, "agreement": {"mask_dice_mean": 0.995},
                         "speed": {"isa": entry["speed"]["isa"], "speedup": 2.0}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert ovb.openvino_int8_factory(tmp_path, automatic=True).name == "openvino-int8"
