"""`radseg.batch.run_ray` on a real local Ray instance (`ray.init(num_cpus=2)`, shared by the tests here).

A mixed archive of real and faulty series: every good one done once with its files, every fault failed naming its
cause; a worker process killed mid-run has its series retried and nothing is lost or doubled.
"""
from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest

from tests.batch.conftest import check_outcomes, folder_of_keys

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'radseg[batch]')")


@pytest.fixture(scope="module")
def ray_local():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.mark.parametrize("read_stage", ["actor", "tasks"])
def test_good_and_corrupt_series(ray_local, batch_archive, tmp_path, read_stage):
    import radseg
    import radseg.dicom as rd
    from radseg.batch import BodyJob, read_summary, run_ray

    root, expected = batch_archive
    report = run_ray(str(root), BodyJob(out=str(tmp_path), source_root=str(root)), progress=False,
                     read_stage=read_stage)
    assert report.engine == "ray" and report.workers == 2
    assert report.listed == len(expected) and report.lost == 0
    check_outcomes(report.rows, root, expected)
    summary = read_summary(tmp_path)
    assert [r["output"] for r in summary] == [r["output"] for r in report.rows]
    # The files of a done series are the model's outline of it: the SEG reads back to the mask the SDK gives.
    keys = {v: k for k, v in folder_of_keys(root).items()}
    folder = "totalseg_ct" if "totalseg_ct" in expected else "pydicom_ct_small"
    series = tmp_path / "series" / keys[folder]
    vol = rd.read_series(root / folder)
    want = radseg.load("body", threads=1).segment(np.asarray(vol.array), spacing=vol.spacing, modality="CT")
    got = rd.read_seg(series / "seg.dcm", vol)["body"]
    assert np.array_equal(got, want)
    assert np.array_equal(rd.read_rtstruct(series / "rtstruct.dcm", vol)["BODY"], want)
    doc = json.loads((series / "result.json").read_text())
    assert doc["batch"]["status"] == "done" and doc["batch"]["slices"] == vol.shape[0]
    assert set(doc["outputs"]) >= {"seg", "rtstruct", "ply", "montage"}


def test_a_killed_worker_loses_nothing(ray_local, tmp_path):
    import threading

    from radseg.batch import BodyJob, run_ray
    from radseg.dicom.synthetic import phantom, write_series

    root, out = tmp_path / "archive", tmp_path / "out"
    expected = {}
    for k in range(6):  # series big enough (40 x 256 x 256) that a worker is caught in the middle of one
        write_series(root / f"phantom_{k}", phantom((40, 256, 256), seed=k))
        expected[f"phantom_{k}"] = "done"
    killed, stop = [], threading.Event()

    def kill_a_busy_worker():
        # A series with attempts.json (its worker's pid) and no result.json yet is being worked on right now.
        while not stop.is_set() and not killed:
            for attempts in out.glob("series/*/attempts.json"):
                if (attempts.parent / "result.json").exists():
                    continue
                try:
                    pid = json.loads(attempts.read_text())["pid"]
                except (OSError, ValueError, KeyError):
                    continue
                os.kill(pid, signal.SIGKILL)
                killed.append((attempts.parent.name, pid))
                break
            stop.wait(0.02)

    killer = threading.Thread(target=kill_a_busy_worker, daemon=True)
    killer.start()
    try:
        report = run_ray(str(root), BodyJob(out=str(out), source_root=str(root)), progress=False)
    finally:
        stop.set()
        killer.join()
    assert killed, "no worker was killed"
    check_outcomes(report.rows, root, expected)
    assert report.lost == 0 and report.done == len(expected)
    victim, pid = killed[0]
    row = next(r for r in report.rows if r["output"] == f"series/{victim}")
    assert row["attempt"] >= 2 and row["worker_pid"] != pid, row
    attempts = {p.parent.name: json.loads(p.read_text())["attempts"] for p in out.glob("series/*/attempts.json")}
    assert attempts[victim] >= 2 and sorted(attempts) == sorted(r["output"].split("/")[1] for r in report.rows)


def test_rerun_skips_what_is_done(ray_local, batch_archive, tmp_path):
    from radseg.batch import BodyJob, run_ray

    root, expected = batch_archive
    job = BodyJob(out=str(tmp_path), source_root=str(root))
    first = run_ray(str(root), job, progress=False)
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.glob("series/*/seg.dcm")}
    second = run_ray(str(root), job, progress=False)
    assert second.already_done == len(expected) and second.done == second.failed == 0
    assert {p: p.stat().st_mtime_ns for p in tmp_path.glob("series/*/seg.dcm")} == stamps
    assert [r["status"] for r in second.rows] == [r["status"] for r in first.rows]
    third = run_ray(str(root), job, progress=False, retry_failed=True)
    faults = sum(1 for v in expected.values() if v != "done")
    assert third.failed == faults and third.done == 0


def test_listing_on_the_cluster_is_the_local_listing(ray_local, batch_archive, tmp_path, monkeypatch):
    import radseg.batch.ray_pipeline as pipeline
    from radseg.batch import BodyJob, run_ray
    from radseg.batch.listing import list_folder_series, walk_files

    root, expected = batch_archive
    files = walk_files(root)
    local = list_folder_series(root, ["CT", "MR"])
    spread = pipeline.list_folder_on_ray(root, ["CT", "MR"], files, chunk=7)  # several tasks, series split up
    assert spread == local and len(files) > 14
    monkeypatch.setattr(pipeline, "LISTING_CHUNK", 5)
    report = run_ray(str(root), BodyJob(out=str(tmp_path), source_root=str(root)), progress=False, listing="ray")
    check_outcomes(report.rows, root, expected)


def test_bad_read_stage_or_listing_fails_before_any_work(tmp_path):
    from radseg.batch import BodyJob, run_ray

    with pytest.raises(ValueError, match="read_stage"):
        run_ray(str(tmp_path), BodyJob(out=str(tmp_path / "out")), read_stage="fast")
    with pytest.raises(ValueError, match="listing"):
        run_ray(str(tmp_path), BodyJob(out=str(tmp_path / "out")), listing="everywhere")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("read_stage", ["actor", "tasks"])
def test_more_workers_than_cpus_all_start(ray_local, tmp_path, read_stage):
    from radseg.batch import BodyJob, run_ray
    from radseg.dicom.synthetic import phantom, write_series

    root = tmp_path / "archive"
    for k in range(4):
        write_series(root / f"phantom_{k}", phantom((4, 64, 64), seed=k))
    report = run_ray(str(root), BodyJob(out=str(tmp_path / "out")), workers=4, progress=False,
                     read_stage=read_stage)
    # Four actors on two CPUs: each asks for a share of a CPU, so all four are placed, and every series is done.
    assert report.workers == 4 and report.done == 4
