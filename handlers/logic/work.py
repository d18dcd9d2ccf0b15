"""The default task worker: small sample work, with the fault-injection hook for demos and tests."""

from handlers.logic.payload import canonical_json, payload_hash
from handlers.models.message import TaskRun


class SimulatedFailureError(Exception):
    """The failure payload.simulate asked for."""


def run_task(run: TaskRun) -> dict[str, str]:
    """Digest the payload. With fault injection on, payload.simulate = "fail" fails every attempt, "fail-once"
    the first attempt only, "fail-until-redriven" every attempt until the task is redriven (life >= 1)."""
    if run.fault_injection:
        _simulate(run)
    return {"digest": payload_hash(canonical_json(run.payload))}


def _simulate(run: TaskRun) -> None:
    mode = run.payload.get("simulate")
    if (
        mode == "fail"
        or (mode == "fail-once" and run.life == 0 and run.attempt == 1)
        or (mode == "fail-until-redriven" and run.life == 0)
    ):
        raise SimulatedFailureError(f"simulated failure ({mode}) of attempt {run.attempt}")
