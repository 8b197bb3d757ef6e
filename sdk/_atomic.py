"""Write a file atomically: into a temporary file beside it, then rename over the target.

A reader never sees a half-written file, and a failed write leaves whatever was at `path` untouched (no
partial output is left behind: the temporary file is removed). The file gets the permissions a plain ``open()``
would give it (0666 less the process umask): mkstemp's private 0600 would hide a SEG from a PACS service that
runs as another user.
"""
from __future__ import annotations

import os
import tempfile
from typing import Callable


def write_atomic(path, write: Callable[[str], None], suffix: str = ".part") -> str:
    """Call ``write(tmp_path)`` on a temporary file in `path`'s folder, then rename it to `path`.

    Args:
        path: the target file (str or os.PathLike).
        write: writes the whole file to the path it is given.
        suffix: the temporary file's suffix (some writers choose the format from it, e.g. ".nii.gz").
    Returns:
        `path` as a str.
    """
    path = os.fspath(path)
    fd, tmp = tempfile.mkstemp(prefix=".radseg-", suffix=suffix, dir=os.path.dirname(os.path.abspath(path)))
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux: /proc/self/status)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: the classic set-and-restore (not atomic across threads)
    os.umask(mask)
    return mask
