"""Entry point of the processing function: a batch from the processing queue, answered with batchItemFailures."""

from functools import partial
from typing import Any

from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.observability import capture_lambda_handler, logger, metrics
from handlers.sqs_batch import sqs_batch_processor

processor = sqs_batch_processor()


@metrics.log_metrics
@capture_lambda_handler
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    # First call only: pydantic models and boto3.
    from handlers.dal import clients
    from handlers.dal.audit_store import AuditStore
    from handlers.dal.queue import TaskQueue
    from handlers.logic.processing import Processing, process_record
    from handlers.models.settings import processing_settings

    settings = processing_settings()
    sqs = clients.sqs()
    records = event.get("Records") or [{}]
    # Every record of a batch comes from the mapping's one queue.
    source = (
        TaskQueue(sqs, settings.processing_queue_url)
        if settings.processing_queue_url
        else TaskQueue.from_arn(sqs, str(records[0].get("eventSourceARN", "")))
    )
    dead_letter = TaskQueue(sqs, settings.dead_letter_queue_url) if settings.dead_letter_queue_url else None
    bound = Processing(settings, AuditStore.of_function(settings), source, dead_letter)
    # Records left when the time for AWS calls runs out fail, and only they come back, not the whole batch.
    with clients.invocation_deadline(context):
        return process_partial_response(
            event=event, record_handler=partial(process_record, processing=bound), processor=processor, context=context
        )
