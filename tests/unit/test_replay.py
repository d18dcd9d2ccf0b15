"""The replay that derives a task's state from its events, in sort key order."""

from __future__ import annotations

from handlers.dal.schema import GATEWAY_SLOT, TERMINAL_SLOT
from handlers.logic.history import TaskState, event_view, replay
from handlers.models.events import AuditEvent, EventType, TaskStatus

T = "task"


def received(life: int = 0) -> AuditEvent:
    kind = EventType.RECEIVED if life == 0 else EventType.REDRIVEN
    return AuditEvent(T, kind, life=life, slot=GATEWAY_SLOT, fields={"payload": '{"a":1}', "payloadHash": "h"})


def retry(attempt: int, life: int = 0) -> AuditEvent:
    fields: dict[str, str | int] = {"visibilityTimeout": 30 * attempt, "error": "boom"}
    return AuditEvent(T, EventType.RETRY_SCHEDULED, life=life, slot=attempt, attempt=attempt, fields=fields)


def succeeded(attempt: int, life: int = 0) -> AuditEvent:
    return AuditEvent(T, EventType.SUCCEEDED, life=life, slot=TERMINAL_SLOT, attempt=attempt)


def dead(attempts: int, life: int = 0) -> AuditEvent:
    return AuditEvent(T, EventType.DEAD_LETTERED, life=life, slot=TERMINAL_SLOT, fields={"attempts": attempts})


def cleaned(life: int = 0) -> AuditEvent:
    return AuditEvent(T, EventType.CLEANED_UP, life=life, slot=TERMINAL_SLOT, rank=1)


def test_received_is_queued() -> None:
    assert replay([received()]) == TaskState(TaskStatus.QUEUED, 0, 0)


def test_enqueue_failures_and_resends_leave_it_queued() -> None:
    failed = AuditEvent(T, EventType.ENQUEUE_FAILED, life=0, slot=GATEWAY_SLOT, rank=1)
    resent = AuditEvent(T, EventType.REENQUEUED, life=0, slot=GATEWAY_SLOT, rank=2)

    assert replay([received(), failed, resent]).status is TaskStatus.QUEUED


def test_retry_then_success() -> None:
    assert replay([received(), retry(1), succeeded(2)]) == TaskState(TaskStatus.SUCCEEDED, 2, 0)


def test_retries_are_retrying_with_their_count() -> None:
    assert replay([received(), retry(1), retry(2)]) == TaskState(TaskStatus.RETRYING, 2, 0)


def test_dead_lettered_then_cleaned_up_stays_dead_lettered() -> None:
    events = [received(), retry(1), retry(2), dead(2), cleaned()]

    assert replay(events) == TaskState(TaskStatus.DEAD_LETTERED, 2, 0)


def test_redrive_starts_a_new_life() -> None:
    first_life = [received(), retry(1), retry(2), dead(2), cleaned()]

    assert replay([*first_life, received(life=1)]) == TaskState(TaskStatus.QUEUED, 0, 1)
    assert replay([*first_life, received(life=1), retry(1, life=1)]) == TaskState(TaskStatus.RETRYING, 1, 1)
    assert replay([*first_life, received(life=1), succeeded(1, life=1)]) == TaskState(TaskStatus.SUCCEEDED, 1, 1)


def test_a_late_retry_does_not_undo_the_terminal_event() -> None:
    # Sorted by key, a life's terminal event comes last: a retry recorded after it in time sorts before it.
    assert replay([received(), retry(2), succeeded(1)]).status is TaskStatus.SUCCEEDED


def test_event_view_shows_fields_and_the_payload_as_an_object() -> None:
    view = event_view(1, received())

    assert view["seq"] == 1 and view["type"] == "RECEIVED" and view["payload"] == {"a": 1}
    assert "message" not in event_view(
        4, AuditEvent(T, EventType.DEAD_LETTERED, 0, TERMINAL_SLOT, fields={"message": "m"})
    )
