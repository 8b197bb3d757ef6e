"""The viewer page in a real browser: Playwright (PyPI) driving Debian's Chromium (installed when missing), on
`radseg serve --dicomweb` over a private Orthanc holding a real CHAOS MR series.

Open the page, load the series, click on the liver: the mask the page draws (the overlay canvas's pixels) equals
the SDK's mask for the same click; a second click dragged across the liver equals the SDK replaying the same
click and moves; undo brings back the first mask; propagate (key P) equals the SDK's propagation on every slice
looked at; the body outline (key B) is drawn where the SDK's body model says; "Save to PACS" stores a SEG in
Orthanc that, read back over WADO-RS, equals the propagated masks voxel for voxel. Screenshots of each step go to
test-artifacts/serve/ (or $RADSEG_TEST_ARTIFACTS).
"""
from __future__ import annotations

import json
import os
import pathlib

import numpy as np
import pytest

from tests.conftest import REPO, orthanc_example
from tests.serve.conftest import liver_point, start_server, stop_server

pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install 'radseg[serve]')")
pytest.importorskip("onnxruntime")
pytest.importorskip("dicomweb_client")
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")

STRUCTURE_ALPHA = 120  # viewer.js: the overlay's alpha on structure pixels
BODY_ALPHAS = (200, 30)  # viewer.js: on body pixels, outline and inside
WAIT_MS = 120_000


@pytest.fixture(scope="module")
def artifacts():
    folder = pathlib.Path(os.environ.get("RADSEG_TEST_ARTIFACTS", REPO / "test-artifacts")) / "serve"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def pacs_server(chaos_folder, tmp_path_factory):
    """(Orthanc helper, DICOMweb client, radseg serve URL): the CHAOS series stored in a private Orthanc and
    `radseg serve --dicomweb` reading it."""
    import pydicom
    from dicomweb_client import DICOMwebClient

    orthanc = orthanc_example()
    with orthanc.OrthancServer() as pacs:
        client = DICOMwebClient(pacs.dicomweb_url, session=pacs.session())
        client.store_instances([pydicom.dcmread(p) for p in sorted((chaos_folder / "dicom").rglob("*.dcm"))])
        proc, url = start_server("--dicomweb", pacs.dicomweb_url, "--out", str(tmp_path_factory.mktemp("out")))
        try:
            yield pacs, client, url
        finally:
            stop_server(proc)


@pytest.fixture(scope="module")
def browser():
    from tests.serve.browser import ChromiumUnavailable, launch

    with sync_api.sync_playwright() as playwright:
        try:
            chromium = launch(playwright)
        except ChromiumUnavailable as exc:
            pytest.skip(f"Chromium cannot be installed on this machine: {exc}")
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def volume(chaos_folder):
    import radseg.dicom as rd

    return rd.read_series(sorted((chaos_folder / "dicom").rglob("*.dcm")))


def _settle(page):
    """Wait until the page has no request in flight (the body's data-busy counter, and no queued drag)."""
    page.wait_for_function("document.body.dataset.busy === '0' && !window.radsegViewer.dragInFlight",
                           timeout=WAIT_MS)


def _overlay_alpha(page) -> np.ndarray:
    """The overlay canvas's alpha channel, uint8 [rows, cols] (the canvas has one pixel per image pixel)."""
    flat = page.evaluate("""() => {
        const c = document.getElementById('overlay');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        const a = new Array(c.width * c.height);
        for (let i = 0; i < a.length; i++) a[i] = d[4 * i + 3];
        return [c.height, c.width, a];
    }""")
    return np.asarray(flat[2], np.uint8).reshape(flat[0], flat[1])


def _shown_structure(page) -> np.ndarray:
    return _overlay_alpha(page) == STRUCTURE_ALPHA


def _screen(page, row: float, col: float, shape):
    """Page coordinates of the centre of image pixel (row, col)."""
    box = page.locator("#marks").bounding_box()
    return box["x"] + (col + 0.5) / shape[1] * box["width"], box["y"] + (row + 0.5) / shape[0] * box["height"]


def _go_to_slice(page, k: int):
    now = int(page.evaluate("window.radsegViewer.k"))
    for _ in range(abs(k - now)):
        page.keyboard.press("ArrowUp" if k > now else "ArrowDown")
    page.wait_for_function(f"document.body.dataset.slice === '{k}'", timeout=WAIT_MS)
    _settle(page)


