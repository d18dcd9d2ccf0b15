"""The batch processor both queue consumers share."""

import logging
from typing import Any, cast

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.batch.base import FailureResponse
from aws_lambda_powertools.utilities.batch.exceptions import ExceptionInfo

from handlers.errors import TaskAttemptFailedError
from handlers.models.contract import Metric
from handlers.observability import count, logger


class CountingBatchProcessor(BatchProcessor):
    """Counts every record it answers as failed, but a task's own failed attempt, as RecordsFailed.

    A failing record is a successful invocation (the batch answers with batchItemFailures), so AWS/Lambda Errors never
    sees it: this metric is the only signal that records fail because of the table, the queue, the invocation's time
    or a bug. A task's own failed attempt is not one of them: it is a TaskRetries, retried by design."""

    def failure_handler(self, record: Any, exception: ExceptionInfo) -> FailureResponse:
        if not isinstance(exception[1], TaskAttemptFailedError):
            count(Metric.RECORDS_FAILED)
        return super().failure_handler(record, exception)


def sqs_batch_processor() -> BatchProcessor:
    """A batch whose records all fail is answered like any other (every record listed), not raised as an error;
    each failed record is logged with its traceback (Powertools' Logger has the logging.Logger methods it calls)."""
    return CountingBatchProcessor(
        event_type=EventType.SQS, raise_on_entire_batch_failure=False, logger=cast(logging.Logger, logger)
    )
