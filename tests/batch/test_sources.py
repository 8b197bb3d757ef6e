"""`radseg.batch.sources`: series keys, redaction, and listing the series of a folder tree of real DICOM files.

Every folder here is written with `radseg.dicom.synthetic.write_series` (complete CT / MR Image Storage files)
or with radseg's own SEG and RTSTRUCT writers; nothing under test is mocked.
"""
from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")

import radseg.dicom as rd  # noqa: E402
from radseg.batch.listing import list_folder_series
from radseg.batch.sources import read_item, redact, series_key  # noqa: E402
from radseg.dicom.synthetic import phantom, write_series  # noqa: E402

CT_MR = ["CT", "MR"]


def folders_of(items, root) -> dict:
    """{series key: sorted relative folders its files are in}."""
    return {i["key"]: sorted({os.path.relpath(os.path.dirname(p), root) for p in i["paths"]}) for i in items}


# ------------------------------------------------------------------------------------------------ series_key
def test_series_key_keeps_a_valid_uid():
    uid = "1.2.826.0.1.3680043.8.498.12345678901234567890"
    assert series_key(uid, "folder:a") == uid
    assert series_key(f"  {uid} ", "folder:a") == uid  # padding of a header value is not part of the UID


@pytest.mark.parametrize("uid", ["", "   ", "1.2.abc", "1..2", "1.2.", "../../etc", "1.2/3", "1." + "2" * 70])
def test_series_key_hashes_an_empty_or_malformed_uid(uid):
    key = series_key(uid, "folder:scans/a")
    assert key.startswith("sha1-") and len(key) == len("sha1-") + 24
    assert all(c.isalnum() or c == "-" for c in key)  # safe as a folder name
    assert series_key(uid, "folder:scans/a") == key  # stable: the same input gives the same key


def test_series_key_of_uidless_series_depends_on_the_fallback():
    a, b = series_key("", "folder:a"), series_key("", "folder:b")
    assert a != b
    assert series_key("", "folder:a") == a
    # A malformed UID is hashed itself, so the same malformed UID is the same key wherever its files are.
    assert series_key("1.2.x", "folder:a") == series_key("1.2.x", "folder:b")
    assert series_key("1.2.x", "folder:a") != series_key("1.2.y", "folder:a")


# ------------------------------------------------------------------------------------------------- redact
def test_redact_name_parts_and_id_case_insensitive():
    private = ["Doe^Janine", "Doe", "Janine", "PID-7731-SECRET"]
    text = "/data/Doe^Janine_ct/IM1.dcm of DOE, janine (pid-7731-secret) and doe^JANINE"
    got = redact(text, private)
    for word in ("doe", "janine", "pid-7731", "secret"):
        assert word not in got.lower(), got
    assert got.startswith("/data/<redacted>_ct/IM1.dcm of <redacted>, <redacted> (<redacted>)"), got


def test_redact_without_private_values_changes_nothing():
    text = "read: SeriesError: 2 slices at one position"
    assert redact(text, []) == text
    assert redact(text, ["", None]) == text  # empty values are skipped, not matched everywhere


def test_redact_treats_values_as_text_not_patterns():
    assert redact("id A.B+C and AxB+C", ["A.B+C"]) == "id <redacted> and AxB+C"


# ------------------------------------------------------------------------------------------ list_folder_series
def test_two_series_in_one_folder_are_two_items(tmp_path):
    root = tmp_path / "archive"
    a = write_series(tmp_path / "a", phantom((3, 32, 32)), shuffle_seed=None)
    b = write_series(tmp_path / "b", phantom((4, 32, 32), seed=1), shuffle_seed=None)
    uids = {str(pydicom.dcmread(paths[0], stop_before_pixels=True).SeriesInstanceUID) for paths in (a, b)}
    (root / "mixed").mkdir(parents=True)
    for prefix, paths in (("A", a), ("B", b)):
        for p in paths:
            shutil.move(p, root / "mixed" / f"{prefix}{os.path.basename(p)}")
    items, left_out = list_folder_series(root, CT_MR)
    assert left_out == {}
    assert len(items) == 2
    assert sorted(i["files"] for i in items) == [3, 4]
    assert {i["series_uid"] for i in items} == uids
    assert {i["key"] for i in items} == uids  # valid UIDs are their own keys
    assert [i["key"] for i in items] == sorted(i["key"] for i in items)
    for item in items:
        assert item["source"] == "folder" and item["modality"] == "CT" and item["study_uid"]
        assert item["files"] == len(item["paths"])


def strip_series_uid(paths):
    for p in paths:
        ds = pydicom.dcmread(p)
        del ds.SeriesInstanceUID
        ds.save_as(p, enforce_file_format=True)


def test_uidless_series_in_two_folders_stay_two(tmp_path):
    strip_series_uid(write_series(tmp_path / "one", phantom((3, 32, 32)), shuffle_seed=None))
    strip_series_uid(write_series(tmp_path / "sub" / "two", phantom((5, 32, 32)), shuffle_seed=None))
    items, _ = list_folder_series(tmp_path, CT_MR)
    assert len(items) == 2
    by_folder = {tuple(v): k for k, v in folders_of(items, tmp_path).items()}
    assert set(by_folder) == {("one",), (os.path.join("sub", "two"),)}
    for item in items:
        assert item["series_uid"] == "" and item["key"].startswith("sha1-")
    assert sorted(i["files"] for i in items) == [3, 5]
    # Stable: listing again gives the same keys.
    again, _ = list_folder_series(tmp_path, CT_MR)
    assert [i["key"] for i in again] == [i["key"] for i in items]


