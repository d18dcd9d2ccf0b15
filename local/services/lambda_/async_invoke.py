"""Lambda's asynchronous invocation, locally: what EventBridge (and any `InvocationType=Event` caller) gets.

The event is queued and the caller returns at once; each event runs at least once, in an environment of its own
(invocations overlap: a slow run does not hold the next one back); a function error is retried twice by default,
after about one minute and then two (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html).
Lambda's queue is eventually consistent and may deliver an event twice even when the function succeeds: a test
switch (TASKTRAIL_LOCAL_ASYNC_DUPLICATES=1) makes every delivery double, so that the function's idempotency is
exercised here rather than assumed.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from local.services.lambda_.runtime import FunctionPool
from local.services.logs import LogPrinter

DUPLICATES_ENV = "TASKTRAIL_LOCAL_ASYNC_DUPLICATES"
# Lambda's spacing of the two retries of a failed event, in seconds; a test may shorten it (e.g. "1,2").
RETRY_DELAYS_ENV = "TASKTRAIL_LOCAL_ASYNC_RETRY_DELAYS"
RETRY_DELAYS = (60.0, 120.0)


@dataclass(frozen=True)
class AsyncPolicy:
    """How a function's asynchronous events are retried and delivered (FunctionEventInvokeConfig's defaults)."""

    retry_delays: tuple[float, ...] = RETRY_DELAYS
    duplicates: bool = False

    @classmethod
    def from_environment(cls) -> AsyncPolicy:
        delays = os.environ.get(RETRY_DELAYS_ENV)
        return cls(
            tuple(float(part) for part in delays.split(",") if part.strip()) if delays else RETRY_DELAYS,
            os.environ.get(DUPLICATES_ENV) == "1",
        )


class AsyncInvoker:
    """The asynchronous event queue of one function: `invoke` returns at once; `drain` waits for what runs."""

    def __init__(self, pool: FunctionPool, printer: LogPrinter, policy: AsyncPolicy | None = None) -> None:
        self._pool = pool
        self._printer = printer
        self._policy = policy or AsyncPolicy.from_environment()
        self._running = 0
        self._waiting_retries = 0
        self._stopping = threading.Event()
        self._idle = threading.Condition()

    def invoke(self, event: Any) -> None:
        """Queue the event (twice, under the duplicates switch) and return."""
        for _ in range(2 if self._policy.duplicates else 1):
            self._deliver(event, attempt=1)

    def _deliver(self, event: Any, attempt: int) -> None:
        with self._idle:
            if self._stopping.is_set():
                return
            self._running += 1
        threading.Thread(target=self._run, args=(event, attempt), name=f"async-{self._pool.label}", daemon=True).start()

    def _run(self, event: Any, attempt: int) -> None:
        try:
            result = self._pool.invoke(event)
            if result.ok or attempt > len(self._policy.retry_delays):
                if not result.ok:
                    self._printer.warning(f"{self._pool.label}: asynchronous event dropped after {attempt} attempts")
                return
            delay = self._policy.retry_delays[attempt - 1]
            self._printer.line(
                self._pool.label, "WARNING", f"asynchronous event failed; retry {attempt} in {delay:g} s"
            )
            with self._idle:
                self._waiting_retries += 1
            try:
                if self._stopping.wait(delay):
                    return  # the cloud stops; Lambda would retry it later, but the local state goes with it
            finally:
                with self._idle:
                    self._waiting_retries -= 1
            self._deliver(event, attempt + 1)
        except Exception as error:  # noqa: BLE001 - an event's failure must not end the function's queue
            self._printer.warning(f"{self._pool.label}: asynchronous event: {type(error).__name__}: {error}")
        finally:
            with self._idle:
                self._running -= 1
                self._idle.notify_all()

    def stop(self) -> None:
        """Take no more events, and drop the retries still waiting."""
        self._stopping.set()

    def drain(self, deadline: float) -> bool:
        """Wait until no event runs (or `deadline`, time.monotonic, passes); True when none does."""
        with self._idle:
            while self._running - self._waiting_retries > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True
