"""Hostile input over raw HTTP against the local cloud: every bad-input class of DESIGN.md and worse. Never a 5xx,
always a JSON answer naming the problem, and nothing enqueued or recorded (the audit table and queues unchanged)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from tests.e2e.cloud import RunningCloud
from tests.reliability import trail

LIMIT = 262144
JSON = "application/json"


@dataclass(frozen=True)
class Case:
    name: str
    body: bytes | None
    expected: frozenset[int]
    content_type: str | None = JSON
    method: str = "POST"
    path: str = "/tasks"


def _doc(task_id: Any = "hostile", payload: Any = None, **extra: Any) -> bytes:
    document = {"taskId": task_id, "payload": {} if payload is None else payload, **extra}
    return json.dumps(document).encode()


def _nested(depth: int) -> bytes:
    return b'{"taskId": "deep", "payload": {"a": ' + b"[" * depth + b"]" * depth + b"}}"


def _padded(size: int) -> bytes:
    head = b'{"taskId": "big", "payload": {"pad": "'
    tail = b'"}}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


BAD_REQUEST = frozenset({400})
INVALID = frozenset({400, 422})
TOO_LARGE = frozenset({413})
UNSUPPORTED = frozenset({415})
NO_ROUTE = frozenset({403, 404, 405})

CASES = [
    # malformed JSON
    Case("truncated", b'{"taskId": "x", "payload": {', BAD_REQUEST),
    Case("not-json", b"taskId=x&payload=y", BAD_REQUEST),
    Case("trailing-garbage", _doc() + b" {}", BAD_REQUEST),
    Case("single-quotes", b"{'taskId': 'x', 'payload': {}}", BAD_REQUEST),
    Case("nan-literal", b'{"taskId": "x", "payload": {"n": NaN}}', BAD_REQUEST),
    Case("infinity-literal", b'{"taskId": "x", "payload": {"n": -Infinity}}', BAD_REQUEST),
    Case("float-overflowing-to-infinity", b'{"taskId": "x", "payload": {"n": 1e999}}', INVALID),
    Case("utf8-bom", b"\xef\xbb\xbf" + _doc(), BAD_REQUEST),
    Case("empty-body", b"", INVALID),
    Case("whitespace-body", b"   \n ", BAD_REQUEST),
    # not an object, missing or ill-typed fields, unknown fields
    *(
        Case(f"top-level-{kind}", body, INVALID)
        for kind, body in [("array", b"[]"), ("null", b"null"), ("str", b'"s"'), ("num", b"1"), ("bool", b"true")]
    ),
    Case("missing-task-id", json.dumps({"payload": {}}).encode(), INVALID),
    Case("missing-payload", json.dumps({"taskId": "x"}).encode(), INVALID),
    Case("unknown-field", _doc(extra_field=1), INVALID),
    *(
        Case(f"task-id-{kind}", _doc(task_id=value), INVALID)
        for kind, value in [
            ("true", True),
            ("float", 1.5),
            ("negative", -1),
            ("empty", ""),
            ("129-chars", "x" * 129),
            ("space", "bad id"),
            ("slash", "a/b"),
            ("unicode", "tâche"),
            ("list", ["x"]),
            ("object", {"id": "x"}),
            ("null", None),
            ("400-digits", int("9" * 400)),
            ("129-digits", 10**128),
        ]
    ),
    *(
        Case(f"payload-{kind}", _doc(payload=value), INVALID)
        for kind, value in [("list", []), ("str", "x"), ("num", 1), ("null-explicit", None)][:3]
    ),
    Case("payload-null", b'{"taskId": "x", "payload": null}', INVALID),
    # sizes and shapes
    Case("over-256-KiB", _padded(LIMIT + 1), TOO_LARGE),
    Case("1-MiB", _padded(1024 * 1024), TOO_LARGE),
    Case("over-api-gateway-10-MB", _padded(10 * 1024 * 1024 + 1), TOO_LARGE),
    Case("5000-deep-nesting", _nested(5000), BAD_REQUEST),
    Case("65-deep-nesting", _nested(65), BAD_REQUEST),
    Case("5000-digit-integer", b'{"taskId": "x", "payload": {"n": ' + b"7" * 5000 + b"}}", BAD_REQUEST),
    # encodings
    Case("invalid-utf8", b'{"taskId": "x", "payload": {"s": "\xff\xfe"}}', BAD_REQUEST),
    Case("overlong-utf8", b'{"taskId": "x", "payload": {"s": "\xc0\xaf"}}', BAD_REQUEST),
    Case("truncated-utf8", b'{"taskId": "x", "payload": {"s": "\xe2\x82"}}', BAD_REQUEST),
    Case("utf16-body", _doc().decode().encode("utf-16"), BAD_REQUEST),
    Case("lone-surrogate", b'{"taskId": "x", "payload": {"s": "\\ud800"}}', BAD_REQUEST),
    # content types that announce another format: 415, whatever the body, an empty one included
    *(
        Case(f"content-type-{name}{'-empty' if not body else ''}", body, UNSUPPORTED, content_type=value)
        for name, value in [
            ("multipart", "multipart/form-data; boundary=x"),
            ("xml", "application/xml"),
            ("text-xml", "text/xml"),
            ("octet-stream", "application/octet-stream"),
            ("text-json", "text/json"),
            ("empty", ""),
        ]
        for body in (_doc(task_id=f"ct-{name}"), b"")
    ),
    # content types clients send a JSON body under by habit (curl -d, fetch with a string): read as JSON, so a body
    # that is not JSON, or none, is still a clear 4xx
    *(
        Case(f"content-type-{name}-{kind}", body, expected, content_type=value)
        for name, value in [("form", "application/x-www-form-urlencoded"), ("text-plain", "text/plain")]
        for kind, body, expected in [("fields", b"taskId=x&payload=y", BAD_REQUEST), ("empty", b"", INVALID)]
    ),
    # methods and paths the API does not define
    *(
        Case(f"{method}-tasks", _doc(task_id=f"m-{method}"), NO_ROUTE, method=method)
        for method in ("PUT", "DELETE", "PATCH")
    ),
    *(
        Case(f"{method}-task", _doc(task_id=f"m-{method}"), NO_ROUTE, method=method, path="/tasks/hostile")
        for method in ("PUT", "DELETE", "PATCH", "POST")
    ),
    Case("GET-tasks", None, frozenset({403, 404, 405, 200}), method="GET"),  # a listing route may exist
    Case("get-traversal", None, frozenset({403, 404, 422}), method="GET", path="/tasks/..%2F..%2Fetc%2Fpasswd"),
    Case("get-nul", None, frozenset({403, 404, 422}), method="GET", path="/tasks/a%00b"),
    Case("get-too-long", None, frozenset({404, 422}), method="GET", path="/tasks/" + "x" * 129),
]


@dataclass
class Snapshot:
    keys: set[tuple[str, str]]
    queues: dict[str, tuple[int, int]]


def _snapshot(cloud: RunningCloud) -> Snapshot:
    sqs = cloud.client("sqs")
    urls = (cloud.outputs["processingQueueUrl"], cloud.outputs["deadLetterQueueUrl"])
    return Snapshot(
        trail.keys(cloud.client("dynamodb"), cloud.outputs["auditTableName"]),
        {url: trail.queue_counts(sqs, url) for url in urls},
    )


@pytest.fixture(scope="module")
def quiet_stack(stack: RunningCloud) -> Iterator[RunningCloud]:
    """The shared local cloud once nothing is in flight, so that any change is this module's doing."""
    sqs = stack.client("sqs")
    trail.wait_queues_empty(sqs, [stack.outputs["processingQueueUrl"], stack.outputs["deadLetterQueueUrl"]], 120)
    yield stack


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_request_is_refused_without_a_trace(quiet_stack: RunningCloud, case: Case) -> None:
    before = _snapshot(quiet_stack)
    headers = dict(quiet_stack.headers)
    if case.content_type is not None:
        headers["Content-Type"] = case.content_type

    response = requests.request(
        case.method, f"{quiet_stack.api_url}{case.path}", data=case.body, headers=headers, timeout=60
    )

    assert response.status_code < 500, f"{case.name}: {response.status_code} {response.text[:300]}"
    assert response.status_code in case.expected, f"{case.name}: {response.status_code} {response.text[:300]}"
    body = response.json()
    assert isinstance(body, dict), body
    if response.status_code >= 400:
        assert body.get("message"), f"{case.name}: an error answer names the problem: {body}"
    after = _snapshot(quiet_stack)
    assert after.keys == before.keys, f"{case.name} recorded {sorted(after.keys - before.keys)[:5]}"
    assert after.queues == before.queues


