"""The gateway's resolver: routes, validation by the pydantic models, and one error handler per exception type.
Imported on the first request, not at cold start: the validating resolver is the heaviest import of the gateway."""

from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from handlers.api.errors import STATUS_BY_ERROR, error_body, error_headers, error_name, status_of
from handlers.api.guard import json_request_guard
from handlers.dal import clients
from handlers.dal.audit_store import AuditStore
from handlers.dal.queue import TaskQueue
from handlers.errors import ServiceUnavailableError
from handlers.logic.describe import describe_validation
from handlers.logic.history import task_history
from handlers.logic.listing import list_tasks
from handlers.logic.redrive import redrive_task
from handlers.logic.submit import submit_task
from handlers.models.contract import API_BASE_PATH
from handlers.models.events import TaskStatus
from handlers.models.input import TASK_ID_PATTERN, TaskSubmission
from handlers.models.output import ErrorBody, TaskAccepted, TaskHistory, TaskPage, TaskProof, TaskRedriven
from handlers.models.settings import gateway_settings
from handlers.observability import logger

# API Gateway proxies the whole path (/api/v1/tasks); stripping the base path also serves /tasks.
app = APIGatewayRestResolver(enable_validation=True, strip_prefixes=[API_BASE_PATH])

ERROR_RESPONSES: dict[int, OpenAPIResponse] = {
    int(status): {"description": status.phrase, "content": {"application/json": {"model": ErrorBody}}}
    for status in (*STATUS_BY_ERROR.values(), HTTPStatus.UNPROCESSABLE_ENTITY)
}
ACCEPTED: dict[int, OpenAPIResponse] = {
    int(HTTPStatus.ACCEPTED): {"description": "Accepted", "content": {"application/json": {"model": TaskAccepted}}}
}
REDRIVEN: dict[int, OpenAPIResponse] = {
    int(HTTPStatus.ACCEPTED): {"description": "Redriven", "content": {"application/json": {"model": TaskRedriven}}}
}
MAX_PAGE = 100
MAX_CURSOR_CHARS = 8192


def _store() -> AuditStore:
    return AuditStore.of_function(gateway_settings())


def _queue() -> TaskQueue:
    return TaskQueue(clients.sqs(), gateway_settings().processing_queue_url)


@app.get("/swagger", include_in_schema=False)
def swagger() -> Response[str]:
    """The Swagger UI; `?format=json` the OpenAPI document (both generated on request, see handlers/api/docs.py)."""
    from handlers.api.docs import swagger_response

    return swagger_response(app, gateway_settings().api_auth)


@app.post(
    "/tasks",
    summary="Submit a task",
    description="202 once RECEIVED is recorded and the task enqueued; a repeat with the same payload gets the "
    "same 202 and body without a second enqueue; another payload under the same taskId gets 409. The body is read "
    "as JSON under application/json (any parameters), text/plain, application/x-www-form-urlencoded (what "
    "`curl -d` sends) or no Content-Type; another type (multipart, XML) gets 415.",
    responses=ACCEPTED | ERROR_RESPONSES,
)
def post_task(submission: Annotated[TaskSubmission, Body()]) -> Response[TaskAccepted]:
    accepted = submit_task(submission, gateway_settings(), _store(), _queue())
    return Response(status_code=HTTPStatus.ACCEPTED, content_type=content_types.APPLICATION_JSON, body=accepted)


@app.get("/tasks/<taskId>", summary="A task's state and history", responses=ERROR_RESPONSES)
def get_task(taskId: Annotated[str, Path(pattern=TASK_ID_PATTERN)]) -> TaskHistory:  # noqa: N803 - the URL's name
    logger.set_correlation_id(taskId)
    return task_history(_store(), taskId)


