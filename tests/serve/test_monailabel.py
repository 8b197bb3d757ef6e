"""`radseg serve` driven as MONAI Label's clients drive it: the MONAI Label Python client from PyPI (installed
by the test into a temporary folder, without its dependencies, since the client needs only requests), and the
requests 3D Slicer's MONAI Label plugin builds (multipart "params", output=image). The server is the real
`radseg serve` command on a free loopback port; the masks it returns must equal the SDK's own.
"""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import SHARED_DATA
from tests.serve.conftest import start_server

pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install 'radseg[serve]')")
pytest.importorskip("onnxruntime")
requests = pytest.importorskip("requests")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A folder with pydicom's CT slice and an MR volume (a CHAOS volume as DICOM, or a phantom without shared)."""
    from radseg.bench.archive import build_archive
    from radseg.dicom.synthetic import phantom, write_series

    root = tmp_path_factory.mktemp("serve_data")
    build_archive(root, shared=None)
    if (SHARED_DATA / "chaos_t2_mri").is_dir():
        from radseg.bench.archive import write_chaos_series

        write_chaos_series(SHARED_DATA, root, 1)
    else:
        write_series(root / "phantom_ct", phantom((12, 96, 96)))
    return root


def _start(data, *extra, port=None):
    token = extra[extra.index("--token") + 1] if "--token" in extra else None
    rest = [a for i, a in enumerate(extra) if a != "--token" and (i == 0 or extra[i - 1] != "--token")]
    return start_server("--data", str(data), *rest, port=port, token=token)


@pytest.fixture(scope="module")
def server(data):
    proc, url = _start(data)
    yield url
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def monailabel_client(tmp_path_factory):
    target = tmp_path_factory.mktemp("monailabel")
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                           "monailabel"], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        pytest.skip(f"the MONAI Label client could not be installed from PyPI: {done.stderr.strip()[-300:]}")
    sys.path.insert(0, str(target))
    try:
        from monailabel.client import MONAILabelClient
    finally:
        sys.path.remove(str(target))
    return MONAILabelClient


def _image_id(url, name_start):
    listing = requests.get(url + "/datastore/", params={"output": "all"}, timeout=10).json()
    return next(k for k, v in listing["objects"].items() if v["image"]["info"]["name"].startswith(name_start))


def _volume_image(url, data):
    """(id, Volume) of the multi-slice image (CHAOS MR, or the phantom CT without shared data)."""
    from radseg.serve import Datastore

    image = _image_id(url, "chaos" if (SHARED_DATA / "chaos_t2_mri").is_dir() else "phantom")
    return image, Datastore(data).volume(image)


def _sdk_masks(data, image_id, point):
    """The SDK's click mask of the point's slice, and its propagation, on the same image."""
    import radseg
    from radseg.serve import Datastore

    vol = Datastore(data).volume(image_id)
    x, y, z = point
    session = radseg.load("click").start(np.asarray(vol.array)[z], spacing=tuple(vol.spacing[1:]),
                                         modality=vol.modality)
    mask = session.click(y, x)
    run = radseg.load("propagation").start(np.asarray(vol.array), spacing=vol.spacing, modality=vol.modality)
    return vol, mask, run.propagate(z, mask)


