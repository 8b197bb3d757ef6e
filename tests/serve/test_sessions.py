"""`radseg.serve.sessions.SessionStore` with an injected fake clock: unguessable ids, lookup, SessionGone, expiry
after `ttl_s` without use (refreshed by each use, never while a request holds the session), the least recently
used dropped over `max_sessions`, close, `use` serialising one session's requests, and the constructor's checks.
"""
from __future__ import annotations

import re
import threading

import pytest

from radseg.serve.sessions import SessionGone, SessionStore

TIMEOUT = 5.0


@pytest.fixture
def t():
    return [1000.0]


def make(t, ttl_s=60.0, max_sessions=4):
    return SessionStore(ttl_s=ttl_s, max_sessions=max_sessions, clock=lambda: t[0])


def test_create_returns_distinct_urlsafe_ids(t):
    store = make(t, max_sessions=100)
    ids = [store.create(f"img{i}", object()) for i in range(50)]
    assert len(set(ids)) == len(ids)
    for sid in ids:
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", sid), sid


def test_get_returns_entry_with_image_and_editing(t):
    store = make(t)
    editing = object()
    sid = store.create("1.2.840.1", editing)
    entry = store.get(sid)
    assert entry.image_id == "1.2.840.1"
    assert entry.editing is editing


def test_unknown_id_raises_session_gone(t):
    store = make(t)
    with pytest.raises(SessionGone) as info:
        store.get("no-such-session")
    assert "open the image again" in str(info.value)
    assert isinstance(info.value, KeyError)


def test_session_expires_after_ttl_without_use(t):
    store = make(t, ttl_s=60)
    sid = store.create("img", object())
    t[0] += 59
    assert len(store) == 1
    t[0] += 2  # 61 s since the last use
    assert len(store) == 0
    with pytest.raises(SessionGone):
        store.get(sid)


def test_get_refreshes_session(t):
    store = make(t, ttl_s=60)
    sid = store.create("img", object())
    for _ in range(5):
        t[0] += 50
        store.get(sid)  # each get counts as a use
    t[0] += 50
    assert store.get(sid).image_id == "img"  # 300 s after create, never 60 s idle


def test_use_refreshes_session_when_it_ends(t):
    store = make(t, ttl_s=60)
    sid = store.create("img", object())
    with store.use(sid):
        t[0] += 50  # a long request
    t[0] += 50  # 100 s after the request began, 50 s after it ended
    assert store.get(sid).image_id == "img"


def test_session_in_use_does_not_expire(t):
    store = make(t, ttl_s=60)
    sid = store.create("img", object())
    with store.use(sid) as entry:
        t[0] += 1000
        assert len(store) == 1
        assert store.get(sid) is entry
    t[0] += 61
    assert len(store) == 0


def test_over_max_sessions_drops_least_recently_used(t):
    store = make(t, max_sessions=3)
    a, b, c = (store.create(name, object()) for name in "abc")
    t[0] += 1
    store.get(a)  # a is now the most recently used; b the least
    d = store.create("d", object())
    assert len(store) == 3
    with pytest.raises(SessionGone):
        store.get(b)
    assert [store.get(s).image_id for s in (a, c, d)] == ["a", "c", "d"]


def test_close_returns_true_then_false(t):
    store = make(t)
    sid = store.create("img", object())
    assert store.close(sid) is True
    assert store.close(sid) is False
    with pytest.raises(SessionGone):
        store.get(sid)


def test_use_holds_the_entry_lock(t):
    store = make(t)
    sid = store.create("img", object())
    first_inside, first_may_leave, second_inside = threading.Event(), threading.Event(), threading.Event()
    order = []

    def first():
        with store.use(sid) as entry:
            assert entry.lock.locked()
            order.append("first in")
            first_inside.set()
            first_may_leave.wait(TIMEOUT)
            order.append("first out")

    def second():
        first_inside.wait(TIMEOUT)
        with store.use(sid):
            order.append("second in")
            second_inside.set()

    threads = [threading.Thread(target=first, daemon=True), threading.Thread(target=second, daemon=True)]
    for th in threads:
        th.start()
    assert first_inside.wait(TIMEOUT)
    assert not second_inside.wait(0.1)  # blocked while the first is inside
    first_may_leave.set()
    assert second_inside.wait(TIMEOUT)
    for th in threads:
        th.join(TIMEOUT)
        assert not th.is_alive()
    assert order == ["first in", "first out", "second in"]
    assert not store.get(sid).lock.locked()


@pytest.mark.parametrize("ttl_s, max_sessions", [(0, 4), (-1, 4), (60, 0), (60, -3)])
def test_constructor_refuses_bad_limits(ttl_s, max_sessions):
    with pytest.raises(ValueError):
        SessionStore(ttl_s=ttl_s, max_sessions=max_sessions)
