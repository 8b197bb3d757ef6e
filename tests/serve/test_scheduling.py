"""`radseg.serve.scheduling` with fake models and threads: Slots bounds how many holders run at once and tells each
whether it started alone; ThreadAwareModel sends predict/segment to the all-threads model when the caller's hold
started alone and to the one-thread model otherwise, and `start` runs the model class's own start on itself.
"""
from __future__ import annotations

import threading
import time

from radseg.serve.scheduling import Slots, ThreadAwareModel

TIMEOUT = 5.0


class FakeModel:
    def __init__(self, name, calls):
        self.name, self.calls = name, calls
        self.manifest = {"name": "fake"}
        self.task = "click"

    def start(self, x):
        return ("session-of", self, x)

    def predict(self, *args, **kwargs):
        self.calls.append((self.name, "predict", args, kwargs))
        return self.name

    def segment(self, *args, **kwargs):
        self.calls.append((self.name, "segment", args, kwargs))
        return self.name

    @property
    def modalities(self):
        return ("CT", "MR")


def pair():
    calls = []
    return FakeModel("fast", calls), FakeModel("shared", calls), calls


def join_all(threads):
    for th in threads:
        th.join(TIMEOUT)
        assert not th.is_alive()


def run_holders(slots, k, body):
    """Start k threads that each hold a slot and run body(i, alone); returns the threads, started."""
    threads = []
    for i in range(k):
        def work(i=i):
            with slots.hold() as alone:
                body(i, alone)
        threads.append(threading.Thread(target=work, daemon=True))
    for th in threads:
        th.start()
    return threads


def test_slots_run_at_most_n_at_once():
    slots = Slots(2)
    lock, release = threading.Lock(), threading.Event()
    state = {"now": 0, "peak": 0, "done": 0}
    two_inside = threading.Event()

    def body(i, alone):
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
            if state["now"] == 2:
                two_inside.set()
        release.wait(TIMEOUT)
        with lock:
            state["now"] -= 1
            state["done"] += 1

    threads = run_holders(slots, 5, body)
    assert two_inside.wait(TIMEOUT)
    time.sleep(0.1)  # give the other three a chance to (wrongly) get in
    with lock:
        assert state["now"] == 2
    release.set()
    join_all(threads)
    assert state["peak"] == 2
    assert state["done"] == 5


def test_slots_zero_behaves_as_one():
    slots = Slots(0)
    assert slots.n == 1
    first_inside, release, second_inside = threading.Event(), threading.Event(), threading.Event()

    def first():
        with slots.hold() as alone:
            assert alone
            first_inside.set()
            release.wait(TIMEOUT)

    def second():
        first_inside.wait(TIMEOUT)
        with slots.hold():
            second_inside.set()

    threads = [threading.Thread(target=f, daemon=True) for f in (first, second)]
    for th in threads:
        th.start()
    assert first_inside.wait(TIMEOUT)
    assert not second_inside.wait(0.1)  # one slot: the second waits
    release.set()
    assert second_inside.wait(TIMEOUT)
    join_all(threads)


def test_hold_yields_true_alone_and_false_beside_another():
    slots = Slots(2)
    first_inside, release = threading.Event(), threading.Event()
    seen = {}

    def first():
        with slots.hold() as alone:
            seen["first"], seen["first alone()"] = alone, slots.alone()
            first_inside.set()
            release.wait(TIMEOUT)

    def second():
        first_inside.wait(TIMEOUT)
        with slots.hold() as alone:
            seen["second"], seen["second alone()"] = alone, slots.alone()
        release.set()

    threads = [threading.Thread(target=f, daemon=True) for f in (first, second)]
    for th in threads:
        th.start()
    join_all(threads)
    assert seen == {"first": True, "first alone()": True, "second": False, "second alone()": False}


def test_hold_alone_again_after_others_left():
    slots = Slots(2)
    with slots.hold() as alone:
        assert alone
    with slots.hold() as alone:
        assert alone


def test_alone_is_true_outside_any_hold():
    slots = Slots(2)
    assert slots.alone()
    with slots.hold():
        pass
    assert slots.alone()


def test_model_runs_on_fast_when_alone():
    fast, shared, calls = pair()
    slots = Slots(2)
    model = ThreadAwareModel(fast, shared, slots)
    with slots.hold():
        assert model.predict(1, k=2) == "fast"
        assert model.segment(3) == "fast"
    assert calls == [("fast", "predict", (1,), {"k": 2}), ("fast", "segment", (3,), {})]


def test_model_runs_on_shared_beside_another_hold():
    fast, shared, calls = pair()
    slots = Slots(2)
    model = ThreadAwareModel(fast, shared, slots)
    first_inside, second_done = threading.Event(), threading.Event()
    ran = {}

    def first():
        with slots.hold():
            first_inside.set()
            second_done.wait(TIMEOUT)
            ran["first"] = (model.predict(), model.segment())  # started alone: still fast

    def second():
        first_inside.wait(TIMEOUT)
        with slots.hold():
            ran["second"] = (model.predict(), model.segment())
        second_done.set()

    threads = [threading.Thread(target=f, daemon=True) for f in (first, second)]
    for th in threads:
        th.start()
    join_all(threads)
    assert ran == {"first": ("fast", "fast"), "second": ("shared", "shared")}


def test_model_without_shared_always_runs_on_fast():
    fast, _, calls = pair()
    slots = Slots(2)
    model = ThreadAwareModel(fast, None, slots)
    first_inside, release = threading.Event(), threading.Event()
    ran = []

    def first():
        with slots.hold():
            first_inside.set()
            release.wait(TIMEOUT)

    th = threading.Thread(target=first, daemon=True)
    th.start()
    assert first_inside.wait(TIMEOUT)
    with slots.hold() as alone:
        assert not alone
        ran += [model.predict(), model.segment()]
    release.set()
    join_all([th])
    assert ran == ["fast", "fast"]
    assert {c[0] for c in calls} == {"fast"}


def test_start_uses_fast_class_start_with_wrapper_as_self():
    fast, shared, _ = pair()
    model = ThreadAwareModel(fast, shared, Slots(2))
    tag, model_self, x = model.start("image")
    assert tag == "session-of"
    assert model_self is model
    assert x == "image"


def test_wrapper_passes_manifest_task_and_modalities():
    fast, shared, _ = pair()
    model = ThreadAwareModel(fast, shared)
    assert model.manifest is fast.manifest
    assert model.task == "click"
    assert model.modalities == ("CT", "MR")
    assert model.slots.n == 1


def test_run_awaits_the_call_on_an_inference_thread_holding_a_slot():
    import asyncio

    import pytest

    slots = Slots(2)
    seen = []

    def work(x):
        seen.append((threading.current_thread().name, slots.alone()))
        if x == "bad":
            raise ValueError("bad input")
        return x * 2

    async def main():
        assert await slots.run(work, 21) == 42
        with pytest.raises(ValueError, match="bad input"):
            await slots.run(work, "bad")
        return await asyncio.gather(*(slots.run(work, i) for i in range(6)))

    assert asyncio.run(main()) == [0, 2, 4, 6, 8, 10]
    assert all(name.startswith("radseg-infer") for name, _ in seen)
    assert seen[0][1] is True  # alone: no other call was running
    assert len({name for name, _ in seen}) <= 2  # n dedicated threads
