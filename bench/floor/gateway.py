"""Floor gateway: Powertools' REST resolver, validating the body with a pydantic model, around the baseline's put and
send."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body
from baseline.gateway import accept

from floor._powertools import Task, count, logger, observed

app = APIGatewayRestResolver(enable_validation=True, strip_prefixes=["/api/v1"])


@app.post("/tasks")
def post_task(task: Annotated[Task, Body()]) -> Response[dict[str, Any]]:
    accepted = accept(task.taskId, task.payload)
    logger.info("task received", extra={"taskId": task.taskId})
    count("TasksAccepted")
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=accepted)


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
