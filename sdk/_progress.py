"""Progress on long work: a bar on a terminal, plain lines when the output is piped or logged.

A redrawn bar (tqdm) turns into hundreds of carriage-return fragments in a CI log or a `| tee` file, so off a
terminal the same calls print a whole line now and then (`PlainProgress`): "train click: 120/600 s (20%)".

    bar = progress(total=len(cases), unit="case", desc="eval click")
    for case in cases:
        ...
        bar.update(1)
    bar.close()
"""
from __future__ import annotations

import sys
import time
from typing import Optional, TextIO


def progress(total: int, unit: str = "it", desc: str = "", disable: bool = False, initial: int = 0,
             stream: Optional[TextIO] = None, line_every_s: float = 30.0):
    """A progress object with ``update(n)``, ``n``, ``total`` and ``close()``, writing to `stream` (stderr).

    On a terminal: a tqdm bar when tqdm is installed, else a line redrawn in place. Off a terminal: a plain line at
    most every `line_every_s` seconds and at the end. `disable` prints nothing at all.
    """
    stream = sys.stderr if stream is None else stream
    tty = bool(getattr(stream, "isatty", lambda: False)())
    if tty and not disable:
        try:
            from tqdm import tqdm

            return tqdm(total=total, initial=initial, unit=unit, desc=desc or None, file=stream, dynamic_ncols=True)
        except ModuleNotFoundError:
            pass
    return PlainProgress(total, unit, desc, disable=disable, initial=initial, stream=stream,
                         redraw=tty, line_every_s=line_every_s)


class PlainProgress:
    """Counts work and reports it as whole lines (or, on a terminal without tqdm, one line redrawn)."""

    def __init__(self, total: int, unit: str = "it", desc: str = "", disable: bool = False, initial: int = 0,
                 stream: Optional[TextIO] = None, redraw: bool = False, line_every_s: float = 30.0):
        self.total, self.n, self.unit, self.desc = int(total), int(initial), unit, desc
        self.disable, self.redraw, self.every = disable, redraw, float(line_every_s)
        self.stream = sys.stderr if stream is None else stream
        self._start = self._last = time.monotonic()
        self._closed = False
        self.postfix = ""

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        """Text shown after the count ("3 failed"), as tqdm's method of the same name."""
        self.postfix = str(s)
        if refresh and self.redraw:
            self._write(final=False)

    def update(self, k: int = 1) -> None:
        self.n += int(k)
        now = time.monotonic()
        if self.redraw or now - self._last >= self.every:
            self._last = now
            self._write(final=False)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._write(final=True)

    def line(self) -> str:
        pct = f" ({100.0 * self.n / self.total:.0f}%)" if self.total > 0 else ""
        elapsed = time.monotonic() - self._start
        head = f"{self.desc}: " if self.desc else ""
        tail = f", {self.postfix}" if self.postfix else ""
        return f"{head}{self.n}/{self.total} {self.unit}{pct}, {elapsed:.0f} s{tail}"

    def _write(self, final: bool) -> None:
        if self.disable:
            return
        if self.redraw:
            print(f"\r{self.line()}", end="\n" if final else "", file=self.stream, flush=True)
        else:
            print(self.line(), file=self.stream, flush=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