@pytest.mark.slow
def test_a_chunked_body_without_length_is_refused_without_a_trace(quiet_stack: RunningCloud) -> None:
    before = _snapshot(quiet_stack)

    def chunks() -> Iterator[bytes]:
        yield _doc(task_id="chunked")

    response = requests.post(
        f"{quiet_stack.api_url}/tasks", data=chunks(), headers={**quiet_stack.headers, "Content-Type": JSON}, timeout=60
    )

    assert 400 <= response.status_code < 500 or response.status_code == 202, response.text
    if response.status_code == 202:  # a front that reads chunked bodies accepts it like any other
        return
    assert _snapshot(quiet_stack).keys == before.keys


@pytest.mark.slow
def test_big_numbers_in_a_payload_are_kept_exactly(quiet_stack: RunningCloud) -> None:
    # Valid JSON: a 400-digit integer is data, not an attack; it must round-trip and the task must succeed.
    task_id = f"bignum-{uuid.uuid4().hex[:8]}"
    payload = {"n": int("9" * 400), "neg": -int("1" * 400), "f": 1.5e300}

    response = quiet_stack.post_task(task_id, payload)

    assert response.status_code == 202, response.text
    history = quiet_stack.wait_for_status(task_id, {"SUCCEEDED", "DEAD_LETTERED"}, timeout=60)
    assert history["status"] == "SUCCEEDED"
    assert history["events"][0]["payload"] == payload


