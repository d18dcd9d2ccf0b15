"""Narrow patches of moto's SQS for the embedded emulator: a long poll waits outside its service's lock."""

from __future__ import annotations

import threading

from moto.sqs.models import Queue

from local.emulator.locks import held_lock

_original_wait_for_messages = Queue.wait_for_messages
# A long poll wakes on a send (moto notifies) but not when a message's visibility timeout expires; a short
# wait slice bounds that delay without busy-looping.
_WAIT_SLICE_SECONDS = 0.1


def _wait_for_messages_unlocked(self: Queue, timeout: int) -> None:
    """Release the caller's service lock while SQS ReceiveMessage long-polls, so a wait blocks nobody."""
    lock: threading.Lock | None = held_lock()
    if lock is None:
        _original_wait_for_messages(self, timeout)
        return
    lock.release()
    try:
        _original_wait_for_messages(self, min(timeout, _WAIT_SLICE_SECONDS))  # type: ignore[arg-type]
    finally:
        lock.acquire()


def install() -> None:
    """Apply the patches (idempotent)."""
    Queue.wait_for_messages = _wait_for_messages_unlocked  # type: ignore[method-assign]
