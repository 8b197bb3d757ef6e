"""End-to-end PACS round trip against a real Orthanc (Debian packages), through examples/pacs_roundtrip.py.

Orthanc is installed with apt-get when missing (root); the tests skip, saying why, only when that is impossible.
Each run starts a private Orthanc on a free loopback port with its own config and storage in a temporary folder,
and must leave no process behind.
"""
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO, SHARED_DATA, orthanc_example

EXAMPLES = REPO / "examples"
pytest.importorskip("dicomweb_client")
pytest.importorskip("highdicom")


@pytest.fixture(scope="module")
def orthanc():
    return orthanc_example()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie counts as gone
        return pathlib.Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _run_example(*args, timeout=600):
    proc = subprocess.run([sys.executable, str(EXAMPLES / "pacs_roundtrip.py"), "--json", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=REPO)
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-4000:]}"
    return json.loads(proc.stdout)


def _check(summary):
    assert summary["ok"], summary
    assert summary["retrieved"] == summary["instances"] and summary["retrieved_equals_uploaded"]
    assert summary["pacs_holds_seg"] and summary["seg_references"] == [summary["series_uid"]]
    assert summary["pixel_exact"] and all(summary["pixel_exact"].values())
    assert all(v > 0 for v in summary["segments"].values())
    assert summary["orthanc"]["statistics"]["CountInstances"] == summary["instances"] + 1  # the series + the SEG
    assert not _alive(summary["orthanc"]["pid"]), "Orthanc was left running"


def test_orthanc_helper_starts_private_instance_and_cleans_up(orthanc):
    server = orthanc.OrthancServer()
    with server:
        config = json.loads(pathlib.Path(server.workdir, "orthanc.json").read_text())
        assert config["RemoteAccessAllowed"] is False and config["DicomServerEnabled"] is False
        assert config["StorageDirectory"].startswith(server.workdir) and config["HttpPort"] != 8042
        resp = server.session().get(server.dicomweb_url + "/studies", timeout=5)
        assert resp.status_code == 200 and (resp.json() if resp.content else []) == []
        pid, workdir = server.process.pid, server.workdir
    assert not _alive(pid) and not os.path.exists(workdir)


def test_pacs_roundtrip_synthetic_series(orthanc, tmp_path):
    from radseg.dicom import synthetic

    synthetic.write_series(tmp_path / "ct", synthetic.phantom((10, 64, 64)), spacing=(3.0, 1.1, 1.1))
    summary = _run_example("--series", str(tmp_path / "ct"))
    _check(summary)
    assert summary["volume_shape"] == [10, 64, 64] and set(summary["segments"]) == {"body", "bone"}


def test_pacs_roundtrip_real_jpeg2000_ct(orthanc):
    folder = SHARED_DATA / "totalseg" / "example_ct_dicom"
    if not folder.is_dir():
        pytest.skip(f"real data not available: {folder} is absent")
    summary = _run_example("--series", str(folder))
    _check(summary)
    assert summary["volume_shape"] == [20, 512, 512]
    # The body outline of an abdominal CT covers a good part of each 512x512 slice, bone a few percent.
    body, bone = summary["segments"]["body"], summary["segments"]["bone"]
    assert 0.2 < body / (20 * 512 * 512) < 0.8 and 0.005 < bone / body < 0.2


@pytest.mark.parametrize("transfer_syntax", ["1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.57"])
def test_jpeg_lossless_served_by_the_pacs_decodes_to_the_original_pixels(orthanc, tmp_path, transfer_syntax):
    # Orthanc (DCMTK) transcodes to JPEG lossless on request: the pixels must come back bit-identical, decoded by
    # the dicom extra's JPEG handler (pylibjpeg-libjpeg).
    import pydicom
    from dicomweb_client import DICOMwebClient

    import radseg
    from radseg.dicom import synthetic

    paths = synthetic.write_series(tmp_path / "ct", synthetic.phantom((4, 48, 40)), spacing=(2.0, 0.9, 0.8))
    datasets = [pydicom.dcmread(p) for p in paths]
    with orthanc.OrthancServer() as server:
        client = DICOMwebClient(server.dicomweb_url, session=server.session(), timeout=120)
        client.store_instances(datasets)
        got = client.retrieve_series(str(datasets[0].StudyInstanceUID), str(datasets[0].SeriesInstanceUID),
                                     media_types=(("application/dicom", transfer_syntax),))
    assert {str(ds.file_meta.TransferSyntaxUID) for ds in got} == {transfer_syntax}
    served = radseg.dicom.read_series(got)
    original = radseg.dicom.read_series(tmp_path / "ct")
    np.testing.assert_array_equal(served.array, original.array)
    np.testing.assert_allclose(served.affine, original.affine)


def test_pacs_roundtrip_with_the_click_model(orthanc):
    """The click model's mask goes to the PACS and back too. Uses the bundled model, or the exported model folder
    named by RADSEG_CLICK_MODEL; skips when neither exists (the model ships separately from this code)."""
    import json as _json

    import radseg
    from radseg.load import bundled_names

    model = os.environ.get("RADSEG_CLICK_MODEL") or ("click" if "click" in bundled_names() else None)
    if model is None:
        pytest.skip("no click model here: none bundled, and RADSEG_CLICK_MODEL is unset")
    folder = SHARED_DATA / "totalseg" / "example_ct_dicom"
    if not folder.is_dir():
        pytest.skip(f"real data not available: {folder} is absent")
    vol = radseg.dicom.read_series(folder)
    labels = radseg.dicom.read_nifti_onto(folder.parent / "example_seg_dicom.nii.gz", vol)
    ids = {n: int(k) for k, n in _json.loads((folder.parent / "labels.json").read_text())["total"].items()}
    s = 10
    depth = radseg.geometry.distance_transform(labels[s] == ids["liver"])
    r, c = (int(v) for v in np.unravel_index(np.argmax(depth), depth.shape))  # the innermost liver pixel
    summary = _run_example("--series", str(folder), "--click", str(s), str(r), str(c), "--model", model)
    _check(summary)
    assert summary["segments"]["clicked structure 1"] > 100
