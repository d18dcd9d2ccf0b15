"""The local cloud's asynchronous invocation (what EventBridge gets from Lambda): retried on error with Lambda's
count of retries, overlapping, at least once, and delivered twice under the duplicates switch."""

from __future__ import annotations

import io
import threading
import time
from typing import Any

from local.services.lambda_.async_invoke import RETRY_DELAYS, AsyncInvoker, AsyncPolicy
from local.services.lambda_.runtime import Result
from local.services.logs import LogPrinter


class ScriptedFunction:
    """A function whose invocations succeed or fail as scripted, and which may take its time."""

    label = "fn"

    def __init__(self, outcomes: list[bool], seconds: float = 0.0) -> None:
        self.outcomes = outcomes
        self.seconds = seconds
        self.calls: list[Any] = []
        self.concurrent = 0
        self.most_concurrent = 0
        self._lock = threading.Lock()

    def invoke(self, event: Any) -> Result:
        with self._lock:
            self.calls.append(event)
            ok = self.outcomes.pop(0) if self.outcomes else True
            self.concurrent += 1
            self.most_concurrent = max(self.most_concurrent, self.concurrent)
        time.sleep(self.seconds)
        with self._lock:
            self.concurrent -= 1
        return Result(ok, error=None if ok else {"errorType": "Boom", "errorMessage": "boom"})


def _invoker(function: ScriptedFunction, **policy: Any) -> tuple[AsyncInvoker, io.StringIO]:
    out = io.StringIO()
    invoker = AsyncInvoker(function, LogPrinter(out, colour=False), AsyncPolicy(**policy))  # type: ignore[arg-type]
    return invoker, out


def _drained(invoker: AsyncInvoker) -> bool:
    return invoker.drain(time.monotonic() + 10)


def test_lambda_retries_a_failed_event_twice_by_default() -> None:
    assert len(RETRY_DELAYS) == 2 and RETRY_DELAYS[0] < RETRY_DELAYS[1]
    function = ScriptedFunction([False, False, True])
    invoker, out = _invoker(function, retry_delays=(0.05, 0.1))
    invoker.invoke({"n": 1})
    time.sleep(0.5)
    assert _drained(invoker)
    assert function.calls == [{"n": 1}] * 3
    assert "retry 1" in out.getvalue() and "retry 2" in out.getvalue()


def test_an_event_that_keeps_failing_is_dropped_after_its_retries() -> None:
    function = ScriptedFunction([False] * 5)
    invoker, out = _invoker(function, retry_delays=(0.05, 0.05))
    invoker.invoke("e")
    time.sleep(0.5)
    assert _drained(invoker)
    assert len(function.calls) == 3 and "dropped after 3 attempts" in out.getvalue()


def test_invocations_overlap_and_the_caller_does_not_wait() -> None:
    function = ScriptedFunction([], seconds=0.5)
    invoker, _ = _invoker(function)
    started = time.monotonic()
    invoker.invoke("tick-1")
    invoker.invoke("tick-2")
    assert time.monotonic() - started < 0.2  # queued, not run, by the caller
    assert _drained(invoker)
    assert function.most_concurrent == 2


def test_the_duplicates_switch_delivers_every_event_twice() -> None:
    function = ScriptedFunction([])
    invoker, _ = _invoker(function, duplicates=True)
    invoker.invoke("tick")
    assert _drained(invoker)
    assert function.calls == ["tick", "tick"]


def test_stopping_drops_the_retries_still_waiting() -> None:
    function = ScriptedFunction([False])
    invoker, _ = _invoker(function, retry_delays=(30.0,))
    invoker.invoke("e")
    time.sleep(0.2)
    invoker.stop()
    started = time.monotonic()
    assert _drained(invoker) and time.monotonic() - started < 2
    invoker.invoke("after stop")
    assert function.calls == ["e"]
