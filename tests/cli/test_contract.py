"""The error contract of every `radseg` subcommand, through the real console script in a subprocess.

A user's mistake prints exactly one line on stderr, ``radseg <command>: error: <what>; <how to fix>``, no
traceback, and the documented exit code (1 failure, 2 usage, 3 missing extra, 130 interrupted); ``--debug`` and
RADSEG_DEBUG=1 bring the traceback back.
"""
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

BUNDLED = pathlib.Path(__file__).resolve().parents[2] / "sdk" / "models" / "click"


def radseg_script() -> str:
    script = pathlib.Path(sys.executable).with_name("radseg")
    found = str(script) if script.is_file() else shutil.which("radseg")
    if not found:
        pytest.fail("the radseg console script is not installed beside this Python; install with pip install -e .")
    return found


def run(args, env=None, cwd=None, timeout=120):
    full_env = {**os.environ, **(env or {})}
    full_env.pop("RADSEG_DEBUG", None) if "RADSEG_DEBUG" not in (env or {}) else None
    return subprocess.run([radseg_script()] + [str(a) for a in args], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=timeout, stdin=subprocess.DEVNULL)


def assert_one_line_error(proc, code, command, *fragments):
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"radseg {command}: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("contract")
    np.save(d / "air.npy", np.full((64, 64), -1000, np.int16))
    (d / "notes.dcm").write_text("this is not a DICOM file\n")
    (d / "a_file").write_text("x")
    corrupt = d / "corrupt_model"
    corrupt.mkdir()
    shutil.copy(BUNDLED / "manifest.json", corrupt / "manifest.json")
    (corrupt / "model.onnx").write_bytes(b"\x08\x01garbage" * 64)
    no_manifest = d / "no_manifest"
    no_manifest.mkdir()
    shutil.copy(BUNDLED / "model.onnx", no_manifest / "model.onnx")
    blocker = d / "block_pydicom"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\n"
        "class _NoPydicom:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'pydicom' or name.startswith('pydicom.'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, _NoPydicom())\n")
    return d


def segment(files, *extra, image="air.npy", out="out", modality="CT"):
    return ["segment", "--image", files / image, "--spacing", "1,1", "--modality", modality,
            "--out", files / out, *extra]


