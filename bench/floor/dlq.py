"""Floor dead-letter consumer: Powertools' batch utility, each record's body validated with a pydantic model, around
the baseline's history read and two puts."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from baseline.dlq import dead_letter

from floor._powertools import Task, count, observed

processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> None:
    Task.model_validate_json(record.body)
    dead_letter(record.raw_event)
    count("TasksDeadLettered")


@observed
def handler(event: dict[str, Any], context: Any) -> Any:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
