"""Entry point of the sweeper function: an EventBridge scheduled event re-sends the tasks stranded in QUEUED."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.observability import capture_lambda_handler, logger, metrics


@metrics.log_metrics
@capture_lambda_handler
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # First call only: pydantic models and boto3.
    from handlers.dal import clients
    from handlers.dal.audit_store import AuditStore
    from handlers.dal.queue import TaskQueue
    from handlers.logic.sweep import sweep_stranded
    from handlers.models.settings import sweeper_settings

    settings = sweeper_settings()
    store = AuditStore.of_function(settings)
    queue = TaskQueue(clients.sqs(), settings.processing_queue_url)
    with clients.invocation_deadline(context):
        # New work (a page of the index, a re-send) starts only while one worst-case call still fits after it;
        # a re-send cut short by the deadline leaves a task the next sweep finds stranded again.
        budget = clients.time_for_new_work(settings.call_budget.worst_case_call)
        result = sweep_stranded(settings, store, queue, budget_seconds=budget)
    logger.info("sweep done", extra=result.model_dump())
    return result.model_dump()
