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


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_the_file_gets_the_permissions_of_the_callers_umask(tmp_path, umask, mode):
    """mkstemp creates 0600; the written file must be readable by whoever the umask lets read a plain open()."""
    from radseg._atomic import current_umask

    old = os.umask(umask)
    try:
        assert current_umask() == umask
        target = write_atomic(tmp_path / "seg.dcm", lambda tmp: open(tmp, "wb").close())
        with open(tmp_path / "plain.bin", "wb"):
            pass
    finally:
        os.umask(old)
    assert os.stat(target).st_mode & 0o777 == mode
    assert os.stat(tmp_path / "plain.bin").st_mode & 0o777 == mode
