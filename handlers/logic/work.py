"""The default task worker: small sample work, with the fault-injection hook for demos and tests."""

import time

from handlers.logic.payload import canonical_json, payload_hash
from handlers.models.message import TaskRun

# payload.simulate = "slow" works this long at most (payload.seconds asks for less), well inside any timeout.
MAX_SLOW_SECONDS = 30.0


class SimulatedFailureError(Exception):
    """The failure payload.simulate asked for."""


def run_task(run: TaskRun) -> dict[str, str]:
    """Digest the payload. With fault injection on, payload.simulate = "fail" fails every attempt, "fail-once"
    the first attempt only, "fail-until-redriven" every attempt until the task is redriven (life >= 1), and "slow"
    takes payload.seconds (default 2, at most 30) before it succeeds: an invocation in flight, for demos of draining
    and timeouts."""
    if run.fault_injection:
        _simulate(run)
    return {"digest": payload_hash(canonical_json(run.payload))}


def _simulate(run: TaskRun) -> None:
    mode = run.payload.get("simulate")
    if mode == "slow":
        seconds = run.payload.get("seconds", 2)
        time.sleep(min(float(seconds), MAX_SLOW_SECONDS) if isinstance(seconds, int | float) else 2.0)
        return
    if (
        mode == "fail"
        or (mode == "fail-once" and run.life == 0 and run.attempt == 1)
        or (mode == "fail-until-redriven" and run.life == 0)
    ):
        raise SimulatedFailureError(f"simulated failure ({mode}) of attempt {run.attempt}")
