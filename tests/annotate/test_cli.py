"""`radseg annotate` through the console script: piped decisions, --limit, the end-of-session report, --summary,
and the error contract (one line, documented exit codes)."""
import json
import subprocess

import numpy as np
import pytest

from tests.annotate.conftest import decisions, radseg_script, subprocess_env

FAKE = ["--candidates", "tests.annotate._fake:candidates"]


def run(args, stdin_text=None, timeout=60):
    """`radseg annotate ARGS` with `stdin_text` piped in (no input at all when None)."""
    return subprocess.run([radseg_script(), "annotate", *[str(a) for a in args]], capture_output=True, text=True,
                          env=subprocess_env(), timeout=timeout, input=stdin_text,
                          stdin=None if stdin_text is not None else subprocess.DEVNULL)


def one_line_error(proc, code, *fragments):
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr and len(lines) == 1, proc.stderr
    assert lines[0].startswith("radseg annotate: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.fixture()
def volume(tmp_path):
    path = tmp_path / "vol.npy"
    np.save(path, np.random.default_rng(0).normal(size=(3, 24, 24)).astype(np.float32))
    return path


def test_piped_session_limit_report_and_summary(volume, tmp_path):
    data = tmp_path / "ds"
    proc = run([volume, "--out", data, "--terminal", "--limit", "2", *FAKE], "y\nn\n")
    assert proc.returncode == 0, proc.stderr
    assert "decided 2 (1 kept) this session, 7 left of 9" in proc.stdout, proc.stdout
    assert [r["accepted"] for r in decisions(data)] == [True, False]
    proc = run([volume, "--out", data, "--terminal", "--json", *FAKE], "y\nq\n")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert (report["decided"], report["accepted"], report["left"], report["total"]) == (1, 1, 6, 9)
    assert "pair 3 of 9" in proc.stdout
    text = run(["--summary", data])
    assert text.returncode == 0 and "3 decisions, 2 kept, 1 discarded" in text.stdout, text.stdout
    summary = json.loads(run(["--summary", data, "--json"]).stdout)
    assert summary["decisions"] == 3 and summary["accepted"] == 2 and summary["seconds_mean"] >= 0


def test_nothing_left(volume, tmp_path):
    data = tmp_path / "ds"
    assert run([volume, "--out", data, "--terminal", *FAKE], "n\n" * 9).returncode == 0
    proc = run([volume, "--out", data, "--terminal", *FAKE], "")
    assert proc.returncode == 0 and "nothing left to decide: all 9 pairs of 3 slices are decided" in proc.stdout


def test_default_generator_on_a_real_slice(real_source, tmp_path):
    proc = run([*real_source, "--out", tmp_path / "ds", "--terminal", "--limit", "1"], "y\n")
    assert proc.returncode == 0, proc.stderr
    (record,) = decisions(tmp_path / "ds")
    assert record["accepted"] and all(n.startswith(("M1(", "M2(", "M3(")) for n in record["names"])


@pytest.mark.parametrize("args, code, fragments", [
    ([], 2, ["no SOURCE given", "--summary DATASET"]),
    (["{volume}"], 2, ["--out DATASET is missing"]),
    (["{volume}", "--out", "{tmp}/ds", "--picture", "{tmp}/p.png"], 2, ["--picture is for --terminal"]),
    (["{volume}", "--out", "{tmp}/ds", "--seed", "-1"], 2, ["--seed"]),
    (["{volume}", "--out", "{tmp}/ds", "--limit", "0"], 2, ["--limit"]),
    (["{volume}", "--out", "{tmp}/ds", "--candidates", "nocolon"], 2, ["MODULE:FUNCTION"]),
    (["{volume}", "--out", "{tmp}/ds", "--candidates", "no_such_mod:f"], 1, ["no module named 'no_such_mod'"]),
    (["{volume}", "--out", "{tmp}/ds", "--candidates", "radseg.body:nope"], 1, ["has no function 'nope'"]),
    (["{tmp}/absent.nii.gz", "--out", "{tmp}/ds"], 1, ["absent.nii.gz: no such"]),
    (["{volume}", "--out", "{volume}"], 1, ["is a file, not a folder"]),
    (["--summary", "{tmp}/absent"], 1, ["--summary", "no such folder"]),
    (["{volume}", "--summary", "{tmp}"], 2, ["--summary prints"]),
    (["{tmp}/junk.npy", "--out", "{tmp}/ds", "--terminal"], 1, ["junk.npy: not a readable .npy"]),
])
def test_errors_are_one_line_with_the_documented_code(args, code, fragments, volume, tmp_path):
    (tmp_path / "junk.npy").write_bytes(b"junk")
    args = [a.format(volume=volume, tmp=tmp_path) for a in args]
    one_line_error(run(args), code, *fragments)


def test_help_lists_the_keys_and_files():
    proc = subprocess.run([radseg_script(), "annotate", "--help"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0
    for fragment in ("Press y to keep", "--terminal", "decisions.jsonl", "accepted/<id>.npz", "exit codes"):
        assert fragment in proc.stdout
    listing = subprocess.run([radseg_script(), "--help"], capture_output=True, text=True, timeout=30).stdout
    assert "annotate" in listing
