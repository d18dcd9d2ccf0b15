"""Submitting a task: record RECEIVED, enqueue it, and make a retried POST idempotent and able to recover; the
re-send of a stranded task is shared with the sweeper (handlers.logic.sweep)."""

from datetime import UTC, datetime, timedelta
from typing import Any

from handlers.dal import audit_store, queue
from handlers.dal.schema import GATEWAY_SLOT, MAX_RANK
from handlers.errors import AuditStoreUnavailableError, EnqueueFailedError, TaskConflictError
from handlers.logic.describe import describe_exception
from handlers.logic.payload import canonical_json, payload_hash
from handlers.models.events import AuditEvent, EventType, TaskStatus
from handlers.models.input import TaskSubmission
from handlers.models.message import TaskMessage
from handlers.models.output import TaskAccepted
from handlers.models.settings import GatewaySettings
from handlers.observability import count, log_payload, logger


def submit_task(submission: TaskSubmission, settings: GatewaySettings) -> TaskAccepted:
    """Hot path: one conditional put and one send. A repeat of the same payload reads the history (off the hot
    path) to re-send a task whose first send failed or was lost; another payload under the same id is a conflict."""
    task_id = submission.task_id
    logger.set_correlation_id(task_id)
    canonical = canonical_json(submission.payload)
    received = AuditEvent(
        task_id,
        EventType.RECEIVED,
        life=0,
        slot=GATEWAY_SLOT,
        fields={"payload": canonical, "payloadHash": payload_hash(canonical)},
    )
    stored = audit_store.append(settings.audit_table_name, received)
    if stored is None:
        count("TasksReceived")
        log_payload(settings.log_payloads, "task received", submission.payload)
        _enqueue(settings, TaskMessage(taskId=task_id, payload=submission.payload, life=0), after=received)
        return _accepted(received)
    if stored.fields.get("payloadHash") != received.fields["payloadHash"]:
        raise TaskConflictError(f"task {task_id!r} was already submitted with another payload")
    _resend_if_stranded(settings, submission)
    return _accepted(stored)


def _resend_if_stranded(settings: GatewaySettings, submission: TaskSubmission) -> None:
    # The sweeper's rule, so that a retried POST does not send a task whose message waits behind a backlog.
    _, sent_before = resend_cutoff(
        settings.processing_queue_url, settings.reenqueue_after_seconds, settings.stranded_after_seconds
    )
    events = audit_store.history(settings.audit_table_name, submission.task_id)
    resend_if_stranded(
        settings.audit_table_name, settings.processing_queue_url, events, submission.payload, sent_before
    )


def resend_cutoff(queue_url: str, reenqueue_after: float, stranded_after: float) -> tuple[bool, datetime]:
    """Whether the processing queue is empty, and the moment before which a task's last gateway event must have
    been written for the task to be re-sent (`sent_before` of resend_if_stranded). Call it before reading the
    history: a message processed after this check then has its events in the history read after it.

    Any send that followed a gateway event happened within the gateway's timeout (`reenqueue_after`), so an older
    event with nothing after it and an empty queue means that send was lost. While the queue holds messages, the
    task's own may be among them, behind a backlog: it is re-sent only once older than `stranded_after`."""
    checked_at = datetime.now(UTC)
    queue_empty = queue.is_empty(queue_url)
    wait = min(stranded_after, reenqueue_after) if queue_empty else stranded_after
    return queue_empty, checked_at - timedelta(seconds=wait)


def resend_if_stranded(
    table: str, queue_url: str, events: list[AuditEvent], payload: dict[str, Any], sent_before: datetime
) -> bool:
    """Re-send the task of `events` (its whole history) if its current life is stranded: no processing event yet,
    and its last gateway event an ENQUEUE_FAILED, or written before `sent_before` (a moment by which any send
    that followed it must have happened). One implementation for the gateway (a retried POST) and the sweeper.

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
    elif _parse_at(last.at) <= sent_before:
        reason = f"no processing event since {last.type.value} at {last.at}"
    else:
        return False  # most likely in the queue already, or being sent by a concurrent request
    if last.rank + 2 > MAX_RANK:
        raise EnqueueFailedError(f"task {task_id!r}: too many failed sends, giving up re-sending")
    claim = AuditEvent(
        task_id, EventType.REENQUEUED, life=life, slot=GATEWAY_SLOT, rank=last.rank + 1, fields={"reason": reason}
    )
    if audit_store.append(table, claim) is not None:
        return False  # a concurrent retry or sweep claimed this re-send: the task is sent once
    count("TasksReenqueued")
    logger.info("task re-sent", extra={"taskId": task_id, "life": life, "reason": reason})
    enqueue_recorded(table, queue_url, TaskMessage(taskId=task_id, payload=payload, life=life), after=claim)
    return True


def _enqueue(settings: GatewaySettings, message: TaskMessage, after: AuditEvent) -> None:
    enqueue_recorded(settings.audit_table_name, settings.processing_queue_url, message, after)


def enqueue_recorded(table: str, queue_url: str, message: TaskMessage, after: AuditEvent) -> None:
    """Send a task whose gateway-slot event `after` (RECEIVED, REENQUEUED or REDRIVEN) is recorded; a failed send
    records ENQUEUE_FAILED next to it (best effort) and raises EnqueueFailedError."""
    try:
        queue.send_task(queue_url, message)
    except EnqueueFailedError as exc:
        failed = AuditEvent(
            message.taskId,
            EventType.ENQUEUE_FAILED,
            life=after.life,
            slot=GATEWAY_SLOT,
            rank=after.rank + 1,
            fields={"error": describe_exception(exc)},
        )
        _append_best_effort(table, failed)
        raise


def _append_best_effort(table: str, event: AuditEvent) -> None:
    # Without this event a retried POST still recovers the task, once reenqueue_after_seconds have passed.
    try:
        audit_store.append(table, event)
    except AuditStoreUnavailableError:
        logger.exception("could not record %s", event.type.value)


def _parse_at(at: str) -> datetime:
    return datetime.fromisoformat(at.replace("Z", "+00:00"))


def _accepted(received: AuditEvent) -> TaskAccepted:
    # Built from the stored RECEIVED only, so that every repeat of a submission gets the very same body.
    return TaskAccepted(taskId=received.task_id, status=TaskStatus.QUEUED, receivedAt=received.at)
