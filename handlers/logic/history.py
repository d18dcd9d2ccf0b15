"""A task's history as the API shows it, and the replay that derives its state from its events."""

import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from handlers.dal.audit_store import AuditStore
from handlers.errors import TaskNotFoundError
from handlers.models.events import STATUS_SET_BY, AuditEvent, EventType, TaskStatus
from handlers.models.message import TaskMessage
from handlers.models.output import TaskHistory
from handlers.observability import logger

TERMINAL_STATUSES = frozenset({TaskStatus.SUCCEEDED, TaskStatus.DEAD_LETTERED})
# Kept for redrive, not shown: it repeats the RECEIVED payload.
HIDDEN_FIELDS = frozenset({"message"})


@dataclass(frozen=True, slots=True)
class TaskState:
    """Where a task stands: its status, the attempts made in its current life, and that life."""

    status: TaskStatus
    attempts: int
    life: int


def replay(events: list[AuditEvent]) -> TaskState:
    """Fold the events (in sort key order) into the task's state; a new life (redrive) starts over as QUEUED."""
    state = TaskState(TaskStatus.QUEUED, attempts=0, life=events[0].life if events else 0)
    for event in events:
        if event.life != state.life:
            state = TaskState(TaskStatus.QUEUED, attempts=0, life=event.life)
        if state.status in TERMINAL_STATUSES:
            continue  # only CLEANED_UP follows a terminal event in its life, and it changes nothing
        attempts = max(state.attempts, event.attempt or 0, int(event.fields.get("attempts", 0)))
        state = TaskState(STATUS_SET_BY.get(event.type, state.status), attempts, state.life)
    return state


def status_event(events: list[AuditEvent]) -> AuditEvent | None:
    """The event that set the state `replay` derives (the same fold): the one a listing by status shows a task at,
    so that a task is listed once, under its current status only."""
    setter: AuditEvent | None = None
    life = events[0].life if events else 0
    for event in events:
        if event.life != life:
            setter, life = None, event.life
        if setter is not None and STATUS_SET_BY[setter.type] in TERMINAL_STATUSES:
            continue
        if event.type in STATUS_SET_BY:
            setter = event
    return setter


def task_history(store: AuditStore, task_id: str) -> TaskHistory:
    """The task's events oldest first with their 1-based seq, and the state replayed from them."""
    events = store.history(task_id)
    if not events:
        raise TaskNotFoundError(f"no task {task_id!r}")
    state = replay(events)
    return TaskHistory(
        taskId=task_id,
        status=state.status,
        attempts=state.attempts,
        life=state.life,
        events=[event_view(seq, event) for seq, event in enumerate(events, start=1)],
    )


def event_view(seq: int, event: AuditEvent) -> dict[str, Any]:
    """One event as the API shows it: seq, type, at, life, attempt when meaningful, then its own fields."""
    view: dict[str, Any] = {"seq": seq, "type": event.type.value, "at": event.at, "life": event.life}
    if event.attempt is not None:
        view["attempt"] = event.attempt
    view.update((name, value) for name, value in event.fields.items() if name not in HIDDEN_FIELDS)
    if event.type is EventType.RECEIVED and isinstance(view.get("payload"), str):
        view["payload"] = json.loads(view["payload"])  # stored as canonical JSON text, shown as the object sent
    return view


def payload_of(events: list[AuditEvent], life: int) -> dict[str, Any]:
    """The payload the task runs with in life `life`: the message the newest DEAD_LETTERED up to that life kept (a
    redrive sends it on, so life n runs with what life n - 1 dead-lettered), else the RECEIVED payload."""
    for event in reversed(events):
        kept = event.fields.get("message")
        if event.life <= life and event.type is EventType.DEAD_LETTERED and isinstance(kept, str):
            try:
                return TaskMessage.model_validate_json(kept).payload
            except ValidationError:
                logger.warning("the dead-lettered message is not a task; using the received payload")
                break
    received = next(event for event in events if event.type is EventType.RECEIVED)
    payload: dict[str, Any] = json.loads(str(received.fields["payload"]))
    return payload
