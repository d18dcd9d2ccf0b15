"""Checks on the raw request that must run before the resolver's validation, which parses the body itself:
content type (415), size (413), encoding, JSON syntax and nesting (400). Nothing is recorded for a rejected body.

The body is read as JSON under the content types clients send by habit: none, application/json (with any
parameters) and its +json relatives, text/plain, and application/x-www-form-urlencoded, which is what
`curl -d '{...}'` sends. A content type that announces another format (multipart, XML, ...) is a 415."""

import base64
import binascii
import json
import math
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from handlers.api.errors import proxy_response
from handlers.errors import BadRequestError, PayloadTooLargeError, TaskTrailError, UnsupportedMediaTypeError
from handlers.models.settings import gateway_settings

# Far deeper than any task needs; bounding it keeps every later json.dumps and validation clear of recursion limits.
MAX_JSON_DEPTH = 64
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
JSON_MEDIA_TYPE = "application/json"
# Sent with a JSON body by habit: curl -d (form-urlencoded), fetch() with a string body (text/plain).
JSON_BY_HABIT = frozenset({JSON_MEDIA_TYPE, "text/plain", "application/x-www-form-urlencoded"})

Resolve = TypeVar("Resolve", bound=Callable[[dict[str, Any], Any], dict[str, Any]])


def json_request_guard(resolve: Resolve) -> Resolve:
    """Answer a bad body with its 4xx at once; pass a good one on with its content type normalized, since the
    resolver's validation only knows the exact lowercase `application/json`."""

    @wraps(resolve)
    def guarded(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if event.get("httpMethod") not in BODY_METHODS:
            return resolve(event, context)
        try:
            # An empty body too: the resolver's own parser fails with a 500 on a content type it does not read.
            check_content_type(event)
            if event.get("body"):
                check_json_body(event, gateway_settings().max_body_bytes)
        except TaskTrailError as exc:
            return proxy_response(exc)
        return resolve(_with_json_content_type(event), context)

    return guarded  # type: ignore[return-value]


def check_content_type(event: dict[str, Any]) -> None:
    """UnsupportedMediaTypeError unless the content type is one a JSON body comes under (or there is none)."""
    media_type = _content_type(event)
    if media_type is not None and media_type not in JSON_BY_HABIT and not media_type.endswith("+json"):
        raise UnsupportedMediaTypeError(
            "Content-Type must be application/json (text/plain and application/x-www-form-urlencoded holding JSON "
            f"are read too), not {media_type!r}"
        )


def check_json_body(event: dict[str, Any], max_bytes: int) -> Any:
    """The parsed body, or the domain error that says what is wrong with it."""
    check_content_type(event)
    raw = _body_bytes(event)
    if len(raw) > max_bytes:
        raise PayloadTooLargeError(f"body is {len(raw)} bytes; the limit is {max_bytes}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequestError(f"body is not valid UTF-8 (byte {exc.start})") from exc
    document = _parse(text)
    _check_depth(document)
    try:
        # Compact, as the audit table and the queue will hold it.
        stored = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadRequestError("a JSON string holds an unpaired surrogate (\\ud800-\\udfff)") from exc
    if len(stored) > max_bytes:
        # A number like 1e9 is written back as 1000000000.0: a body within the limit can outgrow DynamoDB's 400 KB
        # item once stored, and DynamoDB would refuse its RECEIVED on every retry: a 503 no client gets past.
        raise PayloadTooLargeError(f"body is {len(stored)} bytes once stored as JSON; the limit is {max_bytes}")
    return document


def _content_type(event: dict[str, Any]) -> str | None:
    # A missing Content-Type is read as JSON (curl --data-binary, simple clients); a wrong one is refused.
    for name, value in (event.get("headers") or {}).items():
        if name.lower() == "content-type" and value is not None:
            return str(value).split(";", 1)[0].strip().lower()
    return None


def _body_bytes(event: dict[str, Any]) -> bytes:
    body: str = event["body"]
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadRequestError("body is marked base64 but is not valid base64") from exc
    try:
        return body.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadRequestError(f"body is not valid UTF-8 (character {exc.start})") from exc


def _parse(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise BadRequestError(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    except RecursionError as exc:
        raise BadRequestError(f"malformed JSON: nested deeper than {MAX_JSON_DEPTH} levels") from exc
    except ValueError as exc:  # e.g. an integer longer than Python's int conversion limit
        raise BadRequestError(f"malformed JSON: {exc}") from exc


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    # 1e999 parses to inf, which would be stored as the non-JSON token Infinity and sent on as null.
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _check_depth(document: Any) -> None:
    # Iterative, so that checking depth cannot itself hit the recursion limit.
    level = [document]
    for depth in range(1, MAX_JSON_DEPTH + 2):
        level = [
            child
            for node in level
            if isinstance(node, dict | list)
            for child in (node.values() if isinstance(node, dict) else node)
            if isinstance(child, dict | list)
        ]
        if not level:
            return
        if depth >= MAX_JSON_DEPTH:
            raise BadRequestError(f"malformed JSON: nested deeper than {MAX_JSON_DEPTH} levels")


def _with_json_content_type(event: dict[str, Any]) -> dict[str, Any]:
    headers = {k: v for k, v in (event.get("headers") or {}).items() if k.lower() != "content-type"}
    multi = {k: v for k, v in (event.get("multiValueHeaders") or {}).items() if k.lower() != "content-type"}
    headers["content-type"] = JSON_MEDIA_TYPE
    if event.get("multiValueHeaders"):
        multi["content-type"] = [JSON_MEDIA_TYPE]
        return {**event, "headers": headers, "multiValueHeaders": multi}
    return {**event, "headers": headers}
