"""Entry point of the API function (REST API proxy events): POST /api/v1/tasks, GET /api/v1/tasks/{taskId}."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.observability import capture_lambda_handler, logger, metrics


@metrics.log_metrics
@capture_lambda_handler
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    from handlers.api.routes import resolve  # on the first request, not at cold start: see handlers/api/routes.py
    from handlers.dal import clients

    # A table or queue that stalls is a 503 with Retry-After before the invocation's end, not API Gateway's 502.
    with clients.invocation_deadline(context):
        return resolve(event, context)
