"""Submitting a task: record RECEIVED, enqueue it, and make a retried POST idempotent and able to recover a task
whose first send failed or was lost (by the outbox's rule, handlers.logic.outbox)."""

from handlers.dal.audit_store import AuditStore
from handlers.dal.queue import TaskQueue
from handlers.dal.schema import GATEWAY_SLOT
from handlers.errors import TaskConflictError
from handlers.logic.outbox import resend_cutoff, resend_if_stranded, send_recorded
from handlers.logic.payload import canonical_json, payload_hash
from handlers.models.contract import Metric
from handlers.models.events import AuditEvent, EventType, TaskStatus
from handlers.models.input import TaskSubmission
from handlers.models.message import TaskMessage
from handlers.models.output import TaskAccepted
from handlers.models.settings import GatewaySettings
from handlers.observability import count, log_payload, logger


def submit_task(
    submission: TaskSubmission, settings: GatewaySettings, store: AuditStore, queue: TaskQueue
) -> TaskAccepted:
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
    stored = store.append(received)
    if stored is None:
        count(Metric.TASKS_RECEIVED)
        log_payload(settings.log_payloads, "task received", submission.payload)
        send_recorded(store, queue, TaskMessage(taskId=task_id, payload=submission.payload, life=0), after=received)
        return _accepted(received)
    if stored.fields.get("payloadHash") != received.fields["payloadHash"]:
        raise TaskConflictError(f"task {task_id!r} was already submitted with another payload")
    # The sweeper's rule, so that a retried POST does not send a task whose message waits behind a backlog.
    _, sent_before = resend_cutoff(queue, settings.reenqueue_after_seconds, settings.stranded_after_seconds)
    resend_if_stranded(store, queue, store.history(task_id), submission.payload, sent_before)
    return _accepted(stored)


def _accepted(received: AuditEvent) -> TaskAccepted:
    # Built from the stored RECEIVED only, so that every repeat of a submission gets the very same body.
    return TaskAccepted(taskId=received.task_id, status=TaskStatus.QUEUED, receivedAt=received.at)
