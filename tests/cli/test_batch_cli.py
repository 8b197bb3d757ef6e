"""`radseg batch`: its help, its usage errors (one line, exit 2), a missing source (exit 1), and a real run with
``--engine loop`` (no Ray) over a tiny archive of good and faulty series whose JSON report matches summary.csv.

Most cases call `radseg.cli.main` in this process (capsys); the run and one usage error also go through
``python -m radseg`` in a subprocess, for the real exit code and streams.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from radseg.cli import main

FLAGS = ("--source", "--address", "--workers", "--stow")


def cli(capsys, *args):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line_error(err: str, prog: str = "radseg batch") -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err, err
    assert len(lines) == 1, err
    assert lines[0].startswith(f"{prog}: error: "), lines[0]
    return lines[0]


def subprocess_radseg(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "radseg", *[str(a) for a in args]], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    pytest.importorskip("pydicom")
    from radseg.bench.archive import add_faults, build_archive

    root = tmp_path_factory.mktemp("cli_archive")
    expected = build_archive(root, shared=None)
    expected.update(add_faults(root))
    return root, expected


# ---------------------------------------------------------------------------------------------------- help
@pytest.mark.parametrize("args", [["batch", "--help"], ["batch", "body", "--help"]])
def test_help_exits_0_and_names_the_flags(capsys, args):
    # `radseg batch --help` shows the command line with every flag in its description; `batch body --help`
    # documents each flag.
    code, out, err = cli(capsys, *args)
    assert code == 0, err
    assert "body" in out
    for flag in FLAGS:
        assert flag in out, (flag, out)


# ------------------------------------------------------------------------------------------- usage errors
def test_batch_without_a_job_exits_2_with_one_line(capsys):
    code, out, err = cli(capsys, "batch")
    assert code == 2
    line = one_line_error(err)
    assert "body" in line
    assert out == ""


def test_stow_with_a_folder_source_exits_2(capsys, tmp_path):
    code, out, err = cli(capsys, "batch", "body", "--source", tmp_path, "--out", tmp_path / "out", "--stow",
                         "--engine", "loop")
    assert code == 2
    line = one_line_error(err, "radseg batch body")
    assert "--stow" in line and "DICOMweb" in line
    assert not (tmp_path / "out").exists()  # refused before any work


def test_stow_with_a_folder_source_in_a_subprocess(tmp_path):
    proc = subprocess_radseg("batch", "body", "--source", tmp_path, "--out", tmp_path / "out", "--stow")
    assert proc.returncode == 2, proc.stderr
    line = one_line_error(proc.stderr, "radseg batch body")
    assert "--stow" in line
    assert proc.stdout == ""


@pytest.mark.parametrize("extra", [["--workers", "2"], ["--address", "auto"]])
def test_ray_flags_with_engine_loop_exit_2(capsys, tmp_path, extra):
    code, out, err = cli(capsys, "batch", "body", "--engine", "loop", "--source", tmp_path, "--out",
                         tmp_path / "out", *extra)
    assert code == 2
    line = one_line_error(err, "radseg batch body")
    assert extra[0] in line and "--engine ray" in line


@pytest.mark.parametrize("extra", [["--workers", "0"], ["--engine", "spark"], ["--no-such-flag"]])
def test_malformed_arguments_exit_2(capsys, tmp_path, extra):
    code, out, err = cli(capsys, "batch", "body", "--source", tmp_path, "--out", tmp_path / "out", *extra)
    assert code == 2, err
    one_line_error(err, "radseg batch body")


def test_a_required_flag_missing_exits_2(capsys, tmp_path):
    code, out, err = cli(capsys, "batch", "body", "--out", tmp_path / "out")
    assert code == 2, err
    assert "--source" in one_line_error(err, "radseg batch body")


def test_a_missing_source_folder_exits_1(capsys, tmp_path):
    missing = tmp_path / "no_such_archive"
    code, out, err = cli(capsys, "batch", "body", "--engine", "loop", "--source", missing, "--out", tmp_path / "out")
    assert code == 1
    line = one_line_error(err, "radseg batch body")
    assert str(missing) in line and "not a folder" in line


def test_a_folder_without_dicom_files_exits_1(capsys, tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "notes.txt").write_text("no images\n")
    code, out, err = cli(capsys, "batch", "body", "--engine", "loop", "--source", tmp_path / "src", "--out",
                         tmp_path / "out")
    assert code == 1
    line = one_line_error(err, "radseg batch body")
    assert "no DICOM files" in line


# ------------------------------------------------------------------------------------------------ real run
def test_loop_run_json_matches_the_summary(archive, tmp_path):
    pytest.importorskip("onnxruntime")
    from radseg.batch import read_summary

    root, expected = archive
    out = tmp_path / "out"
    proc = subprocess_radseg("batch", "body", "--engine", "loop", "--source", root, "--out", out, "--json")
    assert proc.returncode == 1, proc.stderr  # some series failed
    assert "Traceback" not in proc.stderr
    report = json.loads(proc.stdout)  # stdout is the JSON report only
    summary = read_summary(out)
    n_faults = sum(v != "done" for v in expected.values())
    assert report["listed"] == len(summary) == len(expected)
    assert report["done"] == sum(r["status"] == "done" for r in summary) == len(expected) - n_faults
    assert report["failed"] == sum(r["status"] == "failed" for r in summary) == n_faults
    assert report["already_done"] == 0 and report["lost"] == 0 and report["engine"] == "loop"
    assert str(out / "summary.csv") in report["summary"]


def test_loop_rerun_in_process_reports_all_done_before(capsys, archive, tmp_path):
    pytest.importorskip("onnxruntime")
    from radseg.batch import read_summary

    root, expected = archive
    out = tmp_path / "out"
    code, first_out, err = cli(capsys, "batch", "body", "--engine", "loop", "--source", root, "--out", out, "--json")
    assert code == 1, err
    code, second_out, err = cli(capsys, "batch", "body", "--engine", "loop", "--source", root, "--out", out,
                                "--json")
    assert code == 1, err  # the failures are still failed in the summary
    first, second = json.loads(first_out), json.loads(second_out)
    assert second["listed"] == second["already_done"] == first["listed"] == len(read_summary(out))
    assert second["done"] == second["failed"] == 0
    # Without --json: a one-line report on stdout, one line per failure on stderr, no patient identifiers.
    code, text, err = cli(capsys, "batch", "body", "--engine", "loop", "--source", root, "--out", out)
    assert code == 1
    assert f"{len(expected)} series" in text and "summary.csv" in text
    from radseg.bench.archive import PATIENT_ID, PATIENT_NAME

    for word in (PATIENT_NAME, PATIENT_ID):
        assert word.lower() not in (text + err).lower()


def test_list_says_what_a_run_would_do_and_writes_nothing(capsys, archive, tmp_path):
    pytest.importorskip("onnxruntime")
    root, expected = archive
    out = tmp_path / "out"
    code, text, err = cli(capsys, "batch", "body", "--source", root, "--out", out, "--list", "--json")
    assert code == 0, err
    listed = json.loads(text)["series"]
    assert len(listed) == len(expected) and {r["status"] for r in listed} == {"todo"}
    assert not out.exists()
    code, _, err = cli(capsys, "batch", "body", "--engine", "loop", "--source", root, "--out", out)
    assert code == 1  # the faults
    code, text, err = cli(capsys, "batch", "body", "--source", root, "--out", out, "--list", "--json")
    statuses = sorted(r["status"] for r in json.loads(text)["series"])
    faults = sum(1 for v in expected.values() if v != "done")
    assert statuses == sorted(["done"] * (len(expected) - faults) + ["failed"] * faults)
    code, text, err = cli(capsys, "batch", "body", "--source", root, "--out", out, "--list", "--retry-failed")
    assert code == 0 and f"{len(expected)} series: {faults} to do, {len(expected) - faults} done, 0 failed" in text
