"""Entry point of the dead-letter function: a batch from the dead-letter queue, answered with batchItemFailures."""

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
    from handlers.logic.dead_letter import dead_letter_record  # first call only: pydantic models and boto3

    return process_partial_response(
        event=event, record_handler=dead_letter_record, processor=processor, context=context
    )
