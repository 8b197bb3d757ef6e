"""Without the optional packages, radseg.dicom says how to install them (and `import radseg` never needs them)."""
import subprocess
import sys


def _run(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_missing_nibabel_names_the_extra():
    code = (
        "import sys; sys.modules['nibabel'] = None\n"
        "import radseg\n"
        "try:\n"
        "    radseg.dicom.read_nifti('x.nii')\n"
        "except ModuleNotFoundError as exc:\n"
        "    print(type(exc).__name__, exc.name, '|', exc)\n"
    )
    out = _run(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("MissingDependencyError nibabel |") and "pip install 'radseg[dicom]'" in out.stdout


def test_cli_exit_code_3_when_pydicom_is_missing(tmp_path):
    code = (
        "import sys; sys.modules['pydicom'] = None\n"
        "from radseg.cli import main\n"
        f"sys.exit(main(['dicom', 'info', {str(tmp_path)!r}]))\n"
    )
    out = _run(code)
    assert out.returncode == 3 and "radseg[dicom]" in out.stderr, (out.returncode, out.stderr)


def test_radseg_dicom_is_lazy():
    # `import radseg` does not load radseg.dicom; radseg.dicom itself imports pydicom only when a function needs it.
    out = _run("import sys, radseg; print('radseg.dicom' in sys.modules); v = radseg.dicom.Volume; "
               "print('radseg.dicom' in sys.modules, 'pydicom' in sys.modules, 'highdicom' in sys.modules)")
    assert out.stdout.split() == ["False", "True", "False", "False"], out.stderr
