"""Write a file atomically: into a temporary file beside it, then rename over the target.

A reader never sees a half-written file, and a failed write leaves whatever was at `path` untouched (no
partial output is left behind: the temporary file is removed).
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
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