def test_the_viewer_in_chromium_matches_the_sdk_and_saves_to_the_pacs(pacs_server, browser, volume, artifacts,
                                                                      tmp_path):
    import radseg
    import radseg.dicom as rd

    pacs, client, url = pacs_server
    shape = volume.shape
    a = np.asarray(volume.array)
    page = browser.new_page(viewport={"width": 1300, "height": 860})
    problems, edits = [], []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("request", lambda req: edits.append((req.url.rsplit("/", 1)[-1], json.loads(req.post_data)))
            if req.method == "POST" and req.url.endswith(("/click", "/drag")) else None)

    page.goto(url + "/")
    page.wait_for_function("document.querySelectorAll('#image option').length > 0", timeout=WAIT_MS)
    page.select_option("#image", volume.series_instance_uid)
    page.click("#open")
    page.wait_for_function("window.radsegViewer.session && window.radsegViewer.pixels.size > 0", timeout=WAIT_MS)
    _settle(page)

    # A click on the liver: the page shows the SDK's mask for that click.
    k, r, c = liver_point()
    _go_to_slice(page, k)
    page.mouse.click(*_screen(page, r, c, shape[1:]))
    _settle(page)
    click = radseg.load("click")
    ref = click.start(a[k], spacing=volume.spacing[1:], modality="MR")
    assert [e[0] for e in edits] == ["click"]
    first = ref.click(edits[0][1]["row"], edits[0][1]["col"])
    assert abs(edits[0][1]["row"] - r) < 1 and abs(edits[0][1]["col"] - c) < 1
    assert first.sum() > 200 and np.array_equal(_shown_structure(page), first)
    assert page.inner_text("#latency").startswith("click ")
    page.screenshot(path=str(artifacts / "1-click.png"))

    # A second click, held and dragged: the page shows the SDK replaying the same click and moves.
    page.mouse.move(*_screen(page, r - 12, c + 10, shape[1:]))
    page.mouse.down()
    page.mouse.move(*_screen(page, r - 4, c + 18, shape[1:]), steps=6)
    page.mouse.up()
    _settle(page)
    kinds = [e[0] for e in edits[1:]]
    assert kinds[0] == "click" and kinds.count("drag") >= 1 and set(kinds[1:]) == {"drag"}
    for kind, body in edits[1:]:
        dragged = ref.click(body["row"], body["col"]) if kind == "click" else ref.move_last_click(body["row"],
                                                                                                 body["col"])
    assert np.array_equal(_shown_structure(page), dragged)
    page.screenshot(path=str(artifacts / "2-drag.png"))

    # Undo (key U) takes back the dragged click.
    page.keyboard.press("u")
    _settle(page)
    assert np.array_equal(_shown_structure(page), first)

    # Propagate (key P): every slice looked at shows the SDK's propagation.
    page.keyboard.press("p")
    page.wait_for_function("window.radsegViewer.state && window.radsegViewer.state.propagated", timeout=WAIT_MS)
    _settle(page)
    run = radseg.load("propagation").start(a, spacing=volume.spacing, modality="MR")
    want = run.propagate(k, first)
    assert np.array_equal(_shown_structure(page), want[k])
    for j in (k + 3, k - 2):
        _go_to_slice(page, j)
        assert want[j].any() and np.array_equal(_shown_structure(page), want[j]), f"slice {j}"
    page.screenshot(path=str(artifacts / "3-propagated.png"))

    # The body outline (key B): drawn where the SDK's body model says, under the structure.
    page.keyboard.press("b")
    page.wait_for_function("window.radsegViewer.state && window.radsegViewer.state.body", timeout=WAIT_MS)
    _settle(page)
    body = radseg.load("body").segment(a, spacing=volume.spacing, modality="MR")
    j = int(page.evaluate("window.radsegViewer.k"))
    alpha = _overlay_alpha(page)
    assert np.array_equal(np.isin(alpha, BODY_ALPHAS) | (alpha == STRUCTURE_ALPHA), body[j] | want[j])
    page.screenshot(path=str(artifacts / "4-body.png"))

    # Save to PACS: the SEG in Orthanc, read back over WADO-RS, is the propagated structure and the body.
    page.fill("#name", "liver")
    page.click("#save-pacs")
    page.wait_for_selector("#saved-link", timeout=WAIT_MS)
    _settle(page)
    assert "stored in the PACS" in page.inner_text("#saved")
    seg_uid = page.get_attribute("#saved-link", "data-series-uid")
    stored = client.search_for_series(search_filters={"SeriesInstanceUID": seg_uid}, fields=["Modality"])
    assert len(stored) == 1 and stored[0]["00080060"]["Value"] == ["SEG"]
    ds = client.retrieve_series(stored[0]["0020000D"]["Value"][0], seg_uid)[0]
    ds.save_as(tmp_path / "from-pacs.dcm", enforce_file_format=True)
    masks = rd.read_seg(tmp_path / "from-pacs.dcm", volume)
    assert sorted(masks) == ["body", "liver"]
    assert np.array_equal(masks["liver"], want) and np.array_equal(masks["body"], body)
    assert problems == [], problems
    page.close()
