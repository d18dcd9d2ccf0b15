"""moto's backends are plain dicts and lists mutated without locks, so two requests to one service at once can
lose or double a message. The emulator calls each service's app under a lock of its own (SQS and DynamoDB still
answer in parallel; nothing the local cloud uses crosses services at request time); this module says which lock the
current thread holds, so that a patch may release it while it waits."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

_held = threading.local()


def held_lock() -> threading.Lock | None:
    """The service lock this thread holds, if it is inside a request."""
    return getattr(_held, "lock", None)


@contextmanager
def holding(lock: threading.Lock) -> Iterator[None]:
    """Take `lock` for one request, and say so to held_lock()."""
    with lock:
        _held.lock = lock
        try:
            yield
        finally:
            _held.lock = None
