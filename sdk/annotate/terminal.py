"""The annotation tool in a terminal: the picture goes to a PNG file (open it in a viewer that reloads on change),
the decision is one key press.

    report = run_terminal(Session(work_queue, store), "DATASET/current.png")

On a terminal the key is read raw (no Enter): ``y`` keeps, any other key discards, ``q``, Escape or Ctrl-D quits
(see `radseg.annotate.session`); keys typed before the prompt appeared are dropped. When standard input is not a
terminal (a pipe, a script) one line is read per decision and its first character is the key; an empty line
discards and the end of input quits. Seconds run from the prompt (the PNG already written) to the key.
"""
from __future__ import annotations

import os
import select
import sys
import time
from typing import Callable, Optional, TextIO

from .render import write_picture
from .session import DISCARD, KEEP, MIN_REACTION_S, QUIT, action_for_text

PROMPT = "y = keep, other key = discard, q = quit: "


def drop_typeahead(stream: Optional[TextIO] = None) -> None:
    """Discard keys already typed on the terminal `stream` (stdin), so that a key answers the prompt that follows;
    nothing happens off a terminal."""
    stream = sys.stdin if stream is None else stream
    if _is_tty(stream):
        import termios

        termios.tcflush(stream.fileno(), termios.TCIFLUSH)


def read_key(stream: Optional[TextIO] = None) -> str:
    """One key from `stream` (stdin) as text: raw single key on a terminal (an escape sequence, e.g. an arrow key,
    comes back whole, a lone Escape as "\\x1b"); otherwise the first character of the next line ("\\n" for an
    empty line, "" at the end of input)."""
    stream = sys.stdin if stream is None else stream
    try:
        fd = stream.fileno()
        tty = os.isatty(fd)
    except (AttributeError, ValueError, OSError):
        fd, tty = None, False
    if not tty:
        line = stream.readline()
        if line == "":
            return ""
        line = line.strip()
        return line[0] if line else "\n"
    import termios
    import tty as tty_mod

    saved = termios.tcgetattr(fd)
    try:
        tty_mod.setcbreak(fd)  # one key, no echo; Ctrl-C still interrupts
        data = os.read(fd, 1)
        if data == b"\x1b":  # a lone Escape, or the start of a key's escape sequence
            while select.select([fd], [], [], 0.05)[0]:
                more = os.read(fd, 32)
                if not more:
                    break
                data += more
        return data.decode("utf-8", "replace")
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def run_terminal(session, picture_path, stdin: Optional[TextIO] = None, stdout: Optional[TextIO] = None,
                 clock: Callable[[], float] = time.monotonic) -> dict:
    """Ask for a decision on each of `session`'s pairs until done or quit; returns `session.report()`.

    The picture of the current pair is written (atomically) to `picture_path` before each prompt.
    """
    stdin = sys.stdin if stdin is None else stdin
    stdout = sys.stdout if stdout is None else stdout
    if session.current is not None:
        print(f"picture: {os.path.abspath(picture_path)} (open it in an image viewer that reloads on change)",
              file=stdout, flush=True)
    while session.current is not None:
        write_picture(picture_path, session.picture())
        drop_typeahead(stdin)
        print(f"{session.prompt_text()}  {PROMPT}", end="", file=stdout, flush=True)
        shown = clock()
        while True:
            action = action_for_text(read_key(stdin))
            seconds = clock() - shown
            if action == QUIT or seconds >= MIN_REACTION_S or not _is_tty(stdin):
                break
        if action == QUIT:
            session.quit = True
            print("quit", file=stdout, flush=True)
            break
        session.decide(action == KEEP, seconds)
        print("kept" if action == KEEP else "discarded" if action == DISCARD else action, file=stdout, flush=True)
    return session.report()


def _is_tty(stream) -> bool:
    try:
        return os.isatty(stream.fileno())
    except (AttributeError, ValueError, OSError):
        return False
