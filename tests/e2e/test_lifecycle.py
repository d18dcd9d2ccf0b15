"""Each lifecycle path over HTTP: its event sequence, backoff values and final state."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.e2e.cloud import RunningCloud

CORE = {"RECEIVED", "RETRY_SCHEDULED", "SUCCEEDED", "DEAD_LETTERED", "CLEANED_UP"}


def _task_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def _core(history: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in history["events"] if e["type"] in CORE]


def _assert_well_formed(history: dict[str, Any]) -> None:
    seqs = [e["seq"] for e in history["events"]]
    assert seqs == list(range(1, len(seqs) + 1)), seqs
    ats = [e["at"] for e in history["events"]]
    assert all(at.endswith(("Z", "+00:00")) for at in ats), ats
    terminal = [e for e in history["events"] if e["type"] in {"SUCCEEDED", "DEAD_LETTERED"}]
    assert len(terminal) == 1, history


def test_success(cloud: RunningCloud) -> None:
    task_id = _task_id("ok")
    response = cloud.post_task(task_id, {"n": 1})
    assert response.status_code == 202, response.text
    assert response.json()["taskId"] == task_id
    assert response.json()["status"] == "QUEUED"

    history = cloud.wait_for_status(task_id, {"SUCCEEDED"})
    _assert_well_formed(history)
    events = _core(history)
    assert [e["type"] for e in events] == ["RECEIVED", "SUCCEEDED"]
    assert events[-1]["attempt"] == 1
    assert history["attempts"] == 1


def test_fail_once_retries_with_base_backoff(cloud: RunningCloud, base_visibility: int) -> None:
    task_id = _task_id("once")
    assert cloud.post_task(task_id, {"simulate": "fail-once"}).status_code == 202

    history = cloud.wait_for_status(task_id, {"SUCCEEDED"})
    _assert_well_formed(history)
    events = _core(history)
    assert [e["type"] for e in events] == ["RECEIVED", "RETRY_SCHEDULED", "SUCCEEDED"]
    assert events[1]["attempt"] == 1
    assert events[1]["visibilityTimeout"] == 1 * base_visibility
    assert events[2]["attempt"] == 2
    assert history["attempts"] == 2


def _assert_dead_lettered(history: dict[str, Any], base: int, max_receive_count: int) -> None:
    _assert_well_formed(history)
    events = _core(history)
    types = [e["type"] for e in events]
    assert types[0] == "RECEIVED"
    assert types[-2:] == ["DEAD_LETTERED", "CLEANED_UP"], types
    retries = [e for e in events if e["type"] == "RETRY_SCHEDULED"]
    # Attempt n failing sets visibility n x base; the last receive may or may not schedule a retry that SQS
    # then pre-empts by moving the message, so either max-1 or max retries are recorded.
    assert [r["attempt"] for r in retries] == list(range(1, len(retries) + 1))
    assert len(retries) in {max_receive_count - 1, max_receive_count}
    assert [r["visibilityTimeout"] for r in retries] == [r["attempt"] * base for r in retries]
    dead = events[-2]
    assert dead["attempts"] == max_receive_count
    assert history["status"] == "DEAD_LETTERED"


def test_fail_dead_letters_after_max_receive_count(cloud: RunningCloud, base_visibility: int) -> None:
    task_id = _task_id("fail")
    assert cloud.post_task(task_id, {"simulate": "fail"}).status_code == 202

    history = cloud.wait_for_status(task_id, {"DEAD_LETTERED"}, timeout=90)
    _assert_dead_lettered(history, base_visibility, max_receive_count=2)


def test_history_in_the_audit_table_matches_the_api(cloud: RunningCloud) -> None:
    task_id = _task_id("audit")
    assert cloud.post_task(task_id, {"simulate": "fail-once"}).status_code == 202
    history = cloud.wait_for_status(task_id, {"SUCCEEDED"})

    dynamodb = cloud.client("dynamodb")
    items = dynamodb.query(
        TableName=cloud.outputs["auditTableName"],
        KeyConditionExpression="taskId = :t",
        ExpressionAttributeValues={":t": {"S": task_id}},
        ConsistentRead=True,
    )["Items"]
    assert [i["type"]["S"] for i in items] == [e["type"] for e in history["events"]]
    received = items[0]
    assert json.loads(received["payload"]["S"]) == {"simulate": "fail-once"}


@pytest.mark.parametrize("task_id", [0, 42])
def test_integer_task_ids_are_stored_as_strings(cloud: RunningCloud, task_id: int) -> None:
    unique = task_id + uuid.uuid4().int % 10**9
    response = cloud.post_task(unique, {"kind": "int"})
    assert response.status_code == 202, response.text
    assert response.json()["taskId"] == str(unique)
    cloud.wait_for_status(str(unique), {"SUCCEEDED"})
