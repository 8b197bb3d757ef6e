"""How `radseg serve` shares the CPU between requests: a bounded number of inferences at once, each on all of the
runtime's threads when it runs alone and on one thread when others run beside it.

    slots = Slots(2)
    click = ThreadAwareModel(radseg.load("click"), radseg.load("click", threads=1), slots)
    session = click.start(image, spacing=(0.8, 0.8), modality="CT")
    mask = await slots.run(session.click, 120, 200)   # on one of 2 inference threads; all ORT threads when alone

Why: more inferences than cores, each with its own ONNX Runtime threads, only fight over the cores (16 clients:
60 requests/s unbounded against 82 with the inferences bounded); one request alone should still get every core
(the lowest latency for one user). `run` uses `n` dedicated threads rather than the web framework's pool of 40,
where the waiting requests would each hold a thread blocked on the slots.
"""
from __future__ import annotations

import contextlib
import threading


class Slots:
    """At most `n` holders at once (the rest wait); each knows whether it started alone."""

    def __init__(self, n: int):
        self.n = max(1, int(n))
        self._semaphore = threading.BoundedSemaphore(self.n)
        self._lock = threading.Lock()
        self._busy = 0
        self._local = threading.local()
        self._pool = None

    @contextlib.contextmanager
    def hold(self):
        """Wait for a slot; yields True when no other holder was running at that moment."""
        with self._semaphore:
            with self._lock:
                alone = self._busy == 0
                self._busy += 1
            self._local.alone = alone
            try:
                yield alone
            finally:
                self._local.alone = True
                with self._lock:
                    self._busy -= 1

    async def run(self, fn, *args):
        """Await fn(*args) on one of `n` dedicated threads (each call holds a slot while it runs)."""
        import asyncio

        def held():
            with self.hold():
                return fn(*args)

        return await asyncio.get_running_loop().run_in_executor(self._executor(), held)

    def _executor(self):
        if self._pool is None:
            import concurrent.futures

            self._pool = concurrent.futures.ThreadPoolExecutor(self.n, thread_name_prefix="radseg-infer")
        return self._pool

    def alone(self) -> bool:
        """Whether the calling thread's current hold started alone (True outside any hold)."""
        return getattr(self._local, "alone", True)


class ThreadAwareModel:
    """A loaded radseg model (click, propagation or body) that runs each call on `fast` (all threads) while the
    calling thread's slot is alone, else on `shared` (the same model on one thread). `shared` None: always `fast`.

    Sessions started from it (`start`) call back into it, so a session that lives across requests (the viewer's)
    takes the right model at each click.
    """

    def __init__(self, fast, shared=None, slots: Slots = None):
        self.fast, self.shared, self.slots = fast, shared, slots or Slots(1)
        self.manifest = fast.manifest
        self.task = getattr(fast, "task", None)

    def _now(self):
        return self.fast if self.shared is None or self.slots.alone() else self.shared

    def start(self, *args, **kwargs):
        # The model class's own start (its checks and warnings), with this object as the session's model.
        return type(self.fast).start(self, *args, **kwargs)

    def predict(self, *args, **kwargs):
        return self._now().predict(*args, **kwargs)

    def segment(self, *args, **kwargs):
        return self._now().segment(*args, **kwargs)

    @property
    def modalities(self):
        return self.fast.modalities

    def __repr__(self) -> str:
        return f"ThreadAwareModel({self.fast!r}, shared={self.shared is not None}, slots={self.slots.n})"
