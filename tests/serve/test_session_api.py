"""The viewer's session API of `radseg serve` over HTTP, on the real server command and a real CHAOS MR series:
every answer (click, drag, undo, propagate, correct, body, the saved SEG) equals what the SDK computes from the
same inputs; state errors are 409, bad values 422, unknown sessions 404; a client that disconnects cancels its
work; the page's files are the only files served; logs name no patient.
"""
from __future__ import annotations

import base64

import numpy as np
import pytest

from tests.serve.conftest import liver_point, start_server, stop_server

pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install 'radseg[serve]')")
pytest.importorskip("onnxruntime")
requests = pytest.importorskip("requests")


@pytest.fixture(scope="module")
def server(chaos_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("labels")
    proc, url = start_server("--data", str(chaos_folder), "--out", str(out))
    state = {"log": None}
    yield url, out, state
    state["log"] = stop_server(proc)


@pytest.fixture(scope="module")
def sdk():
    import radseg

    return {name: radseg.load(name) for name in ("click", "propagation", "body")}


@pytest.fixture(scope="module")
def volume(chaos_folder):
    import radseg.dicom as rd

    return rd.read_series(sorted((chaos_folder / "dicom").rglob("*.dcm")))


def _open(url, kind="MR"):
    images = requests.get(url + "/api/images", timeout=10).json()
    image = next(i["id"] for i in images if i["modality"] == kind) if kind else next(
        i["id"] for i in images if not i["modality"])
    answer = requests.post(url + "/api/sessions", json={"image": image}, timeout=60)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _post(url, sid, action, body=None, status=200):
    answer = requests.post(f"{url}/api/sessions/{sid}/{action}", json=body, timeout=120)
    assert answer.status_code == status, answer.text
    return answer.json()


def _mask(url, sid, k, shape, layer="structure"):
    answer = requests.get(f"{url}/api/sessions/{sid}/mask/{layer}/{k}", timeout=10)
    assert answer.status_code == 200, answer.text
    return np.unpackbits(np.frombuffer(answer.content, np.uint8))[: shape[0] * shape[1]].reshape(shape).astype(bool)


def _unpack(b64, shape):
    bits = np.unpackbits(np.frombuffer(base64.b64decode(b64), np.uint8))
    return bits[: shape[0] * shape[1]].reshape(shape).astype(bool)


def test_click_drag_undo_propagate_and_correct_equal_the_sdk(server, sdk, volume):
    url, _, _ = server
    opened = _open(url)
    sid, shape = opened["session"], tuple(opened["shape"])
    assert shape == volume.shape and opened["actions"] == {"propagate": True, "body": True, "save_file": True,
                                                           "save_pacs": False}
    k, r, c = liver_point()
    a = np.asarray(volume.array)
    ref = sdk["click"].start(a[k], spacing=volume.spacing[1:], modality="MR")

    first = _post(url, sid, "click", {"slice": k, "row": r, "col": c})
    want = ref.click(r, c)
    assert np.array_equal(_unpack(first["mask"], shape[1:]), want) and want.sum() > 200
    assert first["area"] == int(want.sum()) and first["clicks"] == [[r, c, True]] and first["undo"] == "click"

    second = _post(url, sid, "click", {"slice": k, "row": r + 8, "col": c + 8, "positive": False})
    dragged = _post(url, sid, "drag", {"row": r + 10, "col": c + 9})
    ref.click(r + 8, c + 8, positive=False)
    want_drag = ref.move_last_click(r + 10, c + 9)
    assert np.array_equal(_unpack(dragged["mask"], shape[1:]), want_drag)
    assert dragged["clicks"][-1] == [r + 10, c + 9, False] and len(second["clicks"]) == 2

    undone = _post(url, sid, "undo")
    assert undone["undone"] == "click" and np.array_equal(_mask(url, sid, k, shape[1:]), want)

    run = sdk["propagation"].start(a, spacing=volume.spacing, modality="MR")
    want3d = run.propagate(k, want)
    prop = _post(url, sid, "propagate", {"slice": k})
    assert prop["stopped"] == run.stopped and prop["state"]["propagated"] and prop["state"]["anchors"] == [k]
    for j in range(shape[0]):
        got = _mask(url, sid, j, shape[1:])
        assert np.array_equal(got, want3d[j]), f"slice {j}"
    assert prop["state"]["voxels"] == int(want3d.sum())

    # Correct a slice two above the seed: redraw it with a click there, then re-propagate from it.
    j = k + 2
    redraw = sdk["click"].start(a[j], spacing=volume.spacing[1:], modality="MR").click(r, c)
    _post(url, sid, "click", {"slice": j, "row": r, "col": c})
    corrected = _post(url, sid, "correct", {"slice": j})
    want_corrected = run.correct(j, redraw)
    assert corrected["state"]["anchors"] == [k, j]
    assert all(np.array_equal(_mask(url, sid, i, shape[1:]), want_corrected[i]) for i in range(shape[0]))
    assert _post(url, sid, "undo")["undone"] == "correct"
    want_back = run.undo()
    assert np.array_equal(want_back, want3d)
    # Undo goes back one step at a time: first the correction (slice j keeps its redrawn mask), then that click.
    assert np.array_equal(_mask(url, sid, j, shape[1:]), redraw)
    assert all(np.array_equal(_mask(url, sid, i, shape[1:]), want3d[i]) for i in range(shape[0]) if i != j)
    assert _post(url, sid, "undo")["undone"] == "click"
    assert np.array_equal(_mask(url, sid, j, shape[1:]), want3d[j])


def test_body_outline_and_the_saved_seg_equal_the_sdk(server, sdk, volume):
    import radseg.dicom as rd

    url, out, _ = server
    sid = _open(url)["session"]
    k, r, c = liver_point()
    _post(url, sid, "click", {"slice": k, "row": r, "col": c})
    body = _post(url, sid, "body")
    want_body = sdk["body"].segment(np.asarray(volume.array), spacing=volume.spacing, modality="MR")
    ml = float(want_body.sum()) * float(np.prod(volume.spacing)) / 1000
    assert body["state"]["body"] and abs(body["body_ml"] - ml) < 0.11
    assert np.array_equal(_mask(url, sid, k, volume.shape[1:], layer="body"), want_body[k])
    saved = _post(url, sid, "save", {"to": "file", "name": "liver"})
    assert saved["segments"] == ["liver", "body"] and not saved["stored"]
    masks = rd.read_seg(out / saved["file"], volume)
    want = np.zeros(volume.shape, bool)
    want[k] = sdk["click"].start(np.asarray(volume.array)[k], spacing=volume.spacing[1:], modality="MR").click(r, c)
    assert np.array_equal(masks["liver"], want) and np.array_equal(masks["body"], want_body)
    download = requests.get(f"{url}/api/sessions/{sid}/seg.dcm", timeout=30)
    assert download.status_code == 200 and download.content == (out / saved["file"]).read_bytes()


def test_state_errors_are_409_bad_values_422_and_gone_sessions_404(server):
    url, _, _ = server
    sid = _open(url)["session"]
    assert "nothing to undo" in _post(url, sid, "undo", status=409)["detail"]
    assert "propagate" in _post(url, sid, "correct", {"slice": 3}, status=409)["detail"]
    assert "no mask" in _post(url, sid, "propagate", {"slice": 3}, status=409)["detail"]
    assert "drag" in _post(url, sid, "drag", {"row": 1, "col": 1}, status=409)["detail"]
    assert "nothing to save" in _post(url, sid, "save", {"to": "file"}, status=409)["detail"]
    assert "folder, not a PACS" in _post(url, sid, "save", {"to": "pacs"}, status=409)["detail"]
    assert "outside the image" in _post(url, sid, "click", {"slice": 3, "row": 999, "col": 1}, status=422)["detail"]
    assert "outside the volume" in _post(url, sid, "click", {"slice": 99, "row": 1, "col": 1}, status=422)["detail"]
    _post(url, sid, "click", {"slice": "three", "row": 1, "col": 1}, status=422)
    assert requests.get(f"{url}/api/sessions/{sid}/slice/999", timeout=10).status_code == 422
    assert requests.get(f"{url}/api/sessions/{sid}/mask/kidney/0", timeout=10).status_code == 422
    assert requests.get(f"{url}/api/sessions/{sid}/mask/body/0", timeout=10).status_code == 204
    assert requests.delete(f"{url}/api/sessions/{sid}", timeout=10).status_code == 200
    gone = _post(url, sid, "click", {"slice": 3, "row": 1, "col": 1}, status=404)["detail"]
    assert "open the image again" in gone
    unknown = requests.post(url + "/api/sessions", json={"image": "../../etc/passwd"}, timeout=10)
    assert unknown.status_code == 404 and "GET /api/images" in unknown.json()["detail"]


def test_a_nifti_image_is_edited_but_not_saved_as_seg(server):
    url, _, _ = server
    opened = _open(url, kind="")
    assert opened["actions"]["save_file"] is False
    k, r, c = liver_point()
    _post(url, opened["session"], "click", {"slice": k, "row": r, "col": c})
    assert "NIfTI" in _post(url, opened["session"], "save", {"to": "file"}, status=409)["detail"]


def test_a_client_that_disconnects_cancels_its_work(server):
    url, _, _ = server
    sid = _open(url)["session"]
    with pytest.raises(requests.exceptions.ReadTimeout):  # the body outline takes several network batches
        requests.post(f"{url}/api/sessions/{sid}/body", timeout=0.05)
    state = requests.get(f"{url}/api/sessions/{sid}", timeout=60).json()["state"]  # waits for the session's lock
    assert state["body"] is False and state["undo"] is None


def test_only_the_pages_own_files_are_served(server):
    url, _, _ = server
    page = requests.get(url + "/", timeout=10)
    assert page.status_code == 200 and "viewer.js" in page.text
    assert requests.get(url + "/static/viewer.js", timeout=10).status_code == 200
    for bad in ("/static/..%2Fapp.py", "/static/%2e%2e%2fapp.py", "/static/.hidden", "/static/../app.py"):
        assert requests.get(url + bad, timeout=10).status_code == 404, bad


def test_a_token_guards_the_api_and_the_log_names_no_patient(chaos_folder, volume, tmp_path):
    proc, url = start_server("--data", str(chaos_folder), "--out", str(tmp_path), token="t0k3n")
    auth = {"Authorization": "Bearer t0k3n"}
    try:
        assert requests.get(url + "/", timeout=10).status_code == 200  # the page carries no patient data
        assert requests.get(url + "/api/images", timeout=10).status_code == 401
        images = requests.get(url + "/api/images", headers=auth, timeout=10).json()
        image = next(i["id"] for i in images if i["modality"] == "MR")
        sid = requests.post(url + "/api/sessions", json={"image": image}, headers=auth, timeout=60).json()["session"]
        k, r, c = liver_point()
        click = requests.post(f"{url}/api/sessions/{sid}/click", json={"slice": k, "row": r, "col": c},
                              headers=auth, timeout=60)
        assert click.status_code == 200
        with pytest.raises(requests.exceptions.ReadTimeout):
            requests.post(f"{url}/api/sessions/{sid}/body", headers=auth, timeout=0.05)
        saved = requests.post(f"{url}/api/sessions/{sid}/save", json={"to": "file"}, headers=auth, timeout=60)
        assert saved.status_code == 200, saved.text
    finally:
        log = stop_server(proc)
    header = volume.source_headers[0]
    assert f"session {sid[:6]} opened on image {image}" in log and "cancelled" in log and "saved a SEG" in log
    for private in (str(header.PatientName), str(header.PatientID), sid):
        assert private not in log, private
