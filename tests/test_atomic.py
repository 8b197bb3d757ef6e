"""radseg._atomic.write_atomic: all or nothing."""
import os

import pytest

from radseg._atomic import write_atomic


def test_writes_then_renames(tmp_path):
    target = tmp_path / "out.bin"
    seen = []

    def write(tmp):
        seen.append(tmp)
        assert not target.exists()  # nothing at the target while writing
        with open(tmp, "wb") as f:
            f.write(b"data")

    assert write_atomic(target, write, suffix=".nii.gz") == str(target)
    assert target.read_bytes() == b"data" and seen[0].endswith(".nii.gz")
    assert os.listdir(tmp_path) == ["out.bin"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")

    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, write)
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out.bin"]
