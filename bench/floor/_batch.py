"""The queue consumers' shape: Powertools' batch utility, each record's body validated with the pydantic model, then
the baseline's work for the record. Apart from _powertools so that the gateway and the sweeper do not import it."""

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from floor._powertools import Task, count, observed


def sqs_consumer(work: Callable[[dict[str, Any]], None], metric: str) -> Callable[[Any, Any], Any]:
    """A handler that runs `work` on each record of an SQS batch and counts `metric` for each one done."""
    processor = BatchProcessor(event_type=EventType.SQS)

    def record_handler(record: SQSRecord) -> None:
        Task.model_validate_json(record.body)
        work(record.raw_event)
        count(metric)

    @observed
    def handler(event: dict[str, Any], context: Any) -> Any:
        return process_partial_response(event, record_handler, processor, context)

    return handler
