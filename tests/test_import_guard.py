"""`import radseg` must need numpy and the native extension only (SPEC: layout rules)."""
import subprocess
import sys

HEAVY = ["onnxruntime", "tensorrt", "pydicom", "highdicom", "cv2", "torch", "scipy", "nibabel", "matplotlib", "onnx"]


def test_import_radseg_pulls_no_optional_dependency():
    code = (
        "import sys, radseg, radseg.geometry, radseg.metrics, radseg.cli; "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"import radseg pulled in optional packages: {out}"


def test_cli_help_lists_subcommands():
    out = subprocess.run([sys.executable, "-m", "radseg", "--help"], capture_output=True, text=True, check=True).stdout
    assert "bench" in out