def test_garbage_after_the_dicm_marker_is_a_series_the_read_fails_on(tmp_path):
    write_series(tmp_path / "good", phantom((3, 32, 32)), shuffle_seed=None)
    (tmp_path / "garbage").mkdir()
    rng = np.random.default_rng(0)
    (tmp_path / "garbage" / "IM0001.dcm").write_bytes(b"\0" * 128 + b"DICM" + rng.integers(0, 256, 4000, np.uint8).tobytes())
    items, left_out = list_folder_series(tmp_path, CT_MR)
    assert left_out == {}
    assert len(items) == 2
    bad = [i for i in items if folders_of([i], tmp_path)[i["key"]] == ["garbage"]]
    assert len(bad) == 1
    bad = bad[0]
    assert bad["files"] == 1 and bad["series_uid"] == "" and bad["key"].startswith("sha1-")
    with pytest.raises(rd.DicomError):
        read_item(bad)
    good = next(i for i in items if i is not bad)
    assert read_item(good).shape == (3, 32, 32)


def test_seg_and_rtstruct_are_left_out_and_counted(tmp_path):
    write_series(tmp_path / "ct", phantom((4, 32, 32)), shuffle_seed=None)
    vol = rd.read_series(tmp_path / "ct")
    mask = np.asarray(vol.array) > -500
    (tmp_path / "seg").mkdir()
    rd.write_seg(vol, {"body": mask}, tmp_path / "seg" / "seg.dcm")
    (tmp_path / "rt").mkdir()
    rd.write_rtstruct(vol, {"BODY": mask}, tmp_path / "rt" / "rtstruct.dcm")
    items, left_out = list_folder_series(tmp_path, CT_MR)
    assert len(items) == 1
    assert folders_of(items, tmp_path)[items[0]["key"]] == ["ct"]
    assert items[0]["files"] == 4
    assert left_out == {"SEG": 1, "RTSTRUCT": 1}


def test_a_seg_beside_its_images_is_left_out_too(tmp_path):
    paths = write_series(tmp_path / "ct", phantom((4, 32, 32)), shuffle_seed=None)
    vol = rd.read_series(paths)
    rd.write_seg(vol, {"body": np.asarray(vol.array) > -500}, tmp_path / "ct" / "zz_seg.dcm")
    items, left_out = list_folder_series(tmp_path, CT_MR)
    assert [i["files"] for i in items] == [4]
    assert all(not p.endswith("zz_seg.dcm") for p in items[0]["paths"])
    assert left_out == {"SEG": 1}


def test_modalities_not_wanted_are_left_out(tmp_path):
    write_series(tmp_path / "ct", phantom((3, 32, 32)), shuffle_seed=None)
    write_series(tmp_path / "mr1", phantom((3, 32, 32)), modality="MR", intercept=0.0, shuffle_seed=None)
    write_series(tmp_path / "mr2", phantom((3, 32, 32)), modality="MR", intercept=0.0, shuffle_seed=None)
    items, left_out = list_folder_series(tmp_path, ["ct"])  # modalities are matched case-insensitively
    assert [i["modality"] for i in items] == ["CT"]
    assert left_out == {"MR": 2}
    items, left_out = list_folder_series(tmp_path, CT_MR)
    assert sorted(i["modality"] for i in items) == ["CT", "MR", "MR"] and left_out == {}


def test_private_holds_the_patient_name_parts_and_id(tmp_path):
    paths = write_series(tmp_path / "ct", phantom((3, 32, 32)), shuffle_seed=None, patient_id="PID-4242")
    for p in paths:
        ds = pydicom.dcmread(p)
        ds.PatientName = "Roe^Richard"
        ds.save_as(p, enforce_file_format=True)
    (item,), _ = list_folder_series(tmp_path, CT_MR)
    assert {"Roe^Richard", "Roe", "Richard", "PID-4242"} <= set(item["private"])
    text = redact(f"{paths[0]}: Richard ROE, pid-4242", item["private"])
    assert "richard" not in text.lower() and "roe" not in text.lower() and "4242" not in text


def test_read_item_reads_the_series(tmp_path):
    arr = phantom((5, 40, 36))
    write_series(tmp_path / "nested" / "ct", arr, spacing=(2.5, 0.7, 0.7))
    (item,), _ = list_folder_series(tmp_path, CT_MR)
    vol = read_item(item)
    assert isinstance(vol, rd.Volume)
    assert vol.shape == (5, 40, 36)
    assert np.allclose(vol.spacing, (2.5, 0.7, 0.7))
    assert np.array_equal(np.asarray(vol.array), arr)  # shuffled files come back in slice order, in HU


def test_a_folder_without_dicom_files_raises(tmp_path):
    (tmp_path / "notes.txt").write_text("no images here\n")
    with pytest.raises(rd.DicomFileError):
        list_folder_series(tmp_path, CT_MR)
