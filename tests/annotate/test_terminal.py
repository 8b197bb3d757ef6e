"""Terminal mode: one raw key per decision, the picture in a PNG file. Driven as a person would in a real
terminal (tmux: send-keys, capture-pane to wait for each prompt), and through a pipe (one line per decision)."""
from __future__ import annotations

import io
import re
import shlex
import subprocess
import time

import numpy as np
import pytest

from radseg.annotate import AnnotationStore, Session, build_queue, load_items, read_accepted
from radseg.annotate.terminal import run_terminal
from tests.annotate._fake import candidates as fake
from tests.annotate.conftest import decisions, ensure_tools, radseg_script, subprocess_env

PROMPT = re.compile(r"pair (\d+) of (\d+): (.+) on (.+?)(?: slice (\d+))?  y = keep, other key = discard, "
                    r"q = quit: $")
WAIT_S = 8.0
THINK_S = 0.35


class Tmux:
    """A private tmux server (its own socket) running one command in a 200 x 50 pane."""

    def __init__(self, socket, command, env):
        self.socket = str(socket)
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items() if k in ("PYTHONPATH", "OMP_NUM_THREADS",
                                                                                       "PATH", "HOME"))
        script = f"env -u DISPLAY -u RADSEG_DEBUG {exports} {command}; echo EXIT=$?; sleep 600"
        self.tmux("new-session", "-d", "-s", "ann", "-x", "200", "-y", "50", script)

    def tmux(self, *args) -> str:
        out = subprocess.run(["tmux", "-S", self.socket, *args], capture_output=True, text=True, timeout=WAIT_S)
        if out.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)} failed: {out.stderr.strip()}")
        return out.stdout

    def screen(self) -> list:
        return [line.rstrip("\n") for line in self.tmux("capture-pane", "-p", "-J", "-S", "-200").splitlines()]

    def wait_for(self, test, what: str):
        deadline = time.monotonic() + WAIT_S
        while True:
            lines = self.screen()
            found = test(lines)
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"waited {WAIT_S} s for {what}; the screen:\n" + "\n".join(lines))
            time.sleep(0.03)

    def prompt(self):
        """Wait until the last non-empty line is a prompt; -> (position, total, names, slice)."""
        def test(lines):
            lines = [line for line in lines if line.strip()]
            m = PROMPT.search(lines[-1].rstrip() + " ") if lines else None
            return m and (int(m.group(1)), int(m.group(2)), m.group(3), None if m.group(5) is None else int(m.group(5)))
        return self.wait_for(test, "a prompt")

    def exit_code(self) -> int:
        found = self.wait_for(lambda lines: [line for line in lines if line.startswith("EXIT=")], "the command to end")
        return int(found[0][5:])

    def close(self):
        subprocess.run(["tmux", "-S", self.socket, "kill-server"], capture_output=True, timeout=WAIT_S)


def _session(tmp_path, env, args):
    return Tmux(tmp_path / "tmux.sock", " ".join(shlex.quote(a) for a in [radseg_script(), "annotate", *args]), env)


def _decide(tm, key: str, shown: list, answer: str):
    """Look for THINK_S at the prompt, press `key`, wait for `answer` on that line."""
    shown.append(tm.prompt())
    count = sum(1 for line in tm.screen() if line.endswith(answer))
    time.sleep(THINK_S)
    tm.tmux("send-keys", "-t", "ann", key)
    tm.wait_for(lambda lines: sum(1 for line in lines if line.endswith(answer)) > count, f"{answer!r}")


def test_terminal_keys_in_tmux_then_resume(real_source, tmp_path):
    ensure_tools("tmux", packages=("tmux",))
    data = tmp_path / "ds"
    args = [*real_source, "--out", str(data), "--seed", "3", "--terminal"]
    env = subprocess_env()
    shown = []
    tm = _session(tmp_path, env, args)
    try:
        first = tm.prompt()
        assert first[0] == 1
        assert any(line.startswith(f"picture: {data / 'current.png'}") for line in tm.screen())
        _decide(tm, "y", shown, "kept")
        _decide(tm, "n", shown, "discarded")
        _decide(tm, "y", shown, "kept")
        shown.append(tm.prompt())
        time.sleep(THINK_S)
        tm.tmux("send-keys", "-t", "ann", "q")
        assert tm.exit_code() == 0, "\n".join(tm.screen())
        screen = "\n".join(tm.screen())
    finally:
        tm.close()
    total = first[1]
    assert f"decided 3 (2 kept) this session, {total - 3} left of {total}" in screen, screen
    lines = decisions(data)
    assert [r["accepted"] for r in lines] == [True, False, True]
    for (_, _, names, k), record in zip(shown, lines):
        assert ",".join(record["names"]) == names and record["slice"] == k
        assert THINK_S * 0.8 <= record["seconds"] < THINK_S + 5.0, record
    assert len(list(read_accepted(data))) == 2
    assert (data / "current.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    tm = _session(tmp_path, env, args)
    try:
        again = tm.prompt()
        assert again[:2] == (4, total) and again == shown[3], "the session resumes at the pair it stopped at"
        _decide(tm, "Left", shown, "discarded")  # an arrow key's escape sequence discards, it does not quit
        tm.prompt()
        time.sleep(THINK_S)
        tm.tmux("send-keys", "-t", "ann", "Escape")
        assert tm.exit_code() == 0
        screen = "\n".join(tm.screen())
    finally:
        tm.close()
    assert f"decided 1 (0 kept) this session, {total - 4} left of {total}" in screen, screen
    lines = decisions(data)
    assert len(lines) == 4 and len({(r["item"], r["candidate"]) for r in lines}) == 4


def test_piped_input_reads_one_line_per_decision(tmp_path):
    vol = np.random.default_rng(0).normal(size=(2, 16, 16)).astype(np.float32)
    with AnnotationStore(tmp_path / "ds") as store:
        session = Session(build_queue(load_items([vol]), store, fake, seed=1), store)
        out = io.StringIO()
        ticks = iter(range(100))
        report = run_terminal(session, tmp_path / "pic.png", stdin=io.StringIO("y\nno\n\nyes\nq\n"), stdout=out,
                              clock=lambda: 2.5 * next(ticks))
    assert report["decided"] == 4 and report["accepted"] == 2 and report["left"] == 2
    assert report["seconds_mean"] == 2.5
    assert [r["accepted"] for r in decisions(tmp_path / "ds")] == [True, False, False, True]
    text = out.getvalue()
    assert text.count("kept") == 2 and text.count("discarded") == 2 and text.rstrip().endswith("quit")
    assert (tmp_path / "pic.png").is_file()


def test_end_of_input_quits_and_resumes(tmp_path):
    vol = np.random.default_rng(0).normal(size=(1, 16, 16)).astype(np.float32)
    with AnnotationStore(tmp_path) as store:
        session = Session(build_queue(load_items([vol]), store, fake), store)
        assert run_terminal(session, tmp_path / "p.png", stdin=io.StringIO("n\n"), stdout=io.StringIO())["left"] == 2
    with AnnotationStore(tmp_path) as store:
        work = build_queue(load_items([vol]), store, fake)
        assert len(work) == 2 and work.decided_before == 1


@pytest.mark.parametrize("text, action", [("y", "keep"), ("Y", "keep"), ("q", "quit"), ("\x1b", "quit"),
                                          ("\x04", "quit"), ("", "quit"), ("n", "discard"), ("\n", "discard"),
                                          ("\x1b[D", "discard"), (" ", "discard")])
def test_terminal_key_meanings(text, action):
    from radseg.annotate.session import action_for_text

    assert action_for_text(text) == action
