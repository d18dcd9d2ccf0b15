"""One dead-letter record: record DEAD_LETTERED with what redrive needs, handle it, record CLEANED_UP."""

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import ValidationError

from handlers.dal.audit_store import AuditStore
from handlers.dal.queue import POISON_ATTRIBUTE
from handlers.dal.schema import TERMINAL_SLOT
from handlers.errors import AuditStoreUnavailableError
from handlers.logic.describe import describe_validation
from handlers.models.contract import Metric
from handlers.models.events import AuditEvent, EventType
from handlers.models.message import TaskMessage
from handlers.models.settings import DeadLetterSettings
from handlers.observability import count, log_payload, logger


def dead_letter_record(record: SQSRecord, settings: DeadLetterSettings, store: AuditStore) -> None:
    """Return to have the message deleted; raise (a store failure) to have it retried. Reads the history once,
    off the hot path, for the attempts made and the last error."""
    logger.set_correlation_id(None)
    try:
        message = TaskMessage.model_validate_json(record.body)
    except ValidationError as exc:
        _discard_poison(record, settings, describe_validation(exc.errors(include_url=False, include_input=False)))
        return
    logger.set_correlation_id(message.taskId)
    retries = _retries(store, message)
    # SQS moves a message only after maxReceiveCount receives, though a crashed attempt leaves no event behind.
    attempts = max([settings.max_receive_count, *(event.attempt or 0 for event in retries)])
    fields: dict[str, str | int] = {"attempts": attempts, "message": record.body}
    if retries:
        fields["lastError"] = retries[-1].fields.get("error", "")
    dead = AuditEvent(message.taskId, EventType.DEAD_LETTERED, life=message.life, slot=TERMINAL_SLOT, fields=fields)
    stored = store.append(dead)
    if stored is not None and stored.type is EventType.SUCCEEDED:
        # A duplicate message of a task that succeeded: its one terminal event is already written.
        logger.info("dead-lettered copy of a succeeded task dropped", extra={"messageId": record.message_id})
        return
    if stored is None:
        count(Metric.TASKS_DEAD_LETTERED)
        logger.error(
            "task dead-lettered",
            extra={"attempts": attempts, "lastError": fields.get("lastError"), "life": message.life},
        )
        log_payload(settings.log_payloads, "dead-lettered payload", message.payload)
    cleaned = AuditEvent(message.taskId, EventType.CLEANED_UP, life=message.life, slot=TERMINAL_SLOT, rank=1)
    store.append(cleaned)


def _retries(store: AuditStore, message: TaskMessage) -> list[AuditEvent]:
    # The last error is recorded "when known": a failed read must not keep the task from being dead-lettered.
    try:
        events = store.history(message.taskId)
    except AuditStoreUnavailableError:
        logger.exception("could not read the history; dead-lettering without the last error")
        return []
    return [event for event in events if event.life == message.life and event.type is EventType.RETRY_SCHEDULED]


def _discard_poison(record: SQSRecord, settings: DeadLetterSettings, parse_error: str) -> None:
    # No task to attach it to: the log line and the metric are its record, then it is deleted.
    tagged = record.message_attributes[POISON_ATTRIBUTE]
    reason = (tagged.string_value if tagged else None) or parse_error
    count(Metric.POISON_MESSAGES)
    logger.error("poison message discarded", extra={"messageId": record.message_id, "reason": reason})
    log_payload(settings.log_payloads, "poison message body", record.body)
