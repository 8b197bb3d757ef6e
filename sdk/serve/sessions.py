"""The viewer's editing sessions in `radseg serve`: created per opened image, found by an unguessable id, expired
after `ttl_s` seconds without a request, and at most `max_sessions` at once (the least recently used goes first).

    store = SessionStore(ttl_s=1800, max_sessions=32)
    sid = store.create("1.2.840...", editing)          # editing: a `radseg.serve.editing.Editing`
    with store.use(sid) as entry:                       # one request of that session at a time
        entry.editing.click(40, 210, 150)

Each session keeps its volume's masks (bool [slices, rows, cols], one byte a voxel for the structure and one for
the body outline), so the bound on sessions is the bound on their memory beside the image cache.
"""
from __future__ import annotations

import collections
import contextlib
import dataclasses
import secrets
import threading
import time
from typing import Optional


class SessionGone(KeyError):
    """No session has that id (never made, expired or closed)."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclasses.dataclass
class Entry:
    image_id: str
    editing: object
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    last_used: float = dataclasses.field(default_factory=time.monotonic)
    saved: Optional[str] = None  # path of the last SEG saved to a file


class SessionStore:
    def __init__(self, ttl_s: float = 1800.0, max_sessions: int = 32, clock=time.monotonic):
        if ttl_s <= 0 or max_sessions < 1:
            raise ValueError(f"ttl_s must be > 0 and max_sessions >= 1, got {ttl_s}, {max_sessions}")
        self.ttl_s, self.max_sessions, self._clock = float(ttl_s), int(max_sessions), clock
        self._entries: "collections.OrderedDict[str, Entry]" = collections.OrderedDict()
        self._lock = threading.Lock()

    def create(self, image_id: str, editing) -> str:
        """Keep `editing` under a new id (22 URL-safe characters); returns the id."""
        sid = secrets.token_urlsafe(16)
        with self._lock:
            self._expire()
            while len(self._entries) >= self.max_sessions:
                self._entries.popitem(last=False)
            self._entries[sid] = Entry(image_id, editing, last_used=self._clock())
        return sid

    def get(self, sid: str) -> Entry:
        """The live session `sid` (SessionGone otherwise); counts as a use."""
        with self._lock:
            self._expire()
            entry = self._entries.get(sid)
            if entry is None:
                raise SessionGone(f"no session {sid!r}: it expired after {self.ttl_s / 60:g} minutes without a "
                                  "request, or was closed; open the image again")
            entry.last_used = self._clock()
            self._entries.move_to_end(sid)
            return entry

    @contextlib.contextmanager
    def use(self, sid: str):
        """`get(sid)` and hold its lock: requests of one session run one after another."""
        entry = self.get(sid)
        with entry.lock:
            yield entry
        entry.last_used = self._clock()

    def close(self, sid: str) -> bool:
        with self._lock:
            return self._entries.pop(sid, None) is not None

    def __len__(self) -> int:
        with self._lock:
            self._expire()
            return len(self._entries)

    def _expire(self) -> None:
        now = self._clock()
        for sid in [s for s, e in self._entries.items() if now - e.last_used > self.ttl_s and not e.lock.locked()]:
            del self._entries[sid]
