"""Submitting a task: record RECEIVED, enqueue it, and make a retried POST idempotent and able to recover."""

from datetime import UTC, datetime

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
    # Stranded: the current life has no processing event yet, and its last gateway event is an ENQUEUE_FAILED,
    # or is older than the gateway can run (the function died between its write and its send).
    events = audit_store.history(settings.audit_table_name, submission.task_id)
    life = events[-1].life
    current = [event for event in events if event.life == life]
    if any(event.slot != GATEWAY_SLOT for event in current):
        return
    last = current[-1]
    if last.type is EventType.ENQUEUE_FAILED:
        reason = "the previous send failed"
    elif _age_seconds(last.at) >= settings.reenqueue_after_seconds:
        reason = f"no processing event {settings.reenqueue_after_seconds:g} s after {last.type.value}"
    else:
        return  # most likely in the queue already, or being sent by a concurrent request
    if last.rank + 2 > MAX_RANK:
        raise EnqueueFailedError(f"task {submission.task_id!r}: too many failed sends, giving up re-sending")
    claim = AuditEvent(
        submission.task_id,
        EventType.REENQUEUED,
        life=life,
        slot=GATEWAY_SLOT,
        rank=last.rank + 1,
        fields={"reason": reason},
    )
    if audit_store.append(settings.audit_table_name, claim) is not None:
        return  # a concurrent retry claimed this re-send: the task is sent once
    count("TasksReenqueued")
    _enqueue(settings, TaskMessage(taskId=submission.task_id, payload=submission.payload, life=life), after=claim)


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


def _age_seconds(at: str) -> float:
    return (datetime.now(UTC) - datetime.fromisoformat(at.replace("Z", "+00:00"))).total_seconds()


def _accepted(received: AuditEvent) -> TaskAccepted:
    # Built from the stored RECEIVED only, so that every repeat of a submission gets the very same body.
    return TaskAccepted(taskId=received.task_id, status=TaskStatus.QUEUED, receivedAt=received.at)
