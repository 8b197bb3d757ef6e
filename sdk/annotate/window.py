"""The annotation window (Tk): the picture, one key per decision.

    report = run_window(Session(work_queue, store))      # returns when the list is done, on q / Escape, or close

``y`` keeps, any other key discards, ``q`` / Escape or closing the window quits (see `radseg.annotate.session`).
The seconds of a decision run from the moment the picture is drawn to the key press. The window's title starts
with "radseg annotate" (scripts find it with ``xdotool search --name 'radseg annotate'``).
"""
from __future__ import annotations

import base64
import time
from typing import Callable

from radseg.errors import MissingExtraError, RadsegError

from .render import png_bytes
from .session import KEEP, MIN_REACTION_S, QUIT, action_for_keysym

TITLE = "radseg annotate"


class NoDisplayError(RadsegError):
    """No window can be opened here (no X display, or it refused the connection)."""


class NoTkError(MissingExtraError):
    """Python was built without tkinter."""

    def __init__(self):
        RadsegError.__init__(self, "this Python has no tkinter (Tk) for the annotation window",
                             "install it (Debian/Ubuntu: apt-get install python3-tk), or use --terminal")
        self.extra, self.name = None, "tkinter"


def _tk():
    try:
        import tkinter
    except ModuleNotFoundError:
        raise NoTkError() from None
    return tkinter


def run_window(session, clock: Callable[[], float] = time.monotonic) -> dict:
    """Show `session`'s pairs one at a time in a Tk window until done or quit; returns `session.report()`.

    Raises:
        NoDisplayError: no display to open the window on ($DISPLAY unset or unreachable).
        NoTkError: tkinter is missing.
        Whatever recording a decision raises (e.g. OutputError on a full disk); the decisions before it are kept.
    """
    tk = _tk()
    try:
        root = tk.Tk(className="radseg")
    except tk.TclError as exc:
        raise NoDisplayError(f"cannot open the annotation window ({exc})",
                             "run it on a desktop (set $DISPLAY), or use --terminal") from None
    state = {"shown": None, "photo": None, "error": None}
    label = tk.Label(root, borderwidth=0, highlightthickness=0, background="black")
    label.pack()

    def fail(exc_type, exc, tb):  # an error inside a Tk callback: stop and re-raise it after mainloop
        state["error"] = exc
        root.quit()

    root.report_callback_exception = fail

    def show():
        if session.current is None:
            root.quit()
            return
        photo = tk.PhotoImage(master=root, data=base64.b64encode(png_bytes(session.picture())).decode("ascii"),
                              format="png")
        label.configure(image=photo)
        state["photo"] = photo  # Tk drops an image nobody in Python refers to
        root.title(f"{TITLE}: {session.prompt_text()}")
        root.update_idletasks()
        state["shown"] = clock()

    def on_key(event):
        action = action_for_keysym(event.keysym)
        if action is None or state["shown"] is None:
            return
        if action == QUIT:
            session.quit = True
            root.quit()
            return
        seconds = clock() - state["shown"]
        if seconds < MIN_REACTION_S:  # typed ahead, before the picture could be seen
            return
        state["shown"] = None
        session.decide(action == KEEP, seconds)
        show()

    def on_close():
        session.quit = True
        root.quit()

    root.title(TITLE)
    root.bind("<KeyPress>", on_key)
    root.protocol("WM_DELETE_WINDOW", on_close)
    root.resizable(False, False)
    try:
        show()
        root.focus_force()
        if session.current is not None:
            root.mainloop()
    finally:
        try:
            root.destroy()
        except tk.TclError:
            pass
    if state["error"] is not None:
        raise state["error"]
    return session.report()
