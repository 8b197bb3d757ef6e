"""One annotation session, shared by the window and the terminal front ends: the current pair, its picture, the
decision, the tally.

    session = Session(work_queue, store)
    while session.current is not None:
        rgb = session.picture()              # uint8 RGB [H, W, 3]
        ...                                  # show it, wait for a key, time it
        session.decide(accepted, seconds)    # appended to the store before the next picture
    print(session.report_line())

Keys (both front ends): ``y`` keeps, ``q`` / Escape quits (the session resumes where it stopped), any other key
discards; modifier keys alone (Shift, Control, ...) do nothing. A keep or discard key that arrives sooner than
`MIN_REACTION_S` after the picture was shown was typed ahead, before the rater could see it, and is ignored (the
terminal also drops keys typed before its prompt); quitting works at any time.
"""
from __future__ import annotations

import statistics
from typing import Optional

from .render import render, status_lines

KEEP, DISCARD, QUIT = "keep", "discard", "quit"
#: Faster than any rater: a key this soon after the picture was pressed before it appeared.
MIN_REACTION_S = 0.08

_MODIFIERS = {"Shift_L", "Shift_R", "Control_L", "Control_R", "Alt_L", "Alt_R", "Meta_L", "Meta_R", "Super_L",
              "Super_R", "Hyper_L", "Hyper_R", "Caps_Lock", "Num_Lock", "Shift_Lock", "ISO_Level3_Shift",
              "Mode_switch"}


def action_for_keysym(keysym: str) -> Optional[str]:
    """A Tk/X keysym -> KEEP, DISCARD, QUIT, or None for a modifier key alone."""
    if keysym in _MODIFIERS:
        return None
    if keysym in ("y", "Y"):
        return KEEP
    if keysym in ("q", "Q", "Escape"):
        return QUIT
    return DISCARD


def action_for_text(text: str) -> str:
    """A key as terminal input -> KEEP, DISCARD or QUIT: "y" keeps; "q", a lone Escape, Ctrl-D or end of input
    ("") quit; anything else (Enter, "n", an arrow key's escape sequence) discards."""
    if text == "" or text in ("q", "Q", "\x1b", "\x04"):
        return QUIT
    if text in ("y", "Y"):
        return KEEP
    return DISCARD


class Session:
    """Walks `queue` (a `radseg.annotate.queue.WorkQueue`) and records each decision in `store` (an
    `AnnotationStore`); `min_side` / `max_side` set the picture's display size (see `render.display_factor`)."""

    def __init__(self, queue, store, min_side: int = 512, max_side: int = 1024):
        self.queue, self.store = queue, store
        self.min_side, self.max_side = int(min_side), int(max_side)
        self.index = 0
        self.seconds: list = []
        self.accepted = 0
        self.quit = False

    @property
    def current(self):
        """The pair to decide now (`radseg.annotate.queue.Pair`), or None when this session's list is done."""
        return self.queue.pairs[self.index] if self.index < len(self.queue.pairs) else None

    @property
    def position(self) -> int:
        """1-based number of the current pair among all pairs of the sources (decided ones included)."""
        return self.queue.decided_before + self.index + 1

    @property
    def left(self) -> int:
        """Pairs of the sources still undecided (beyond this session's --limit too)."""
        return self.queue.total - self.queue.decided_before - self.index

    def picture(self):
        """uint8 RGB [H, W, 3] of the current pair: the slice, the red contour, the status lines."""
        pair = self.current
        if pair is None:
            raise IndexError("Session.picture: no pair left to show")
        mask = pair.mask
        return render(pair.item.image, mask, status_lines(self.position, self.queue.total, pair.names, mask),
                      min_side=self.min_side, max_side=self.max_side)

    def prompt_text(self) -> str:
        """One line describing the current pair, for a terminal or a window title."""
        pair = self.current
        where = pair.item.source + ("" if pair.item.slice is None else f" slice {pair.item.slice}")
        return f"pair {self.position} of {self.queue.total}: {pair.name} on {where}"

    def decide(self, accepted: bool, seconds: float) -> dict:
        """Record the rater's decision on the current pair (image and mask saved when kept) and move on."""
        pair = self.current
        if pair is None:
            raise IndexError("Session.decide: no pair left to decide")
        kept = bool(accepted)
        record = self.store.record(pair.item.key, pair.key, kept, seconds,
                                   image=pair.item.image if kept else None, mask=pair.mask if kept else None,
                                   meta=pair.meta())
        self.seconds.append(float(seconds))
        self.accepted += kept
        self.index += 1
        return record

    def report(self) -> dict:
        """This session's tally: decided, accepted, left (in the sources), seconds per decision (mean, median)."""
        s = self.seconds
        return {"decided": len(s), "accepted": self.accepted, "left": self.left, "total": self.queue.total,
                "seconds_mean": round(statistics.fmean(s), 3) if s else None,
                "seconds_median": round(statistics.median(s), 3) if s else None}

    def report_line(self) -> str:
        """"decided 3 (1 kept), 37 left of 40; 2.41 s per decision on average"."""
        r = self.report()
        pace = f"{r['seconds_mean']:.2f} s per decision on average" if r["decided"] else "no decision timed"
        return (f"decided {r['decided']} ({r['accepted']} kept) this session, {r['left']} left of {r['total']}; "
                f"{pace}")
