"""The outbox: a task is recorded before it is sent, so that no accepted task can be lost, and the record is what
tells a sent task from a stranded one.

RECEIVED (gateway), REDRIVEN (redrive) and REENQUEUED (a re-send) are the outbox's entries: each is written with a
conditional put, and indexed under QUEUED (so that the reconciler examines each in its turn), then the message is
sent. A failed send records ENQUEUE_FAILED next to its entry. A gateway that
dies between the write and the send leaves the entry with nothing after it; `resend_if_stranded` is the one rule,
shared by a client's retried POST (handlers.logic.submit) and the scheduled sweeper (handlers.logic.sweep), by which
such a task is re-sent once.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

from handlers.dal.audit_store import AuditStore
from handlers.dal.queue import TaskQueue
from handlers.dal.schema import GATEWAY_SLOT, MAX_RANK
from handlers.errors import AuditStoreUnavailableError, EnqueueFailedError
from handlers.logic.describe import describe_exception
from handlers.models.contract import Metric
from handlers.models.events import AuditEvent, EventType
from handlers.models.message import TaskMessage
from handlers.models.timestamps import parse_at
from handlers.observability import count, logger


def send_recorded(store: AuditStore, queue: TaskQueue, message: TaskMessage, after: AuditEvent) -> None:
    """Send a task whose outbox entry `after` (RECEIVED, REENQUEUED or REDRIVEN) is recorded; a failed send records
    ENQUEUE_FAILED next to it (best effort) and raises EnqueueFailedError."""
    try:
        queue.send_task(message)
    except EnqueueFailedError as exc:
        failed = AuditEvent(
            message.taskId,
            EventType.ENQUEUE_FAILED,
            life=after.life,
            slot=GATEWAY_SLOT,
            rank=after.rank + 1,
            fields={"error": describe_exception(exc)},
        )
        _append_best_effort(store, failed)
        raise


def resend_cutoff(
    queue: TaskQueue, reenqueue_after: float, stranded_after: float, now: datetime | None = None
) -> tuple[bool, datetime]:
    """Whether the processing queue is empty, and the moment before which a task's last gateway event must have
    been written for the task to be re-sent (`sent_before` of resend_if_stranded), counted back from `now` (taken
    before the check; the clock's by default). Call it before reading the history: a message processed after this
    check then has its events in the history read after it.

    Any send that followed a gateway event happened within the gateway's timeout (`reenqueue_after`), so an older
    event with nothing after it and an empty queue means that send was lost. While the queue holds messages, the
    task's own may be among them, behind a backlog: it is re-sent only once older than `stranded_after`."""
    checked_at = now or datetime.now(UTC)
    queue_empty = queue.is_empty()
    wait = min(stranded_after, reenqueue_after) if queue_empty else stranded_after
    return queue_empty, checked_at - timedelta(seconds=wait)


def resend_if_stranded(
    store: AuditStore, queue: TaskQueue, events: list[AuditEvent], payload: dict[str, Any], sent_before: datetime
) -> bool:
    """Re-send the task of `events` (its whole history) if its current life is stranded: no processing event yet,
    and its last gateway event an ENQUEUE_FAILED, or written before `sent_before` (a moment by which any send
    that followed it must have happened).

    The re-send is claimed first with a REENQUEUED conditional put next to that last event, so that of a concurrent
    retry and sweep only one sends. True when this call sent the task."""
    if not events:
        return False
    task_id, life = events[-1].task_id, events[-1].life
    current = [event for event in events if event.life == life]
    if any(event.slot != GATEWAY_SLOT for event in current):
        return False
    last = current[-1]
    if last.type is EventType.ENQUEUE_FAILED:
        reason = "the previous send failed"
    elif parse_at(last.at) <= sent_before:
        reason = f"no processing event since {last.type.value} at {last.at}"
    else:
        return False  # most likely in the queue already, or being sent by a concurrent request
    if last.rank + 2 > MAX_RANK:
        raise EnqueueFailedError(f"task {task_id!r}: too many failed sends, giving up re-sending")
    claim = AuditEvent(
        task_id, EventType.REENQUEUED, life=life, slot=GATEWAY_SLOT, rank=last.rank + 1, fields={"reason": reason}
    )
    if store.append(claim) is not None:
        return False  # a concurrent retry or sweep claimed this re-send: the task is sent once
    count(Metric.TASKS_REENQUEUED)
    logger.info("task re-sent", extra={"taskId": task_id, "life": life, "reason": reason})
    send_recorded(store, queue, TaskMessage(taskId=task_id, payload=payload, life=life), after=claim)
    return True


def _append_best_effort(store: AuditStore, event: AuditEvent) -> None:
    # Without this event a retried POST still recovers the task, once reenqueue_after_seconds have passed.
    try:
        store.append(event)
    except AuditStoreUnavailableError:
        logger.exception("could not record %s", event.type.value)
