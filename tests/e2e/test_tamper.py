"""Tampering with a running local cloud's audit trail, through boto3 with the administrator's credentials (someone with
write access to the table and the bucket, not the handlers), and `tasktrail verify` naming each change precisely.

One cloud of its own (its trail is tampered with for good), with the local stack's digests: a period of 5 s, sealed
15 s after its end (the digest function's 10 s timeout and 5 s of clock skew). The order matters, and saves minutes:
the trail is first proven clean; then the digest function is stopped (reserved concurrency 0, as an operator stops a
Lambda function), and while it is stopped the table and the bucket are tampered with and a gap opens; then it runs
again, reads what the stream kept, and the late digests are reported. A stopped digest function shows only after the
grace and two runs of its minute schedule (about 140 s): that wait is the bulk of this module's time.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.cloud import RunningCloud, start_cloud
from tests.e2e.test_timeline_page import render

GAP_TIMEOUT = 240


def found(report: dict[str, Any]) -> set[tuple[str, str]]:
    return {(finding["kind"], finding["subject"]) for finding in report["findings"]}


class Trail:
    """The tampered cloud, and what was done to it."""

    def __init__(self, cloud: RunningCloud) -> None:
        self.cloud = cloud
        self.tasks = {kind: f"{kind}-{uuid.uuid4().hex[:8]}" for kind in ("payload", "retry", "forge", "swap", "calm")}
        self.done: dict[str, Any] = {}

    def items(self, task_id: str) -> list[dict[str, Any]]:
        answer = self.cloud.client("dynamodb").query(
            TableName=self.cloud.outputs["auditTableName"],
            KeyConditionExpression="taskId = :t",
            ExpressionAttributeValues={":t": {"S": task_id}},
        )
        return list(answer["Items"])

    def sk(self, task_id: str, event_type: str) -> str:
        return next(str(i["sk"]["S"]) for i in self.items(task_id) if i["type"]["S"] == event_type)


@pytest.fixture(scope="module")
def trail(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trail]:
    cloud = start_cloud(Path(tmp_path_factory.mktemp("tamper")))
    trail = Trail(cloud)
    try:
        _prove_clean(trail)
        _stop_digests_and_tamper(trail)
        yield trail
    finally:
        cloud.stop()


def _prove_clean(trail: Trail) -> None:
    cloud = trail.cloud
    for kind, task_id in trail.tasks.items():
        payload = {"simulate": "fail-once"} if kind in {"retry", "swap"} else {"amount": 10}
        assert cloud.post_task(task_id, payload).status_code == 202
    for task_id in trail.tasks.values():
        cloud.wait_for_status(task_id, {"SUCCEEDED"})
    events = sum(len(trail.items(task_id)) for task_id in trail.tasks.values())
    # Every event digested, every digest signed and chained: the trail verifies, with no finding.
    trail.done["clean"] = cloud.wait_for_verify(
        lambda r: (
            r["verified"] == r["tasks"] == len(trail.tasks)
            and r["digests"] >= 2
            and r["pending"] == 0
            and not r["findings"]
        ),
        120,
    )
    assert trail.done["clean"]["events"] == events


def _stop_digests_and_tamper(trail: Trail) -> None:
    cloud, admin = trail.cloud, trail.cloud.client
    table, bucket = cloud.outputs["auditTableName"], cloud.outputs["digestBucket"]
    admin("lambda").put_function_concurrency(
        FunctionName=cloud.outputs["digestFunctionName"], ReservedConcurrentExecutions=0
    )
    trail.done["stopped"] = time.monotonic()
    dynamodb, s3 = admin("dynamodb"), admin("s3")

    received = trail.sk(trail.tasks["payload"], "RECEIVED")  # a payload changed
    dynamodb.update_item(
        TableName=table,
        Key={"taskId": {"S": trail.tasks["payload"]}, "sk": {"S": received}},
        UpdateExpression="SET payload = :p",
        ExpressionAttributeValues={":p": {"S": '{"amount": 1000000}'}},
    )
    retry = trail.sk(trail.tasks["retry"], "RETRY_SCHEDULED")  # a failed attempt hidden
    dynamodb.delete_item(TableName=table, Key={"taskId": {"S": trail.tasks["retry"]}, "sk": {"S": retry}})
    [succeeded] = [i for i in trail.items(trail.tasks["forge"]) if i["type"]["S"] == "SUCCEEDED"]
    forged = dict(succeeded) | {"sk": {"S": "0001#99999#000"}, "life": {"N": "1"}}  # a second success, MAC copied
    dynamodb.put_item(TableName=table, Item=forged)
    first, second = trail.items(trail.tasks["swap"])[:2]  # two events' order swapped
    dynamodb.put_item(TableName=table, Item=dict(second) | {"sk": first["sk"]})
    dynamodb.put_item(TableName=table, Item=dict(first) | {"sk": second["sk"]})
    trail.done |= {"received": received, "retry": retry, "swapped": (first["sk"]["S"], second["sk"]["S"])}

    digests = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="digests/")["Contents"])
    # The first digest, which the second pins: edited here (a new version), deleted from a copy.
    edited = deleted = digests[0]
    [version] = s3.list_object_versions(Bucket=bucket, Prefix=deleted)["Versions"]
    try:
        s3.delete_object(Bucket=bucket, Key=deleted, VersionId=version["VersionId"])
        trail.done["delete-refused"] = None
    except ClientError as refused:  # Object Lock in compliance mode: no one may
        trail.done["delete-refused"] = refused.response["Error"]["Code"]
    body = json.loads(s3.get_object(Bucket=bucket, Key=edited)["Body"].read())
    s3.put_object(Bucket=bucket, Key=edited, Body=json.dumps(body | {"eventCount": 0}).encode())  # a digest edited
    # The same deletion where no lock protects: a copy of the bucket, one digest removed from it.
    copy = f"copy-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=copy)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            original = s3.get_object(Bucket=bucket, Key=item["Key"], VersionId=_first_version(s3, bucket, item["Key"]))
            s3.put_object(Bucket=copy, Key=item["Key"], Body=original["Body"].read())
    s3.delete_object(Bucket=copy, Key=deleted)
    trail.done |= {"edited": edited, "deleted": deleted, "copy": copy}


def _first_version(s3: Any, bucket: str, key: str) -> str:
    versions = s3.list_object_versions(Bucket=bucket, Prefix=key)["Versions"]
    return str(min((v for v in versions if v["Key"] == key), key=lambda v: v["LastModified"])["VersionId"])


def test_a_clean_trail_verifies_every_task(trail: Trail) -> None:
    clean = trail.done["clean"]
    assert clean["verified"] == clean["tasks"] == len(trail.tasks)
    assert clean["digests"] > 0 and clean["findings"] == []


def test_each_tampering_of_the_table_is_named(trail: Trail) -> None:
    tasks, done = trail.tasks, trail.done
    expected = {
        ("altered", f"{tasks['payload']} {done['received']}"),
        ("deleted", f"{tasks['retry']} {done['retry']}"),
        ("inserted-outside", f"{tasks['forge']} 0001#99999#000"),
        ("moved", f"{tasks['swap']} {done['swapped'][0]}"),
        ("moved", f"{tasks['swap']} {done['swapped'][1]}"),
    }

    report = trail.cloud.wait_for_verify(lambda r: expected <= found(r), 60)

    assert trail.cloud.verify()[0] == 1
    # One task at a time, too: its own findings only.
    code, one = trail.cloud.verify("--task", tasks["retry"])
    assert code == 1 and ("deleted", f"{tasks['retry']} {done['retry']}") in found(one)
    assert all(tasks["retry"] in f["subject"] for f in one["findings"] if f["subject"].count(" ") == 1)
    # The task no one touched has no finding.
    assert not [f for f in report["findings"] if f["subject"].startswith(tasks["calm"])]


def test_a_locked_digest_cannot_be_deleted_and_an_edited_one_is_named(trail: Trail) -> None:
    assert trail.done["delete-refused"] == "AccessDenied"
    _, report = trail.cloud.verify()
    assert ("digest-edited", trail.done["edited"]) in found(report)
    assert not [f for f in report["findings"] if f["kind"] in {"digest-deleted", "chain-broken", "digest-signature"}]


def test_a_digest_deleted_where_no_lock_protects_it_is_named(trail: Trail) -> None:
    code, report = trail.cloud.verify("--digest-bucket", trail.done["copy"])

    assert code == 1
    assert ("digest-deleted", trail.done["deleted"]) in found(report)


def test_a_stopped_digest_function_shows_as_a_gap_then_as_late_digests(trail: Trail) -> None:
    cloud = trail.cloud
    gap = cloud.wait_for_verify(lambda r: ("digest-gap", "now") in found(r), GAP_TIMEOUT)
    stopped_for = time.monotonic() - trail.done["stopped"]
    assert [f for f in gap["findings"] if f["subject"] == "now"][0]["detail"].startswith("no digest since")

    cloud.client("lambda").delete_function_concurrency(FunctionName=cloud.outputs["digestFunctionName"])
    # It runs again: the stream's records are read, the backlog of periods sealed (late), the alterations recorded.
    tasks, done = trail.tasks, trail.done
    seen = {
        ("modified", f"{tasks['payload']} {done['received']}"),
        ("removed", f"{tasks['retry']} {done['retry']}"),
        ("modified", f"{tasks['swap']} {done['swapped'][0]}"),
    }
    after = cloud.wait_for_verify(
        lambda r: (
            seen <= found(r)
            and ("digest-gap", "now") not in found(r)
            and any(f["kind"] == "digest-late" for f in r["findings"])
        ),
        90,
    )
    [late] = [f for f in after["findings"] if f["kind"] == "digest-late"]
    assert "the digest function did not run" in late["detail"]
    assert int(late["detail"].split(" period(s)")[0]) >= (stopped_for - 130) // 5  # about a period per 5 s stopped


def test_the_timeline_page_shows_a_finding_in_red(trail: Trail, tmp_path: Path) -> None:
    root = trail.cloud.api_url.removesuffix("/api/v1")

    page = render(f"{root}/ui#task={trail.tasks['retry']}", tmp_path / "profile")

    [(proof, text)] = page.having("id", "proof")
    assert proof["data-verified"] == "false" and "failed" in proof["class"]
    assert "does not verify" in text and "deleted" in text and trail.done["retry"] in text
