"""Audit events: their types, the status each sets, and the record every layer passes around."""

from dataclasses import dataclass, field
from enum import StrEnum

from handlers.models.timestamps import now_at


class EventType(StrEnum):
    """Lifecycle events a handler may append to a task's history."""

    RECEIVED = "RECEIVED"  # gateway: first submission (payload, payloadHash)
    ENQUEUE_FAILED = "ENQUEUE_FAILED"  # gateway: SendMessage failed (error); a client retry re-sends
    REENQUEUED = "REENQUEUED"  # gateway or sweeper: re-sent a task whose previous send failed or was lost (reason)
    REDRIVEN = "REDRIVEN"  # operator: a dead-lettered task started a new life
    RETRY_SCHEDULED = "RETRY_SCHEDULED"  # processing: attempt failed (attempt, visibilityTimeout, error)
    SUCCEEDED = "SUCCEEDED"  # processing: attempt succeeded (attempt)
    DEAD_LETTERED = "DEAD_LETTERED"  # dlq: gave up (attempts, lastError, message)
    CLEANED_UP = "CLEANED_UP"  # dlq: the dead-lettered message was handled and deleted


class TaskStatus(StrEnum):
    """A task's state, derived by replaying its events."""

    QUEUED = "QUEUED"
    RETRYING = "RETRYING"
    SUCCEEDED = "SUCCEEDED"
    DEAD_LETTERED = "DEAD_LETTERED"


# Events that set a status, and so carry the sparse status index's partition key. The outbox's three entries are the
# QUEUED ones: a re-send is indexed as the first send was, so that the reconciler examines it in its turn too (a
# REENQUEUED comes only while the life has nothing but gateway events: the task is QUEUED before and after it).
STATUS_SET_BY = {
    EventType.RECEIVED: TaskStatus.QUEUED,
    EventType.REDRIVEN: TaskStatus.QUEUED,
    EventType.REENQUEUED: TaskStatus.QUEUED,
    EventType.RETRY_SCHEDULED: TaskStatus.RETRYING,
    EventType.SUCCEEDED: TaskStatus.SUCCEEDED,
    EventType.DEAD_LETTERED: TaskStatus.DEAD_LETTERED,
}


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One item of the audit table; (life, slot, rank) is its place in the task's history."""

    task_id: str
    type: EventType
    life: int
    slot: int
    rank: int = 0
    attempt: int | None = None
    at: str = field(default_factory=now_at)
    fields: dict[str, str | int] = field(default_factory=dict)
