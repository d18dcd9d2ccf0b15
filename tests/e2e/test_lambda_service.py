"""The local Lambda service behaves as Lambda does where the pipeline's guarantees depend on it:

- each function calls AWS with its own role: a Deny on a permission the code needs, added while the stack runs,
  fails that path with AccessDenied (in the logs), the task is retried or dead-lettered, never lost, and ends
  normally once the Deny is removed;
- an event source survives what it cannot turn into an event as before (a message with Binary attributes, which
  Lambda delivers base64-encoded), and the next task still runs;
- scheduled invocations are asynchronous and at least once: under the duplicates switch every tick reaches the
  sweeper twice, and a stranded task is still re-sent once;
- Ctrl-C in a terminal (SIGINT to the whole process group) lets an invocation in flight finish, with no traceback.
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from handlers.dal.audit_store import AuditStore
from handlers.dal.schema import GATEWAY_SLOT
from handlers.logic.payload import canonical_json, payload_hash
from handlers.models.events import AuditEvent, EventType
from handlers.models.timestamps import format_at
from local.cloud.launch import start
from local.services.events import SCALE_ENV
from local.services.lambda_.async_invoke import DUPLICATES_ENV
from tests.e2e.cloud import RunningCloud


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def terminal_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    """A cloud in a process group of its own, as a terminal starts it, whose sweeper ticks every 3 s (rate(1 minute)
    scaled by 0.05) and gets every tick twice."""
    running = start(
        Path(tmp_path_factory.mktemp("terminal")),
        env={SCALE_ENV: "0.05", DUPLICATES_ENV: "1"},
        kind=RunningCloud,
        new_session=True,
    )
    yield running
    running.stop()


def test_a_deny_on_a_needed_permission_fails_the_path_until_it_is_removed_and_nothing_is_lost(
    cloud: RunningCloud,
) -> None:
    iam = cloud.client("iam")
    role = f"{cloud.outputs['processingFunctionName']}-role"
    deny = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "dynamodb:PutItem", "Resource": "*"}]}
    iam.put_role_policy(RoleName=role, PolicyName="incident-deny", PolicyDocument=json.dumps(deny))
    task_id = _id("denied")
    try:
        assert cloud.post_task(task_id, {}).status_code == 202
        deadline = time.monotonic() + 30
        while "AccessDeniedException" not in cloud.log() or task_id not in cloud.log():
            assert time.monotonic() < deadline, "the processing function's denied write never showed in the logs"
            time.sleep(0.25)
        assert cloud.get_task(task_id).json()["status"] == "QUEUED"  # nothing recorded past RECEIVED, nothing lost
    finally:
        iam.delete_role_policy(RoleName=role, PolicyName="incident-deny")
    history = cloud.wait_for_status(task_id, {"SUCCEEDED", "DEAD_LETTERED"}, timeout=90)
    assert history["status"] in {"SUCCEEDED", "DEAD_LETTERED"}
    assert [e["type"] for e in history["events"]].count("RECEIVED") == 1


def test_binary_and_list_attributes_reach_the_function_as_lambda_delivers_them_and_polling_goes_on(
    cloud: RunningCloud,
) -> None:
    sqs = cloud.client("sqs")
    attributes = {
        "raw": {"DataType": "Binary", "BinaryValue": b"\x01\x02\x03"},
        "note": {"DataType": "String", "StringValue": "n"},
    }
    body = json.dumps({"taskId": _id("binary"), "payload": {}, "life": 0})
    sqs.send_message(QueueUrl=cloud.outputs["processingQueueUrl"], MessageBody=body, MessageAttributes=attributes)
    task_id = _id("after-binary")
    assert cloud.post_task(task_id, {}).status_code == 202
    assert cloud.wait_for_status(task_id, {"SUCCEEDED"}, timeout=60)["status"] == "SUCCEEDED"
    assert "poller: " not in cloud.log()  # no poller error along the way


def _strand(cloud: RunningCloud, task_id: str) -> None:
    """RECEIVED written a minute ago, and never sent: a gateway that died between its write and its send."""
    payload: dict[str, Any] = {"stranded": True}
    canonical = canonical_json(payload)
    received = AuditEvent(
        task_id,
        EventType.RECEIVED,
        life=0,
        slot=GATEWAY_SLOT,
        at=format_at(datetime.now(UTC) - timedelta(minutes=1)),
        fields={"payload": canonical, "payloadHash": payload_hash(canonical)},
    )
    assert AuditStore(cloud.client("dynamodb"), cloud.outputs["auditTableName"]).append(received) is None


def test_duplicate_scheduled_deliveries_re_send_a_stranded_task_once(terminal_cloud: RunningCloud) -> None:
    task_id = _id("stranded")
    _strand(terminal_cloud, task_id)
    history = terminal_cloud.wait_for_status(task_id, {"SUCCEEDED"}, timeout=90)
    types = [event["type"] for event in history["events"]]
    assert types == ["RECEIVED", "REENQUEUED", "SUCCEEDED"]
    # Every tick reached the sweeper twice (the duplicates switch), and only one of them re-sent the task.
    assert terminal_cloud.log().count("sweep done") >= 2


def test_ctrl_c_in_a_terminal_lets_an_invocation_in_flight_finish(terminal_cloud: RunningCloud) -> None:
    task_id = _id("in-flight")
    # Long enough to be in flight at the Ctrl-C, short enough to leave its SUCCEEDED write time inside the local
    # stack's 5 s timeout (the AWS calls of an invocation stop short of its end: handlers/dal/clients.py).
    assert terminal_cloud.post_task(task_id, {"simulate": "slow", "seconds": 2.5}).status_code == 202
    time.sleep(1.5)  # received, and working
    os.killpg(terminal_cloud.process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    assert terminal_cloud.process.wait(timeout=60) == 0
    log = terminal_cloud.log()
    assert f"task succeeded  correlation_id={task_id}" in log
    assert "INFO    stopped\n" in log or log.rstrip().endswith("stopped")
    # Neither `up` nor the interrupted function printed a traceback (another function's failed invocation, on a
    # loaded machine, prints its own, as on Lambda: not this test's concern).
    ours = [line for line in log.splitlines() if line[13:].startswith(("local ", "processing ", "gateway "))]
    assert not [line for line in ours if "Traceback" in line or "KeyboardInterrupt" in line], ours[-20:]
    assert "KeyboardInterrupt" not in log