@app.get(
    "/tasks",
    summary="Tasks by current status, newest first",
    description="From the status index (no scan); each task appears once, under the status it is in now. "
    "`since`: 30m, 1h, 2d or an ISO 8601 time. Pass `nextCursor` back as `cursor` for the next page; the cursor "
    "keeps the first page's status, `since` and moment: a listing shows each task once, as it was when the first "
    "page was asked for.",
    responses=ERROR_RESPONSES,
)
def get_tasks(
    status: Annotated[TaskStatus | None, Query(description="QUEUED, RETRYING, SUCCEEDED or DEAD_LETTERED")] = None,
    since: Annotated[str | None, Query(max_length=64, description="30m, 1h, 2d, or an ISO 8601 time")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
    cursor: Annotated[str | None, Query(max_length=MAX_CURSOR_CHARS)] = None,
) -> TaskPage:
    # A third of the time left, so that a table of many settled tasks shortens the page (its cursor goes on from
    # there) instead of running the request into the function's timeout.
    budget = app.lambda_context.get_remaining_time_in_millis() / 3000
    return list_tasks(_store(), status, since, limit, cursor, budget_seconds=budget)


@app.get(
    "/tasks/<taskId>/proof",
    summary="Prove a task's history against the signed digests",
    description="Each event of the task is looked up in the signed digest of the period it was recorded in: "
    "verified (unaltered, with its MAC, in a digest whose signature verifies), pending (its period is not sealed "
    "yet), or what is wrong (altered, moved, deleted, inserted outside the pipeline). `tasktrail verify` checks the "
    "whole chain of digests as well.",
    responses=ERROR_RESPONSES,
)
def get_proof(taskId: Annotated[str, Path(pattern=TASK_ID_PATTERN)]) -> TaskProof:  # noqa: N803 - the URL's name
    from handlers.dal.digest_store import DigestSigner, DigestStore
    from handlers.logic.verify import task_proof

    logger.set_correlation_id(taskId)
    settings = gateway_settings()
    if not settings.digest_bucket or not settings.signing_key_id:
        raise ServiceUnavailableError("this stack keeps no digests")
    store = _store()
    return task_proof(
        taskId,
        store,
        DigestStore(clients.s3(), settings.digest_bucket),
        DigestSigner(clients.kms(), settings.signing_key_id),
        store.mac_keys,
        settings.digest_period_seconds,
        settings.digest_grace_seconds,
    )


@app.post(
    "/tasks/<taskId>/redrive",
    summary="Redrive a dead-lettered task",
    description="Starts the task's next life from its original message: REDRIVEN is recorded and the task "
    "enqueued. 409 unless the task is DEAD_LETTERED now (so a task is redriven once per failure).",
    responses=REDRIVEN | ERROR_RESPONSES,
)
def post_redrive(taskId: Annotated[str, Path(pattern=TASK_ID_PATTERN)]) -> Response[TaskRedriven]:  # noqa: N803
    logger.set_correlation_id(taskId)
    identity = app.current_event.request_context.identity
    requested_by = f"api (request {app.current_event.request_context.request_id}, ip {identity.source_ip})"
    redriven = redrive_task(_store(), _queue(), taskId, requested_by)
    return Response(status_code=HTTPStatus.ACCEPTED, content_type=content_types.APPLICATION_JSON, body=redriven)


@app.exception_handler(list(STATUS_BY_ERROR))
def domain_error(exc: Exception) -> Response[dict[str, Any]]:
    status = status_of(exc)
    if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        logger.warning("answering %s", int(status), exc_info=exc)
    return _answer(status, error_body(status, error_name(exc), str(exc)))


@app.exception_handler(RequestValidationError)
def invalid_request(exc: RequestValidationError) -> Response[dict[str, Any]]:
    errors = [{"loc": list(e.get("loc", ())), "type": e.get("type"), "msg": e.get("msg")} for e in exc.errors()]
    status = HTTPStatus.UNPROCESSABLE_ENTITY
    return _answer(status, error_body(status, "ValidationError", describe_validation(errors), detail=errors))


@app.not_found
def no_route(exc: NotFoundError) -> Response[dict[str, Any]]:
    event = app.current_event
    message = f"no route for {event.http_method} {event.path}"
    return _answer(HTTPStatus.NOT_FOUND, error_body(HTTPStatus.NOT_FOUND, "NotFound", message))


@app.exception_handler(Exception)
def unexpected_error(exc: Exception) -> Response[dict[str, Any]]:
    # A bug: logged with its traceback, answered as JSON rather than API Gateway's bare 502.
    logger.exception("unhandled error")
    status = HTTPStatus.INTERNAL_SERVER_ERROR
    return _answer(status, error_body(status, "InternalError", "internal error"))


def _answer(status: HTTPStatus, body: dict[str, Any]) -> Response[dict[str, Any]]:
    return Response(
        status_code=int(status), content_type=content_types.APPLICATION_JSON, body=body, headers=error_headers(status)
    )


@json_request_guard
def resolve(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Answer one REST API proxy event."""
    return app.resolve(event, context)
