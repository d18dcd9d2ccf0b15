"""The submission model's rules for taskId and payload, and the default worker's fault injection."""

from __future__ import annotations

import time
from typing import Any

import pytest
from pydantic import ValidationError

from handlers.logic.work import SimulatedFailureError, run_task
from handlers.models.input import TaskSubmission
from handlers.models.message import TaskRun


@pytest.mark.parametrize(
    ("task_id", "stored"), [(0, "0"), (10**127, "1" + "0" * 127), ("A-z.0_9:x", "A-z.0_9:x"), ("7", "7")]
)
def test_valid_task_ids_are_stored_as_strings(task_id: int | str, stored: str) -> None:
    assert TaskSubmission.model_validate({"taskId": task_id, "payload": {}}).task_id == stored


@pytest.mark.parametrize("task_id", [True, False, 1.0, -1, 10**128, "", "a" * 129, "a b", "é", None, [], {}])
def test_invalid_task_ids_name_the_field(task_id: Any) -> None:
    with pytest.raises(ValidationError) as raised:
        TaskSubmission.model_validate({"taskId": task_id, "payload": {}})

    assert [error["loc"] for error in raised.value.errors()] == [("taskId",)]


def test_extra_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="extra"):
        TaskSubmission.model_validate({"taskId": "a", "payload": {}, "x": 1})


def run(payload: dict[str, Any], *, life: int = 0, attempt: int = 1, faults: bool = True) -> object:
    return run_task(TaskRun("t", payload, life, attempt, faults))


@pytest.mark.parametrize(
    ("simulate", "life", "attempt", "fails"),
    [
        ("fail", 0, 1, True),
        ("fail", 1, 3, True),
        ("fail-once", 0, 1, True),
        ("fail-once", 0, 2, False),
        ("fail-until-redriven", 0, 5, True),
        ("fail-until-redriven", 1, 1, False),
        ("something-else", 0, 1, False),
    ],
)
def test_fault_injection_modes(simulate: str, life: int, attempt: int, fails: bool) -> None:
    if fails:
        with pytest.raises(SimulatedFailureError):
            run({"simulate": simulate}, life=life, attempt=attempt)
    else:
        assert run({"simulate": simulate}, life=life, attempt=attempt)


def test_fault_injection_off_ignores_simulate() -> None:
    assert run({"simulate": "fail"}, faults=False)


def test_slow_works_its_seconds_then_succeeds() -> None:
    started = time.monotonic()
    assert run({"simulate": "slow", "seconds": 0.3})
    assert 0.3 <= time.monotonic() - started < 2
    started = time.monotonic()
    assert run({"simulate": "slow", "seconds": 0.3}, faults=False)
    assert time.monotonic() - started < 0.3


def test_a_functions_environment_is_named_by_its_settings_model() -> None:
    from handlers.models.settings import DeadLetterSettings, GatewaySettings

    environment = DeadLetterSettings.environment(audit_table_name="t", max_receive_count=3, log_payloads=True)
    assert environment == {"AUDIT_TABLE_NAME": "t", "MAX_RECEIVE_COUNT": "3", "LOG_PAYLOADS": "true"}
    assert DeadLetterSettings.from_environment(environment).max_receive_count == 3
    # A misspelt setting, or a required one left out, fails where the environment is built (infra), not on Lambda.
    with pytest.raises(TypeError, match=r"unknown settings \['max_recieve_count'\]"):
        DeadLetterSettings.environment(audit_table_name="t", max_recieve_count=3)
    with pytest.raises(TypeError, match=r"missing settings \['processing_queue_url'\]"):
        GatewaySettings.environment(audit_table_name="t")
