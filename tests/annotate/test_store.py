"""AnnotationStore: decisions appended and fsynced, accepted pairs saved, resume, crash tolerance, the summary and
the trainer's view (read_accepted)."""
import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import radseg
from radseg.annotate import AnnotationStore, DatasetLockedError, read_accepted
from radseg.errors import InputError
from tests.conftest import REPO


def _pair(seed=0, shape=(20, 30)):
    rng = np.random.default_rng(seed)
    image = rng.normal(100, 30, shape).astype(np.float32)
    return image, image > 100


def _lines(folder):
    return [json.loads(line) for line in (folder / "decisions.jsonl").read_text().splitlines()]


def test_record_appends_a_line_and_saves_accepted_pairs(tmp_path):
    image, mask = _pair()
    with AnnotationStore(tmp_path / "ds") as store:
        assert not store.decided("img-a", "msk-1")
        kept = store.record("img-a", "msk-1", True, 4.25, image=image, mask=mask,
                            meta={"names": ["M1(2)", "M1(3)"], "source": "ct.nii.gz", "slice": 7})
        dropped = store.record("img-a", "msk-2", False, 1.5, meta={"names": ["M2(1)"], "source": "ct.nii.gz",
                                                                   "slice": 7})
        assert store.decided("img-a", "msk-1") and store.decided("img-a", "msk-2") and len(store) == 2
    lines = _lines(tmp_path / "ds")
    assert [r["id"] for r in lines] == [kept["id"], dropped["id"]] == ["000000", "000001"]
    assert lines[0]["accepted"] is True and lines[1]["accepted"] is False
    assert lines[0]["seconds"] == 4.25 and lines[0]["names"] == ["M1(2)", "M1(3)"] and lines[0]["slice"] == 7
    assert sorted(p.name for p in (tmp_path / "ds" / "accepted").iterdir()) == ["000000.npz"]
    with np.load(tmp_path / "ds" / "accepted" / "000000.npz") as z:
        assert z["image"].dtype == np.float32 and z["mask"].dtype == bool
        np.testing.assert_array_equal(z["image"], image)
        np.testing.assert_array_equal(z["mask"], mask)
        assert list(z["names"]) == ["M1(2)", "M1(3)"] and str(z["source"]) == "ct.nii.gz" and int(z["slice"]) == 7


def test_reopening_resumes_and_ids_continue(tmp_path):
    image, mask = _pair()
    with AnnotationStore(tmp_path) as store:
        store.record("a", "1", False, 1.0)
    with AnnotationStore(tmp_path) as store:
        assert store.decided("a", "1") and not store.decided("a", "2")
        assert store.record("a", "2", True, 2.0, image=image, mask=mask)["id"] == "000001"


def test_truncated_last_line_is_dropped_with_a_warning_and_repaired(tmp_path):
    with AnnotationStore(tmp_path) as store:
        store.record("a", "1", False, 1.0)
        store.record("a", "2", False, 2.0)
    path = tmp_path / "decisions.jsonl"
    with open(path, "a") as f:
        f.write('{"id": "000002", "item": "a", "candidate": "3", "acc')  # a crash in the middle of a line
    with pytest.warns(radseg.RadsegWarning, match="truncated"):
        ro = AnnotationStore(tmp_path, readonly=True)
    assert len(ro) == 2 and not ro.decided("a", "3")
    assert path.read_text().endswith('"acc'), "a read-only store must not change the file"
    with pytest.warns(radseg.RadsegWarning, match="truncated"):
        store = AnnotationStore(tmp_path)
    store.record("a", "3", False, 3.0)
    store.close()
    assert [r["candidate"] for r in _lines(tmp_path)] == ["1", "2", "3"]  # every line parses again


def test_whole_but_unterminated_last_line_is_kept(tmp_path):
    (tmp_path / "decisions.jsonl").write_text(json.dumps({"id": "000000", "item": "a", "candidate": "1",
                                                          "accepted": False, "seconds": 1.0}))
    with AnnotationStore(tmp_path) as store:
        assert store.decided("a", "1")
        store.record("a", "2", False, 1.0)
    assert len(_lines(tmp_path)) == 2