@pytest.mark.slow
def test_a_body_at_the_limit_that_grows_when_stored_is_answered_and_never_stranded(quiet_stack: RunningCloud) -> None:
    # 1e9 is 3 bytes on the wire and 12 once re-serialized (1000000000.0): within the limit as sent, over the queue's
    # and the table's once stored. Either refuse it up front (413, nothing recorded) or carry it to the end.
    task_id = f"grow-{uuid.uuid4().hex[:8]}"
    head = json.dumps({"taskId": task_id, "payload": {"n": []}})[:-3].encode()
    count = (LIMIT - len(head) - 3) // 4
    body = head + b",".join([b"1e9"] * count) + b"]}}"
    assert len(body) <= LIMIT
    before = _snapshot(quiet_stack)

    response = requests.post(
        f"{quiet_stack.api_url}/tasks", data=body, headers={**quiet_stack.headers, "Content-Type": JSON}, timeout=60
    )

    assert response.status_code in {202, 413}, f"{response.status_code} {response.text[:300]}"
    if response.status_code == 413:
        assert _snapshot(quiet_stack).keys == before.keys
        return
    history = quiet_stack.wait_for_status(task_id, {"SUCCEEDED", "DEAD_LETTERED"}, timeout=60)
    assert history["status"] == "SUCCEEDED"


def test_the_cases_cover_every_bad_input_class_of_the_design() -> None:
    answers = {status for case in CASES for status in case.expected}
    assert {400, 413, 415} <= answers and answers & {422}
