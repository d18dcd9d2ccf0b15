"""EventBridge schedules, emulated: each rule's target function is invoked every `rate(...)` with a real-shaped
Scheduled Event, asynchronously, as EventBridge invokes Lambda (local.services.lambda_.async_invoke: at least once,
retried on error, overlapping a slow run). `cron(...)` rules are reported and not run.

TASKTRAIL_LOCAL_SCHEDULE_SCALE (a test switch) multiplies every period: 0.05 runs rate(1 minute) every 3 s."""

from __future__ import annotations

import os
import re
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from local.deploy.topology import ScheduleSpec
from local.emulator.account import ACCOUNT_ID, REGION
from local.services.event_source import EventSource, Wiring
from local.services.lambda_.async_invoke import AsyncInvoker
from local.services.lambda_.runtime import FunctionPool
from local.services.logs import LogPrinter

_RATE = re.compile(r"^rate\((?P<value>\d+) (?P<unit>minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str) -> float | None:
    """The period of a `rate(N unit)` expression in seconds; None for anything else (cron, or not a schedule)."""
    found = _RATE.match(expression.strip())
    if not found or int(found["value"]) < 1:
        return None
    return int(found["value"]) * _UNIT_SECONDS[found["unit"].removesuffix("s")]


def scheduled_event(spec: ScheduleSpec, at: datetime | None = None) -> dict[str, Any]:
    """The event EventBridge sends a rule's target on each tick."""
    moment = (at or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": moment.isoformat().replace("+00:00", "Z"),
        "region": REGION,
        "resources": [spec.rule_arn],
        "detail": {},
    }


SCALE_ENV = "TASKTRAIL_LOCAL_SCHEDULE_SCALE"


class ScheduleRunner:
    """One thread per rate rule: the first tick one period after start, as EventBridge does for a new rule; each
    tick is an asynchronous invocation, whether or not the previous one still runs."""

    def __init__(self, spec: ScheduleSpec, pool: FunctionPool, printer: LogPrinter, period: float) -> None:
        self.spec = spec
        self._invoker = AsyncInvoker(pool, printer)
        self._printer = printer
        self._period = period
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"schedule-{spec.rule_name}", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._printer.info(f"schedule {self.spec.rule_name}: {self.spec.function_name} every {self._period:g} s")

    def _run(self) -> None:
        next_tick = time.monotonic() + self._period
        while not self._stopping.wait(max(0.0, next_tick - time.monotonic())):
            try:
                self._invoker.invoke(scheduled_event(self.spec))
            except Exception as error:  # noqa: BLE001 - a schedule outlives any one tick
                self._printer.warning(f"schedule {self.spec.rule_name}: {type(error).__name__}: {error}")
            next_tick += self._period
            while next_tick < time.monotonic():
                next_tick += self._period

    def stop(self) -> None:
        self._stopping.set()
        self._invoker.stop()

    def drain(self, deadline: float) -> bool:
        if self._thread.is_alive():
            self._thread.join(max(0.0, deadline - time.monotonic()))
        return self._invoker.drain(deadline) and not self._thread.is_alive()


def schedules(wiring: Wiring) -> list[EventSource]:
    """A runner per enabled rate rule; the rules that are not emulated are reported."""
    runners: list[EventSource] = []
    for spec in wiring.topology.schedules:
        period = rate_seconds(spec.expression)
        if not spec.enabled:
            continue
        if period is None:
            wiring.printer.warning(f"schedule {spec.rule_name}: {spec.expression} is not emulated (only rate(...) is)")
            continue
        scale = float(os.environ.get(SCALE_ENV) or 1)
        runners.append(ScheduleRunner(spec, wiring.functions[spec.function_name], wiring.printer, period * scale))
    return runners