def test_monailabel_client_gets_click_and_propagation_masks(server, data, monailabel_client, tmp_path):
    import nibabel as nib

    client = monailabel_client(server, tmpdir=str(tmp_path))
    info = client.info()
    assert {"radseg_click", "radseg_propagation"} <= set(info["models"])
    assert info["models"]["radseg_click"]["type"] == "deepgrow"
    image, vol = _volume_image(server, data)
    s, r, c = (n // 2 for n in vol.shape)
    _, want2d, want3d = _sdk_masks(data, image, (c, r, s))
    for model in ("radseg_click", "radseg_propagation"):
        out, params = client.infer(model, image, {"foreground": [[c, r, s]], "background": []})
        label = np.asarray(nib.load(out).dataobj).transpose(2, 1, 0)  # NIfTI (x, y, z) -> [slices, rows, cols]
        assert label.shape == vol.shape and params["slice"] == s
        want = np.zeros(vol.shape, bool)
        if model == "radseg_click":
            want[s] = want2d
        else:
            want = want3d
        assert np.array_equal(label.astype(bool), want) and want.any()
        assert params["voxels"] == int(want.sum())


def test_requests_as_slicer_builds_them(server, data):
    image = _image_id(server, "pydicom_ct")
    params = {"foreground": [[60, 70, 0]], "background": [[5, 5, 0]], "label": "structure"}
    resp = requests.post(f"{server}/infer/radseg_click", params={"image": image, "output": "image"},
                         files={"params": (None, json.dumps(params))}, timeout=60)
    assert resp.status_code == 200 and resp.content[:2] == b"\x1f\x8b"  # a gzip'd NIfTI
    resp = requests.post(f"{server}/infer/radseg_click", params={"image": image, "output": "json"},
                         files={"params": (None, json.dumps(params))}, timeout=60)
    assert resp.status_code == 200 and resp.json()["clicks"] == 2


def _form_parts(resp) -> dict:
    """{field name: (filename, bytes)} of a multipart/form-data answer (parsed by the standard library)."""
    import email.parser
    import email.policy

    raw = f"Content-Type: {resp.headers['content-type']}\r\n\r\n".encode() + resp.content
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    return {part.get_param("name", header="content-disposition"): (part.get_filename(), part.get_payload(decode=True))
            for part in message.iter_parts()}


def _read_nrrd(content: bytes, tmp_path):
    """(data [slices, rows, cols], header) of NRRD bytes, read by pynrrd (an independent reader)."""
    nrrd = pytest.importorskip("nrrd", reason="pynrrd is not installed (pip install pynrrd)")
    path = tmp_path / "label.nrrd"
    path.write_bytes(content)
    data, header = nrrd.read(str(path))
    return np.asarray(data).transpose(2, 1, 0), header


def test_requests_as_ohif_builds_them_get_nrrd(server, data, tmp_path):
    """OHIF's MONAI Label plugin: output=all, params with result_extension .nrrd, uint16, uncompressed; it takes
    the label from the multipart answer and reads it as NRRD in the patient frame (LPS)."""
    image, vol = _volume_image(server, data)
    s, r, c = (n // 2 for n in vol.shape)
    _, want2d, want3d = _sdk_masks(data, image, (c, r, s))
    params = {"foreground": [[c, r, s]], "background": [], "result_extension": ".nrrd", "result_dtype": "uint16",
              "result_compress": False, "restore_label_idx": False}
    resp = requests.post(f"{server}/infer/radseg_propagation", params={"image": image, "output": "all"},
                         files={"params": (None, json.dumps(params))},
                         headers={"accept": "application/json, multipart/form-data"}, timeout=120)
    assert resp.status_code == 200, resp.text
    parts = _form_parts(resp)
    assert json.loads(parts["params"][1])["voxels"] == int(want3d.sum())
    filename, content = parts["image"]
    assert filename == "label.nrrd" and b"encoding: raw" in content[:400]
    label, header = _read_nrrd(content, tmp_path)
    assert label.dtype == np.uint16 and np.array_equal(label.astype(bool), want3d) and want3d.any()
    # The grid: index (col, row, slice) -> LPS millimetres, as the volume's own affine maps it.
    assert header["space"] == "left-posterior-superior"
    np.testing.assert_allclose(header["space origin"], vol.origin, atol=1e-6)
    d, sp = np.asarray(vol.direction), vol.spacing
    np.testing.assert_allclose(header["space directions"], [d[:, 2] * sp[2], d[:, 1] * sp[1], d[:, 0] * sp[0]],
                               atol=1e-6)
    # Compressed NRRD (gzip encoding) as a file on its own.
    params.update(result_compress=True, result_dtype="uint8")
    resp = requests.post(f"{server}/infer/radseg_click", params={"image": image, "output": "image"},
                         files={"params": (None, json.dumps(params))}, timeout=120)
    label, header = _read_nrrd(resp.content, tmp_path)
    want = np.zeros(vol.shape, bool)
    want[s] = want2d
    assert header["encoding"] == "gzip" and label.dtype == np.uint8 and np.array_equal(label.astype(bool), want)


@pytest.mark.parametrize("query,form,status,word", [
    ({"image": "../../etc/passwd"}, {"foreground": [[1, 1, 0]]}, 404, "unknown image"),
    ({"image": "IMAGE"}, {"foreground": [[9999, 1, 0]]}, 422, "outside"),
    ({"image": "IMAGE"}, {"background": [[1, 1, 0]]}, 422, "foreground"),
    ({"image": "IMAGE", "output": "dicom"}, {"foreground": [[1, 1, 0]]}, 422, "output"),
    ({"image": "IMAGE"}, {"foreground": [[1, 1, 0]], "result_extension": ".mha"}, 422, "result_extension"),
    ({"image": "IMAGE"}, {"foreground": [[1, 1, 0]], "result_dtype": "float32"}, 422, "result_dtype"),
])
def test_bad_requests_get_a_clear_status(server, query, form, status, word):
    query = {k: (_image_id(server, "pydicom_ct") if v == "IMAGE" else v) for k, v in query.items()}
    resp = requests.post(f"{server}/infer/radseg_click", params=query, files={"params": (None, json.dumps(form))},
                         timeout=60)
    assert resp.status_code == status and word in resp.json()["detail"], resp.text


def test_oversized_requests_and_unknown_models_are_refused(server):
    image = _image_id(server, "pydicom_ct")
    resp = requests.post(f"{server}/infer/radseg_click", params={"image": image}, timeout=60,
                         files={"params": (None, "x" * (2 << 20))})
    assert resp.status_code == 413
    resp = requests.post(f"{server}/infer/deepgrow_3d", params={"image": image}, timeout=60,
                         files={"params": (None, "{}")})
    assert resp.status_code == 404 and "radseg_click" in resp.json()["detail"]


def test_a_token_guards_every_request(data):
    proc, url = _start(data, "--token", "s3cret")
    try:
        assert requests.get(url + "/info/", timeout=10).status_code == 401
        ok = requests.get(url + "/info/", headers={"Authorization": "Bearer s3cret"}, timeout=10)
        assert ok.status_code == 200 and ok.json()["name"] == "radseg"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_other_addresses_need_a_token_or_insecure(capsys, data):
    from radseg.cli import main

    code = main(["serve", "--data", str(data), "--host", "0.0.0.0"])
    err = capsys.readouterr().err
    assert code == 2 and "--token" in err and len(err.strip().splitlines()) == 1
