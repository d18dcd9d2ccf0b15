"""One processing record: run the worker, then record SUCCEEDED, or back off and record RETRY_SCHEDULED."""

import math
import time
from dataclasses import dataclass

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import ValidationError

from handlers.dal.audit_store import AuditStore
from handlers.dal.queue import TaskQueue
from handlers.dal.schema import TERMINAL_SLOT
from handlers.errors import PoisonMessageError, QueueUnavailableError, TaskAttemptFailedError
from handlers.logic.describe import describe_exception, describe_validation
from handlers.logic.worker import load_worker
from handlers.models.contract import SQS_MAX_VISIBILITY_TIMEOUT, Metric
from handlers.models.events import AuditEvent, EventType
from handlers.models.message import TaskMessage, TaskRun
from handlers.models.settings import ProcessingSettings
from handlers.observability import count, log_payload, logger


def retry_visibility_timeout(attempt: int, base: int, seconds_since_sent: float = 0) -> int:
    """Backoff after attempt n failed: n x base seconds, capped at SQS's 12 hours. SQS refuses a visibility that
    would end over 12 h after the receive (moto: after the send), so the cap is what is left of those 12 h counted
    from the send, the earlier of the two, less a second for the request's own latency."""
    return min(attempt * base, SQS_MAX_VISIBILITY_TIMEOUT - math.ceil(seconds_since_sent) - 1)


@dataclass(frozen=True)
class Processing:
    """What the processing function works with, bound once per invocation by its entry point."""

    settings: ProcessingSettings
    store: AuditStore
    source: TaskQueue  # the queue the batch came from: the processing queue
    dead_letter: TaskQueue | None  # where a message that is not a task goes at once


def process_record(record: SQSRecord, processing: Processing) -> None:
    """Raise to fail the record (it is retried after its backoff); return to have it deleted. Hot path of a
    success: the worker and one conditional put, no read (a redelivery may re-run the work, never re-record it)."""
    settings = processing.settings
    logger.set_correlation_id(None)
    try:
        message = TaskMessage.model_validate_json(record.body)
    except ValidationError as exc:
        reason = describe_validation(exc.errors(include_url=False, include_input=False))
        _quarantine(record, processing, reason=reason)
        return
    logger.set_correlation_id(message.taskId)
    attempt = int(record.attributes.approximate_receive_count or 1)
    log_payload(settings.log_payloads, "task payload", message.payload)
    run = TaskRun(message.taskId, message.payload, message.life, attempt, settings.fault_injection)
    try:
        load_worker(settings.task_worker)(run)
    except Exception as exc:  # whatever the worker raises fails this attempt, and only it
        _schedule_retry(record, run, exc, processing)
        raise TaskAttemptFailedError(f"attempt {attempt} of task {run.task_id!r} failed") from exc
    succeeded = AuditEvent(run.task_id, EventType.SUCCEEDED, life=run.life, slot=TERMINAL_SLOT, attempt=attempt)
    if processing.store.append(succeeded) is None:
        count(Metric.TASKS_SUCCEEDED)
    logger.info("task succeeded", extra={"attempt": attempt, "life": run.life})


def _schedule_retry(record: SQSRecord, run: TaskRun, error: Exception, processing: Processing) -> None:
    settings = processing.settings
    sent = int(record.attributes.sent_timestamp or time.time() * 1000) / 1000
    timeout = retry_visibility_timeout(run.attempt, settings.base_visibility_timeout, time.time() - sent)
    try:
        if timeout <= 0:  # over 12 h since the send: no visibility can be set, the queue's own applies
            raise QueueUnavailableError("the message was sent over 12 hours ago")
        processing.source.change_visibility(record.receipt_handle, timeout)
    except QueueUnavailableError:
        logger.exception("could not set the retry backoff; the queue's own visibility timeout applies")
        timeout = settings.base_visibility_timeout
    retry = AuditEvent(
        run.task_id,
        EventType.RETRY_SCHEDULED,
        life=run.life,
        slot=run.attempt,
        attempt=run.attempt,
        fields={"visibilityTimeout": timeout, "error": describe_exception(error)},
    )
    if processing.store.append(retry) is None:
        count(Metric.TASK_RETRIES)
    logger.warning(
        "task attempt failed",
        extra={
            "attempt": run.attempt,
            "life": run.life,
            "visibilityTimeout": timeout,
            "error": retry.fields["error"],
            "deadLetterNext": run.attempt >= settings.max_receive_count,
        },
    )


def _quarantine(record: SQSRecord, processing: Processing, reason: str) -> None:
    # Not a task at all: retrying cannot help, so it goes to the DLQ now rather than after maxReceiveCount tries.
    count(Metric.POISON_MESSAGES)
    logger.error("poison message", extra={"messageId": record.message_id, "reason": reason, "bytes": len(record.body)})
    log_payload(processing.settings.log_payloads, "poison message body", record.body)
    if processing.dead_letter is not None:
        processing.dead_letter.send_poison(record.body, reason)
        return
    # No DLQ URL configured: make it visible again at once, so that SQS's redrive moves it after quick receives.
    processing.source.change_visibility(record.receipt_handle, 0)
    raise PoisonMessageError(reason)
