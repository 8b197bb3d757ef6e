"""The triton backend over real HTTP and gRPC, against a KServe v2 model server on loopback.

Triton cannot be installed here; KServe's Python model server speaks the same v2 inference protocol.
`kserve_onnx_server.py` serves the bundled click model.onnx through ONNX Runtime under the name the repository
writer gives it (``radseg_click``), in a subprocess started once for this module and always terminated. kserve pins
protobuf < 7 and pandas < 3, so it lives in its own interpreter: $RADSEG_KSERVE_PYTHON, else this venv when it has
kserve, else ../kserve-venv beside the repo, else ~/.cache/radseg/kserve-venv, which the test creates from PyPI
when it is missing (`make_kserve_venv`), as other tests install Orthanc and Chromium.
"""
from __future__ import annotations

import importlib.util
import os
import pathlib
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

pytest.importorskip("tritonclient.http", reason="tritonclient is not installed (pip install 'radseg[triton]')")
pytest.importorskip("tritonclient.grpc", reason="tritonclient[grpc] is not installed (pip install 'radseg[triton]')")

import radseg  # noqa: E402
from radseg.backends import BackendRefusedError, ModelFileError, select  # noqa: E402
from radseg.backends.triton import TritonBackend, default_model_name, split_url, triton_factory  # noqa: E402
from radseg.errors import UsageError  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
CLICK_DIR = REPO / "sdk" / "models" / "click"
SERVER = HERE / "kserve_onnx_server.py"
MODEL_NAME = default_model_name("click")


def kserve_python():
    """The interpreter that has kserve (see the module docstring), or None."""
    env = os.environ.get("RADSEG_KSERVE_PYTHON")
    if env:
        return env
    if importlib.util.find_spec("kserve") is not None:
        return sys.executable
    sibling = REPO.parent / "kserve-venv" / "bin" / "python"
    if sibling.is_file():
        return str(sibling)
    return make_kserve_venv()


#: The KServe the stand-in server was written against (it patches one step of its HTTP decoding).
KSERVE_PIN = ["kserve==0.21.0", "onnxruntime>=1.17", "numpy"]


