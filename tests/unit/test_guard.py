"""The raw-request guard that runs before the resolver: content type, size, encoding, syntax and depth."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from handlers.api.guard import MAX_JSON_DEPTH, check_json_body
from handlers.errors import BadRequestError, PayloadTooLargeError, UnsupportedMediaTypeError


def event(body: str, content_type: str | None = "application/json", **extra: Any) -> dict[str, Any]:
    headers = {"content-type": content_type} if content_type else {}
    return {"httpMethod": "POST", "headers": headers, "body": body, **extra}


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "APPLICATION/JSON",
        "application/json; charset=utf-8",
        "application/x+json",
        # What clients send by habit with a JSON body: curl -d, and fetch() with a string.
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=UTF-8",
        "text/plain",
        "text/plain;charset=UTF-8",
    ],
)
def test_json_media_types_pass(content_type: str) -> None:
    assert check_json_body(event("{}", content_type), 100) == {}


def test_missing_content_type_is_read_as_json() -> None:
    assert check_json_body(event('{"a": 1}', None), 100) == {"a": 1}


@pytest.mark.parametrize(
    "content_type", ["application/xml", "text/xml", "multipart/form-data; boundary=x", "application/jsonp", ""]
)
def test_other_media_types_are_415(content_type: str) -> None:
    with pytest.raises(UnsupportedMediaTypeError):
        check_json_body({"headers": {"Content-Type": content_type}, "body": "{}"}, 100)


def test_size_counts_utf8_bytes() -> None:
    assert check_json_body(event('"' + "é" * 4 + '"'), 10) == "éééé"
    with pytest.raises(PayloadTooLargeError):
        check_json_body(event('"' + "é" * 5 + '"'), 11)


def test_base64_bodies_are_decoded() -> None:
    assert check_json_body(event(base64.b64encode(b'{"a": 1}').decode(), isBase64Encoded=True), 100) == {"a": 1}


@pytest.mark.parametrize(
    "body",
    ["{", "{'a': 1}", '{"a": Infinity}', '{"a": -Infinity}', "\ufeff{}", "[" * 5000 + "]" * 5000, "1" * 5000],
)
def test_malformed_json_is_400(body: str) -> None:
    with pytest.raises(BadRequestError, match="malformed JSON"):
        check_json_body(event(body), 1_000_000)


def test_depth_is_bounded() -> None:
    assert check_json_body(event("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH), 1000)
    with pytest.raises(BadRequestError, match="nested deeper"):
        check_json_body(event("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)), 1000)


def test_lone_surrogates_are_400() -> None:
    with pytest.raises(BadRequestError, match="surrogate"):
        check_json_body(event('{"a": "\\udc00"}'), 1000)
    with pytest.raises(BadRequestError, match="UTF-8"):
        check_json_body(event('{"a": "\udc00"}'), 1000)