CASES = {
    # error class: (arguments, exit code, command, fragments of the message)
    "missing file": (lambda f: segment(f, "--click", "5,5", image="absent.dcm"), 1, "segment",
                     ["--image", "absent.dcm: no such file"]),
    "wrong file type": (lambda f: segment(f, "--click", "5,5", image="notes.dcm"), 1, "segment",
                        ["not a DICOM, .npy or NIfTI file", "give a .dcm"]),
    "unknown model": (lambda f: segment(f, "--click", "5,5", "--model", "no-such-model"), 1, "segment",
                      ["--model no-such-model", "bundled"]),
    "corrupt model": (lambda f: segment(f, "--click", "5,5", "--model", f / "corrupt_model"), 1, "segment",
                      ["--model", "not a loadable ONNX model", "re-export"]),
    "model without manifest": (lambda f: segment(f, "--click", "5,5", "--model", f / "no_manifest"), 1, "segment",
                               ["--model", "manifest.json"]),
    "unknown backend": (lambda f: segment(f, "--click", "5,5", "--backend", "bogus"), 2, "segment",
                        ["--backend bogus: unknown backend", "onnxruntime-cpu", "leave out --backend"]),
    "unwritable output (a file)": (lambda f: segment(f, "--click", "5,5", out="a_file"), 1,
                                   "segment", ["--out", "is a file, not a folder"]),
    "unwritable output (under a file)": (lambda f: segment(f, "--click", "5,5", out="a_file/x"),
                                         1, "segment", ["--out", "cannot create the folder"]),
    "bad click numbers": (lambda f: segment(f, "--click", "a,b"), 2, "segment", ["--click 'a,b'", "numbers"]),
    "click outside the image": (lambda f: segment(f, "--click", "-5,100"), 2, "segment", ["outside the image"]),
    "bad thread count": (lambda f: segment(f, "--click", "5,5", "--threads", "0"), 2, "segment",
                         ["--threads", "at least 1"]),
    "bad spacing": (lambda f: segment(f, "--click", "5,5", "--spacing", "0,1"), 2, "segment",
                    ["--spacing '0,1'", "positive"]),
    "no click": (lambda f: segment(f), 2, "segment", ["no click given", "--click ROW,COL"]),
    "unknown flag": (lambda f: segment(f, "--clik", "5,5"), 2, "segment", ["unrecognized arguments: --clik",
                                                                            "radseg segment --help"]),
    "bad modality": (lambda f: segment(f, "--click", "5,5", modality="PET"), 2,
                     "segment", ["--modality", "PET"]),
    "eval: bad number": (lambda f: ["eval", "click", "--out", f / "ev", "--max-slices", "-3"], 2, "eval click",
                         ["--max-slices", "at least 1"]),
    "eval: no task": (lambda f: ["eval"], 2, "eval", ["choose a model task: click"]),
    "dicom: missing path": (lambda f: ["dicom", "info", f / "nowhere"], 1, "dicom info", ["no such path"]),
    "dicom: not DICOM": (lambda f: ["dicom", "info", f / "notes.dcm"], 1, "dicom info", ["notes.dcm"]),
    "dicom: output name": (lambda f: ["dicom", "to-nifti", f / "notes.dcm", f / "volume.txt"], 2, "dicom to-nifti",
                           ["volume.txt: unsupported file name", ".nii or .nii.gz"]),
    "dicom: no action": (lambda f: ["dicom"], 2, "dicom", ["choose an action: info, to-nifti"]),
    "export: missing checkpoint": (lambda f: ["export", f / "nope.pt", "--out", f / "exp"], 1, "export",
                                   ["nope.pt: no such path"]),
    "export: bad override": (lambda f: ["export", BUNDLED, "--out", f / "exp", "--crop", "size=big"], 2, "export",
                             ["--crop wants KEY=NUMBER"]),
    "train: bad size": (lambda f: ["train", "click", "--size", "50", "--out", f / "tr"], 2, "train",
                        ["--size 50", "multiple of 16"]),
    "train: unknown data set": (lambda f: ["train", "click", "--datasets", "btcv,mnist", "--data", f,
                                            "--out", f / "tr"], 2, "train", ["'mnist'", "choose from btcv"]),
    "train: missing data set": (lambda f: ["train", "click", "--datasets", "btcv", "--data", f, "--out", f / "tr"],
                                1, "train", ["has no btcv_sabs_ct/", "--datasets"]),
    "train: precision is click's": (lambda f: ["train", "propagation", "--precision", "bf16", "--out", f / "tr"], 2,
                                    "train", ["--precision is for the click task"]),
    "bench: bad repeat": (lambda f: ["bench", "--repeat", "zero"], 2, "bench", ["--repeat", "whole number"]),
    "serve: no images": (lambda f: ["serve"], 2, "serve", ["--data", "--dicomweb", "required"]),
    "serve: two sources": (lambda f: ["serve", "--data", f, "--dicomweb", "http://127.0.0.1:1/"], 2, "serve",
                           ["not allowed with"]),
    "serve: not a URL": (lambda f: ["serve", "--dicomweb", "ftp://pacs/"], 2, "serve", ["not an http(s) URL"]),
    "serve: data is a file": (lambda f: ["serve", "--data", f / "a_file"], 1, "serve", ["not a folder"]),
    "serve: bad port": (lambda f: ["serve", "--data", f, "--port", "70000"], 2, "serve", ["65535"]),
    "serve: open to others": (lambda f: ["serve", "--data", f, "--host", "0.0.0.0"], 2, "serve",
                              ["--token", "--insecure"]),
    "serve: PACS down": (lambda f: ["serve", "--dicomweb", "http://127.0.0.1:9/dicom-web"], 1, "serve",
                         ["does not answer", "PACS is running"]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_one_line_error_and_exit_code(files, name):
    make_args, code, command, fragments = CASES[name]
    proc = run(make_args(files))
    assert_one_line_error(proc, code, command, *fragments)


def test_unavailable_backend_is_a_failure_that_says_why(files):
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("CUDA is available here, so the CUDA backend is not refused")
    proc = run(segment(files, "--click", "5,5", "--backend", "onnxruntime-cuda"))
    assert_one_line_error(proc, 1, "segment", "--backend onnxruntime-cuda cannot run here",
                          "CUDAExecutionProvider", "leave out --backend")


def test_missing_extra_exits_3_and_names_the_extra(files):
    pytest.importorskip("pydicom")
    env = {"PYTHONPATH": str(files / "block_pydicom")}
    proc = run(segment(files, "--click", "5,5", image="notes.dcm"), env=env)
    assert_one_line_error(proc, 3, "segment", "'pydicom' is not installed", "pip install 'radseg[dicom]'")
    proc = run(["dicom", "info", files], env=env)
    assert_one_line_error(proc, 3, "dicom info", "pydicom", "radseg[dicom]")


def test_debug_flag_and_environment_bring_the_traceback(files):
    args = segment(files, "--click", "5,5", "--model", files / "corrupt_model")
    for extra_args, env in ((["--debug"], None), ([], {"RADSEG_DEBUG": "1"})):
        proc = run(args + extra_args, env=env)
        assert proc.returncode == 1 and "Traceback" in proc.stderr, proc.stderr
        assert "InputError" in proc.stderr


def test_values_that_begin_with_a_minus_are_values(files):
    """`--click -5,100` reaches the click parser (and is refused as outside the image), not argparse's
    "expected one argument"; a negative click inside the image works."""
    proc = run(segment(files, "--click", "30,30", "--click", "-5,10,-"))
    assert "expected one argument" not in proc.stderr
    assert_one_line_error(proc, 2, "segment", "--click -5,10", "outside the image")
    proc = run(["segment", "--image", files / "air.npy", "--spacing", "1,1", "--modality", "CT",
                "--click", "30,30", "--out", files / "ok"])
    assert proc.returncode == 0, proc.stderr


def test_success_prints_no_error_and_warnings_are_one_line(files):
    proc = run(["segment", "--image", files / "air.npy", "--click", "30,30", "--out", files / "warned"])
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 2 and all(line.startswith("radseg segment: warning: ") for line in lines), lines
    assert "assuming 1 mm" in proc.stderr and "assuming CT" in proc.stderr


def test_help_lists_the_exit_codes_and_only_what_exists():
    proc = run(["--help"])
    assert proc.returncode == 0
    for text in ("exit codes", "130 interrupted", "--debug", "segment", "eval", "export", "dicom",
                 "propagation", "annotate", "body", "serve", "batch"):
        assert text in proc.stdout
    for absent in ("TensorRT", "Triton"):
        assert absent.lower() not in proc.stdout.lower()


def test_serve_on_a_port_in_use_fails_before_loading_anything(files):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = run(["serve", "--data", files, "--port", port])
    assert_one_line_error(proc, 1, "serve", f"--port {port}", "choose another --port")


def test_interrupt_exits_130_with_one_line(files):
    pytest.importorskip("scipy")
    proc = subprocess.Popen([radseg_script(), "bench", "--only", "edt3d-large", "--repeat", "50", "--synthetic"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
                            env={k: v for k, v in os.environ.items() if k != "RADSEG_DEBUG"})
    try:
        first = proc.stderr.readline()  # "[bench] ..." once the work has started
        assert first.startswith("[bench]"), first
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    error_lines = [line for line in err.splitlines() if ": error: " in line]
    assert error_lines == ["radseg bench: error: interrupted"], err


def test_python_dash_m_radseg_is_the_same_command():
    proc = subprocess.run([sys.executable, "-m", "radseg", "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("radseg "), proc.stderr
    proc = subprocess.run([sys.executable, "-m", "radseg", "segment", "--clik"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