def make_kserve_venv():
    """Create (once per machine) a venv with KServe in ~/.cache/radseg/kserve-venv, like the tests that install
    Orthanc or Chromium when missing; None (the test skips, saying why) when pip cannot reach a package index."""
    home = pathlib.Path(os.environ.get("XDG_CACHE_HOME", pathlib.Path.home() / ".cache")) / "radseg" / "kserve-venv"
    python = home / "bin" / "python"
    if python.is_file() and subprocess.run([str(python), "-c", "import kserve, onnxruntime"],
                                           capture_output=True).returncode == 0:
        return str(python)
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(home)], check=True, capture_output=True,
                       timeout=300)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *KSERVE_PIN], check=True, capture_output=True,
                       timeout=900)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        make_kserve_venv.failure = str(getattr(exc, "stderr", b"") or exc)[-300:]
        return None
    return str(python)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """(http address, grpc address) of a live KServe server serving the click model; terminated afterwards."""
    python = kserve_python()
    if python is None:
        pytest.skip("kserve could not be installed into ~/.cache/radseg/kserve-venv "
                    f"({getattr(make_kserve_venv, 'failure', '?')}); set RADSEG_KSERVE_PYTHON to an interpreter with "
                    "kserve and onnxruntime")
    http, grpc = free_port(), free_port()
    log = tmp_path_factory.mktemp("kserve") / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([python, str(SERVER), "--onnx", str(CLICK_DIR / "model.onnx"), "--name", MODEL_NAME,
                                 "--http-port", str(http), "--grpc-port", str(grpc), "--threads", "1"],
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the KServe server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                url = f"http://127.0.0.1:{http}/v2/models/{MODEL_NAME}/ready"
                with urllib.request.urlopen(url, timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the KServe server was not ready within 90 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield f"127.0.0.1:{http}", f"127.0.0.1:{grpc}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


@pytest.fixture(scope="module", autouse=True)
def registered():
    """The triton factory under its name (select.py registers it; registered here too until it does)."""
    added = "triton" not in select.available_names()
    if added:
        select.register_backend("triton", triton_factory, priority=50)
    yield
    if added:
        select._REGISTRY.pop("triton", None)


@pytest.fixture(scope="module")
def ct_slice():
    """(HU image [rows, cols], spacing mm) of pydicom's CT_small.dcm, read through radseg.dicom."""
    pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    from radseg.dicom import read_series

    vol = read_series(get_testdata_file("CT_small.dcm"))
    return np.asarray(vol.array[0], dtype=np.float32), tuple(float(v) for v in vol.spacing[1:])


def interaction(model, image, spacing):
    """Masks of a first click, a corrective negative click, a second positive click and a drag (bool [rows, cols])."""
    s = model.start(image, spacing=spacing, modality="CT")
    masks = [s.click(64, 60).copy(), s.click(70, 66, positive=False).copy(), s.click(52, 58).copy()]
    masks.append(s.move_last_click(53, 59).copy())
    return masks


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_masks_identical_to_local_onnxruntime(server, ct_slice, protocol):
    url = server[0] if protocol == "http" else server[1]
    local = radseg.load(CLICK_DIR, backend="onnxruntime-cpu", threads=1)
    remote = radseg.load(CLICK_DIR, backend="triton", url=url, protocol=protocol)
    assert type(remote) is type(local) and remote.backend == "triton"
    assert isinstance(remote.runtime, TritonBackend) and remote.runtime.protocol == protocol
    image, spacing = ct_slice
    want, got = interaction(local, image, spacing), interaction(remote, image, spacing)
    assert want[0].any(), "the first click should segment something on CT_small"
    for a, b in zip(want, got):
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    # the network's own answer, bit for bit (same ORT build, same thread count, raw FP32 bytes both ways)
    x = np.random.default_rng(0).random((2, 4, 96, 96), dtype=np.float32)
    ref = local.runtime.run({"input": x})["logits"]
    out = remote.runtime.run({"input": x})["logits"]
    assert out.dtype == np.float32 and out.shape == (2, 1, 96, 96) and out.flags.writeable
    assert np.array_equal(ref, out)


def test_backend_reuses_one_connection_and_validates_feeds(server):
    b = triton_factory(CLICK_DIR, url=server[1], protocol="grpc")
    assert b._client() is b._client()
    with pytest.raises(ValueError, match="missing"):
        b.run({"other": np.zeros((1, 4, 96, 96), np.float32)})
    with pytest.raises(RuntimeError, match=rf"{MODEL_NAME}.*{server[1]}"):  # the server refuses a wrong shape
        b.run({"input": np.zeros((1, 3, 7, 7), np.float32)})
    b.close()


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_unreachable_server_is_refused_with_the_url(protocol):
    url = f"127.0.0.1:{free_port()}"
    with pytest.raises(BackendRefusedError, match=rf"cannot reach the inference server at \w+://{url}"):
        radseg.load(CLICK_DIR, backend="triton", url=url, protocol=protocol, timeout_s=5)


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_unknown_model_is_refused_with_its_name(server, protocol):
    url = server[0] if protocol == "http" else server[1]
    with pytest.raises(BackendRefusedError, match=r"model 'no_such_model' at .* is not ready"):
        radseg.load(CLICK_DIR, backend="triton", url=url, protocol=protocol, model_name="no_such_model")


def test_mismatched_shapes_and_names_are_model_file_errors(server, tmp_path):
    # the propagation manifest wants [N, 2, 96, 96]: the server's click model takes 4 channels
    with pytest.raises(ModelFileError, match=r"input 'input' has shape \[-1, 4, -1, -1\].*\['N', 2, 96, 96\]"):
        radseg.load("propagation", backend="triton", url=server[0], model_name=MODEL_NAME)
    from radseg.manifest import ModelManifest

    m = ModelManifest.from_json(CLICK_DIR / "manifest.json").replace(input_name="image_guidance")
    with pytest.raises(ModelFileError, match=r"has inputs \['input'\].*'image_guidance'"):
        TritonBackend(server[1], m, protocol="grpc")


def test_url_and_argument_errors():
    assert split_url("http://h:8000/", "http") == ("h:8000", False)
    assert split_url("https://h:8000", "http") == ("h:8000", True)
    assert split_url("grpc://h:8001", "grpc") == ("h:8001", False)
    with pytest.raises(UsageError, match="grpc address but protocol='http'"):
        split_url("grpc://h:8001", "http")
    with pytest.raises(UsageError, match="unknown scheme"):
        split_url("ftp://h:1", "http")
    with pytest.raises(BackendRefusedError, match="needs url="):
        radseg.load(CLICK_DIR, backend="triton")
    m = radseg.manifest.ModelManifest.from_json(CLICK_DIR / "manifest.json")
    with pytest.raises(UsageError, match="protocol must be one of"):
        TritonBackend("h:1", m, protocol="websocket")
    with pytest.raises(UsageError, match="timeout_s"):
        TritonBackend("h:1", m, timeout_s=0)


def test_never_chosen_automatically():
    # automatic selection passes no url: triton refuses, so a machine without ORT reports why instead of trying it
    from radseg.backends.base import BackendUnavailable

    with pytest.raises(BackendUnavailable, match="needs url"):
        triton_factory(CLICK_DIR)
