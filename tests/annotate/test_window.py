"""The annotation window driven as a person would: the real `radseg annotate` console script on real slices, in
a private Xvfb display, keys typed with xdotool (XTEST) into the focused window; then the dataset is read back.

Xvfb and xdotool are installed with apt-get when missing (root); the tests skip, saying why, only when that is
impossible.
"""
from __future__ import annotations

import os
import re
import subprocess
import time

import numpy as np
import pytest

from radseg.annotate import read_accepted
from tests.annotate.conftest import decisions, ensure_tools, radseg_script, subprocess_env

TITLE = re.compile(r"radseg annotate: pair (\d+) of (\d+): (.+) on (.+?)(?: slice (\d+))?$")
WAIT_S = 8.0
THINK_S = 0.35  # the "rater" looks at each picture this long before pressing a key


@pytest.fixture(scope="module")
def display():
    """A private Xvfb server; yields its DISPLAY string and stops it afterwards."""
    ensure_tools("Xvfb", "xdotool", packages=("xvfb", "xdotool"))
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1280x1024x24", "-nolisten",
                             "tcp"], pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    number = b""
    deadline = time.monotonic() + WAIT_S
    with os.fdopen(read_fd, "rb") as f:  # Xvfb writes the display number it chose once it is ready
        while not number.endswith(b"\n") and time.monotonic() < deadline:
            chunk = f.read(1)
            if not chunk:
                break
            number += chunk
    if not number.strip().isdigit():
        proc.kill()
        pytest.skip(f"Xvfb did not start (exit code {proc.poll()})")
    yield f":{int(number)}"
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _xdotool(display, *args, timeout=WAIT_S) -> str:
    out = subprocess.run(["xdotool", *args], env={**os.environ, "DISPLAY": display}, capture_output=True, text=True,
                         timeout=timeout)
    if out.returncode != 0:
        raise AssertionError(f"xdotool {' '.join(args)} failed: {out.stderr.strip()}")
    return out.stdout.strip()


class Annotator:
    """`radseg annotate` in a subprocess on `display`; reads the window title, types keys."""

    def __init__(self, display, args, log):
        self.display, self.log = display, log
        self.out = open(log, "w")
        self.proc = subprocess.Popen([radseg_script(), "annotate", *args], stdout=self.out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=subprocess_env(DISPLAY=display))
        try:
            found = _xdotool(display, "search", "--sync", "--onlyvisible", "--name", "^radseg annotate",
                             timeout=30)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(f"no annotation window appeared; output:\n{self.output()}") from None
        self.window = found.split()[0]
        _xdotool(display, "windowfocus", "--sync", self.window)
        self.shown = []  # (position, total, names, slice) of each pair shown, in order

    def title(self):
        return _xdotool(self.display, "getwindowname", self.window)

    def current(self):
        m = TITLE.match(self.title())
        assert m, self.title()
        return int(m.group(1)), int(m.group(2)), m.group(3), None if m.group(5) is None else int(m.group(5))

    def press(self, key: str, last: bool = False):
        """Look at the picture for THINK_S, press `key`, and (unless `last`) wait for the next picture."""
        before = self.title()
        self.shown.append(self.current())
        time.sleep(THINK_S)
        _xdotool(self.display, "key", key)
        if last:
            return
        deadline = time.monotonic() + WAIT_S
        while self.title() == before:
            assert time.monotonic() < deadline, f"the window did not move on after {key!r}"
            time.sleep(0.02)

    def press_modifier(self, key: str):
        before = self.title()
        time.sleep(THINK_S)
        _xdotool(self.display, "key", key)
        time.sleep(0.3)
        assert self.title() == before, f"{key} alone must not decide"

    def finish(self, key: str = "q") -> str:
        self.shown.append(self.current())
        time.sleep(THINK_S)
        _xdotool(self.display, "key", key)
        try:
            code = self.proc.wait(WAIT_S)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(f"radseg annotate did not quit on {key!r}; output:\n{self.output()}") from None
        assert code == 0, self.output()
        return self.output()

    def output(self) -> str:
        self.out.flush()
        return open(self.log).read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.out.close()


def test_keep_discard_keep_quit_then_resume(display, real_source, tmp_path):
    data = tmp_path / "ds"
    args = [*real_source, "--out", str(data), "--seed", "3"]
    first = Annotator(display, args, tmp_path / "run1.log")
    try:
        assert first.current()[0] == 1
        first.press("y")
        first.press("n")
        first.press_modifier("Shift_L")  # a modifier alone decides nothing
        first.press("y")
        out = first.finish("q")
    finally:
        first.stop()
    total = first.shown[0][1]
    assert [s[0] for s in first.shown] == [1, 2, 3, 4]
    assert f"decided 3 (2 kept) this session, {total - 3} left of {total}" in out, out
    assert re.search(r"\d+\.\d\d s per decision on average", out), out

    lines = decisions(data)
    assert [r["accepted"] for r in lines] == [True, False, True]
    # what the window showed is what was recorded: names and slice of each decided pair
    for (pos, _, names, k), record in zip(first.shown, lines):
        assert ",".join(record["names"]) == names and record["slice"] == k, (names, record)
    for record in lines:  # timed from display to key: about THINK_S plus xdotool's start
        assert THINK_S * 0.8 <= record["seconds"] < THINK_S + 5.0, record
    kept = list(read_accepted(data))
    assert len(kept) == 2 and sorted(p.name for p in (data / "accepted").iterdir()) == ["000000.npz", "000002.npz"]
    for image, mask, meta in kept:
        assert image.dtype == np.float32 and image.ndim == 2 and mask.shape == image.shape and mask.dtype == bool
        assert meta["accepted"] and meta["names"]

    second = Annotator(display, args, tmp_path / "run2.log")
    try:
        assert second.current()[:2] == (4, total), "the session must resume after the 3 decided pairs"
        assert second.current() == first.shown[3], "the same seed shows the pair the first session stopped at"
        second.press("n")
        out = second.finish("Escape")
    finally:
        second.stop()
    assert f"decided 1 (0 kept) this session, {total - 4} left of {total}" in out, out
    lines = decisions(data)
    assert len(lines) == 4 and lines[3]["accepted"] is False
    assert len({(r["item"], r["candidate"]) for r in lines}) == 4, "no pair may be decided twice"
    shown = [(names, k) for _, _, names, k in first.shown[:3] + second.shown[:1]]
    assert len(set(shown)) == 4, "no pair may be shown twice"


def test_window_without_display_says_use_terminal(real_source, tmp_path):
    env = subprocess_env()
    proc = subprocess.run([radseg_script(), "annotate", *real_source, "--out", str(tmp_path / "ds")], env=env,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("radseg annotate: error: cannot open the annotation "
                                                           "window"), proc.stderr
    assert "--terminal" in proc.stderr and "Traceback" not in proc.stderr
