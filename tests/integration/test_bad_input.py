"""Every bad-input class of DESIGN.md: a 4xx naming the problem, never a 5xx, and nothing recorded or enqueued."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.conftest import Cloud

VALID = {"taskId": "ok", "payload": {}}
BIG = 262144


def deep(levels: int) -> str:
    return '{"taskId": "deep", "payload": ' + '{"a": ' * levels + "1" + "}" * levels + "}"


# (case, body, extra event arguments, expected status, text the answer must name)
CASES: list[tuple[str, Any, dict[str, Any], int, str]] = [
    ("malformed JSON", '{"taskId": "x", "payload": {', {}, 400, "malformed JSON"),
    ("trailing garbage", '{"taskId": "x", "payload": {}} x', {}, 400, "malformed JSON"),
    ("NaN is not JSON", '{"taskId": "x", "payload": {"v": NaN}}', {}, 400, "NaN"),
    ("5,000-deep nesting", deep(5000), {}, 400, "nested"),
    ("65-deep nesting", deep(65), {}, 400, "nested"),
    ("invalid UTF-8", b'{"taskId": "x", "payload": {"v": "\xff\xfe"}}', {}, 400, "UTF-8"),
    ("unpaired surrogate", '{"taskId": "x", "payload": {"v": "\\ud800"}}', {}, 400, "surrogate"),
    ("bad base64", "!!!", {"base64_body": True}, 400, "base64"),
    ("huge integer literal", '{"taskId": ' + "9" * 5000 + ', "payload": {}}', {}, 400, "malformed JSON"),
    ("top level array", "[1, 2]", {}, 422, "body"),
    ("empty object", {}, {}, 422, "taskId"),
    ("missing payload", {"taskId": "x"}, {}, 422, "payload"),
    ("unknown field", {**VALID, "priority": 1}, {}, 422, "priority"),
    ("taskId bool", {"taskId": True, "payload": {}}, {}, 422, "taskId"),
    ("taskId float", {"taskId": 1.0, "payload": {}}, {}, 422, "taskId"),
    ("taskId negative", {"taskId": -1, "payload": {}}, {}, 422, "taskId"),
    ("taskId 400 digits", '{"taskId": ' + "7" * 400 + ', "payload": {}}', {}, 422, "taskId"),
    ("taskId empty", {"taskId": "", "payload": {}}, {}, 422, "taskId"),
    ("taskId 129 chars", {"taskId": "a" * 129, "payload": {}}, {}, 422, "taskId"),
    ("taskId bad characters", {"taskId": "a/b", "payload": {}}, {}, 422, "taskId"),
    ("taskId null", {"taskId": None, "payload": {}}, {}, 422, "taskId"),
    ("payload array", {"taskId": "x", "payload": [1]}, {}, 422, "payload"),
    ("payload string", {"taskId": "x", "payload": "{}"}, {}, 422, "payload"),
    ("payload null", {"taskId": "x", "payload": None}, {}, 422, "payload"),
    ("body over 256 KiB", {"taskId": "x", "payload": {"v": "a" * BIG}}, {}, 413, "limit"),
    ("form fields", "taskId=x&payload=1", {"content_type": "application/x-www-form-urlencoded"}, 400, "malformed"),
    ("text that is not JSON", "taskId x", {"content_type": "text/plain"}, 400, "malformed JSON"),
    ("xml", VALID, {"content_type": "application/xml"}, 415, "Content-Type"),
    ("empty xml", "", {"content_type": "text/xml"}, 415, "Content-Type"),
    ("multipart", VALID, {"content_type": "multipart/form-data; boundary=x"}, 415, "Content-Type"),
    ("empty multipart", "", {"content_type": "multipart/form-data; boundary=x"}, 415, "Content-Type"),
    ("json lookalike", VALID, {"content_type": "application/jsonx"}, 415, "Content-Type"),
    ("empty body", "", {}, 422, "body"),
    ("empty text", "", {"content_type": "text/plain"}, 422, "body"),
    ("empty form", "", {"content_type": "application/x-www-form-urlencoded"}, 422, "body"),
]


@pytest.mark.parametrize(("case", "body", "kwargs", "expected", "named"), CASES, ids=[case[0] for case in CASES])
def test_bad_input_is_refused_and_leaves_no_trace(
    cloud: Cloud, case: str, body: Any, kwargs: dict[str, Any], expected: int, named: str
) -> None:
    status, answer = cloud.post(body, **kwargs)

    assert status == expected, answer
    assert answer["statusCode"] == expected and named in json.dumps(answer)
    assert cloud.items() == []
    assert cloud.queue_depth() == 0


def test_body_at_the_limit_is_accepted(cloud: Cloud) -> None:
    head = '{"taskId": "max", "payload": {"v": "'
    tail = '"}}'
    status, _ = cloud.post(head + "a" * (BIG - len(head) - len(tail)) + tail)

    assert status == 202


def test_64_deep_nesting_is_accepted(cloud: Cloud) -> None:
    assert cloud.post(deep(63))[0] == 202


def test_missing_content_type_is_read_as_json(cloud: Cloud) -> None:
    assert cloud.post(VALID, content_type=None)[0] == 202


@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "text/plain;charset=UTF-8", "application/json; charset=utf-8"],
)
def test_a_json_body_under_the_content_types_clients_send_by_habit_is_accepted(cloud: Cloud, content_type: str) -> None:
    # `curl -d '{...}'` sends application/x-www-form-urlencoded: the seed's own documented call.
    body = json.dumps({"taskId": 1, "payload": {"someProperty": "test"}})
    status, answer = cloud.post(body, content_type=content_type)
    assert (status, answer["taskId"]) == (202, "1")
    assert cloud.queue_depth() == 1