def test_damaged_middle_line_is_an_error_naming_it(tmp_path):
    (tmp_path / "decisions.jsonl").write_text('{"item": "a", "candidate": "1", "accepted": false, "id": "0"}\n'
                                              "garbage\n"
                                              '{"item": "a", "candidate": "2", "accepted": false, "id": "2"}\n')
    with pytest.raises(InputError, match="line 2"):
        AnnotationStore(tmp_path, readonly=True)


def test_a_killed_writer_loses_nothing_it_recorded(tmp_path):
    script = textwrap.dedent(f"""
        import os, signal, numpy as np
        from radseg.annotate import AnnotationStore
        store = AnnotationStore({str(tmp_path)!r})
        for k in range(5):
            store.record("a", str(k), k % 2 == 0, 1.0 + k, image=np.ones((4, 4)), mask=np.eye(4, dtype=bool))
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL
    store = AnnotationStore(tmp_path)  # the dead writer's lock is gone with it
    assert len(store) == 5 and len(list(store.read_accepted())) == 3
    store.close()


def test_summary_counts_and_timing(tmp_path):
    image, mask = _pair()
    with AnnotationStore(tmp_path) as store:
        assert store.summary()["decisions"] == 0 and store.summary()["seconds_mean"] is None
        for k, (ok, s) in enumerate([(True, 2.0), (False, 4.0), (False, 9.0)]):
            store.record(f"img{k // 2}", str(k), ok, s, image=image, mask=mask)
        s = store.summary(remaining=100)
    assert (s["decisions"], s["accepted"], s["discarded"], s["images"], s["images_with_accepted"]) == (3, 1, 2, 2, 1)
    assert s["seconds_mean"] == 5.0 and s["seconds_median"] == 4.0 and s["seconds_total"] == 15.0
    assert s["human_hours"] == round(15 / 3600, 4)
    assert s["remaining"] == 100 and s["estimated_hours_left"] == round(100 * 4.0 / 3600, 4)


def test_read_accepted_is_the_trainers_view_and_the_later_decision_wins(tmp_path):
    a, ma = _pair(1)
    b, mb = _pair(2)
    with AnnotationStore(tmp_path) as store:
        store.record("A", "1", True, 1.0, image=a, mask=ma, meta={"source": "x", "slice": 3, "names": ["M1(1)"]})
        store.record("B", "1", True, 1.0, image=b, mask=mb)
        store.record("B", "1", False, 1.0)  # the rater changed their mind
    got = list(read_accepted(tmp_path))
    assert len(got) == 1
    image, mask, meta = got[0]
    assert image.dtype == np.float32 and mask.dtype == bool
    np.testing.assert_array_equal(image, a)
    np.testing.assert_array_equal(mask, ma)
    assert meta["item"] == "A" and meta["source"] == "x" and meta["slice"] == 3 and meta["names"] == ["M1(1)"]


def test_missing_accepted_file_is_named(tmp_path):
    image, mask = _pair()
    with AnnotationStore(tmp_path) as store:
        store.record("A", "1", True, 1.0, image=image, mask=mask)
    os.unlink(tmp_path / "accepted" / "000000.npz")
    with pytest.raises(InputError, match="000000.npz: missing"):
        list(read_accepted(tmp_path))


def test_a_second_writer_is_refused(tmp_path):
    with AnnotationStore(tmp_path):
        with pytest.raises(DatasetLockedError, match="another annotator"):
            AnnotationStore(tmp_path)
        AnnotationStore(tmp_path, readonly=True)  # readers are welcome
    AnnotationStore(tmp_path).close()  # released


def test_bad_records_are_refused_before_anything_is_written(tmp_path):
    image, mask = _pair()
    with AnnotationStore(tmp_path) as store:
        with pytest.raises(ValueError, match="needs image and mask"):
            store.record("a", "1", True, 1.0)
        with pytest.raises(ValueError, match="seconds"):
            store.record("a", "1", False, -1.0)
        with pytest.raises(ValueError, match="one shape"):
            store.record("a", "1", True, 1.0, image=image, mask=mask[:5])
        with pytest.raises(TypeError, match="not JSON-able"):
            store.record("a", "1", False, 1.0, meta={"x": object()})
        assert len(store) == 0
    assert (tmp_path / "decisions.jsonl").read_text() == ""
    assert list((tmp_path / "accepted").iterdir()) == []
    with pytest.raises(InputError, match="no annotation dataset"):
        AnnotationStore(tmp_path / "absent", readonly=True)
