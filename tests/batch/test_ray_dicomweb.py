"""`radseg batch body --source DICOMWEB_URL --stow` against a real Orthanc (Debian's packages, private instance
on loopback, installed with apt-get when missing): series listed over QIDO-RS, retrieved over WADO-RS in Ray
tasks, SEG and RTSTRUCT stored back over STOW-RS; a rerun leaves the stored SEG / RTSTRUCT series out and
skips what is done.
"""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from tests.batch.conftest import folder_of_keys, kill_leftovers, radseg_cli, short_tmpdir
from tests.conftest import orthanc_example

pytest.importorskip("ray", reason="Ray is not installed (pip install 'radseg[batch]')")
pytest.importorskip("dicomweb_client")


@pytest.fixture(scope="module")
def orthanc_module():
    return orthanc_example()


def _run(url, out, ray_tmp, *extra):
    proc = radseg_cli("batch", "body", "--source", url, "--out", str(out), "--json", *extra,
                      env_extra={"RAY_TMPDIR": ray_tmp})
    stdout, stderr = proc.communicate(timeout=400)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{stdout}\n{stderr[-3000:]}"
    return json.loads(stdout)


def test_pacs_batch_with_stow(orthanc_module, batch_archive, tmp_path):
    import pydicom

    import radseg.dicom as rd
    from radseg.batch import read_summary
    from radseg.batch.listing import list_folder_series

    root, expected = batch_archive
    folders = folder_of_keys(root)
    good = [item for item in list_folder_series(root, ["CT", "MR"])[0] if expected[folders[item["key"]]] == "done"]
    # The JPEG 2000 CT first when it is there: the PACS must serve it as stored (it cannot transcode it).
    good = sorted(good, key=lambda item: folders[item["key"]] != "totalseg_ct")[:4]
    ray_tmp = short_tmpdir()
    try:
        with orthanc_module.OrthancServer() as pacs:
            from dicomweb_client import DICOMwebClient

            client = DICOMwebClient(pacs.dicomweb_url, session=pacs.session())
            for item in good:
                client.store_instances([pydicom.dcmread(p) for p in item["paths"]])
            first = _run(pacs.dicomweb_url, tmp_path / "out", ray_tmp, "--stow")
            assert first["listed"] == len(good) and first["done"] == len(good) and first["failed"] == 0
            rows = read_summary(tmp_path / "out")
            assert sorted(r["series_uid"] for r in rows) == sorted(i["series_uid"] for i in good)
            assert all(r["status"] == "done" for r in rows)
            # The PACS now holds one SEG and one RTSTRUCT per series, each referencing it.
            stored = client.search_for_series(fields=["Modality"])
            modalities = sorted(s["00080060"]["Value"][0] for s in stored)
            assert modalities.count("SEG") == len(good) and modalities.count("RTSTRUCT") == len(good)
            # The SEG retrieved from the PACS is the one written locally, voxel for voxel.
            item = good[0]
            vol = rd.read_series(item["paths"])
            seg_series = [s for s in stored if s["00080060"]["Value"][0] == "SEG"]
            pulled = None
            for s in seg_series:
                ds = client.retrieve_series(s["0020000D"]["Value"][0], s["0020000E"]["Value"][0])[0]
                refs = ds.ReferencedSeriesSequence[0].SeriesInstanceUID
                if refs == item["series_uid"]:
                    pulled = ds
            assert pulled is not None, "no SEG in the PACS references the series"
            path = tmp_path / "pulled.dcm"
            pulled.save_as(path)
            local = rd.read_seg(tmp_path / "out" / "series" / item["key"] / "seg.dcm", vol)["body"]
            assert np.array_equal(rd.read_seg(path, vol)["body"], local) and local.any()
            # A rerun: SEG and RTSTRUCT series left out of the listing, everything done before.
            second = _run(pacs.dicomweb_url, tmp_path / "out", ray_tmp, "--stow")
            assert second["already_done"] == len(good) and second["done"] == 0
            assert second["left_out"] == {"SEG": len(good), "RTSTRUCT": len(good)}
    finally:
        kill_leftovers(ray_tmp)
        shutil.rmtree(ray_tmp, ignore_errors=True)
