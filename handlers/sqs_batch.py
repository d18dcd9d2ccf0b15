"""The batch processor both queue consumers share."""

import logging
from typing import cast

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

from handlers.observability import logger


def sqs_batch_processor() -> BatchProcessor:
    """A batch whose records all fail is answered like any other (every record listed), not raised as an error;
    each failed record is logged with its traceback (Powertools' Logger has the logging.Logger methods it calls)."""
    return BatchProcessor(
        event_type=EventType.SQS, raise_on_entire_batch_failure=False, logger=cast(logging.Logger, logger)
    )
