"""`import radseg` and `python -m radseg` from any working directory, including the folder that holds a clone
named `radseg` (there the clone would otherwise be taken for a namespace package and shadow the install)."""
import os
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
CHECK = "import radseg; assert callable(radseg.load), radseg; print(radseg.__file__)"


def _run(args, cwd):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable] + args, cwd=cwd, capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize("where", ["parent_of_a_clone_named_radseg", "elsewhere", "the_checkout"])
def test_import_radseg_gets_the_real_package(tmp_path, where):
    if where == "parent_of_a_clone_named_radseg":
        (tmp_path / "radseg").symlink_to(REPO, target_is_directory=True)  # like `git clone ... radseg`
        cwd = tmp_path
    else:
        cwd = tmp_path if where == "elsewhere" else REPO
    proc = _run(["-c", CHECK], cwd)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith(os.path.join("", "__init__.py")), proc.stdout


def test_python_dash_m_radseg_from_the_parent_of_a_clone(tmp_path):
    (tmp_path / "radseg").symlink_to(REPO, target_is_directory=True)
    proc = _run(["-m", "radseg", "--version"], tmp_path)
    assert proc.returncode == 0 and proc.stdout.startswith("radseg "), proc.stderr
