"""HTTP answers for errors: the status comes from the exception's type, the body has one shape everywhere."""

import json
from http import HTTPStatus
from typing import Any

from handlers.errors import (
    BadRequestError,
    PayloadTooLargeError,
    ServiceUnavailableError,
    TaskConflictError,
    TaskNotFoundError,
    UnsupportedMediaTypeError,
)

STATUS_BY_ERROR: dict[type[Exception], HTTPStatus] = {
    BadRequestError: HTTPStatus.BAD_REQUEST,
    PayloadTooLargeError: HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    UnsupportedMediaTypeError: HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
    TaskNotFoundError: HTTPStatus.NOT_FOUND,
    TaskConflictError: HTTPStatus.CONFLICT,
    ServiceUnavailableError: HTTPStatus.SERVICE_UNAVAILABLE,
}
# A 503 is worth retrying at once: the retried POST re-sends the task (see logic.submit).
RETRY_AFTER_SECONDS = "1"


def status_of(exc: Exception) -> HTTPStatus:
    """The status of the nearest mapped class in the exception's MRO."""
    for cls in type(exc).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return HTTPStatus.INTERNAL_SERVER_ERROR


def error_body(
    status: HTTPStatus, error: str, message: str, detail: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """`{"statusCode", "error", "message", "detail"?}`."""
    body: dict[str, Any] = {"statusCode": int(status), "error": error, "message": message}
    if detail is not None:
        body["detail"] = detail
    return body


def error_name(exc: Exception) -> str:
    """TaskConflictError -> TaskConflict."""
    return type(exc).__name__.removesuffix("Error")


def error_headers(status: HTTPStatus) -> dict[str, str]:
    """Retry-After on a 503."""
    return {"Retry-After": RETRY_AFTER_SECONDS} if status == HTTPStatus.SERVICE_UNAVAILABLE else {}


def proxy_response(exc: Exception) -> dict[str, Any]:
    """A Lambda proxy answer for an error raised before the resolver runs."""
    status = status_of(exc)
    return {
        "statusCode": int(status),
        "headers": {"Content-Type": "application/json", **error_headers(status)},
        "body": json.dumps(error_body(status, error_name(exc), str(exc))),
        "isBase64Encoded": False,
    }
