"""Entry point of the dead-letter function: a batch from the dead-letter queue, answered with batchItemFailures."""

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
    from handlers.logic.dead_letter import dead_letter_record
    from handlers.models.settings import dead_letter_settings

    settings = dead_letter_settings()
    store = AuditStore.of_function(settings)
    record_handler = partial(dead_letter_record, settings=settings, store=store)
    # Records left when the time for AWS calls runs out fail, and only they come back, not the whole batch.
    with clients.invocation_deadline(context):
        return process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
