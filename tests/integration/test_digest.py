"""The digest function and verification on moto: the audit table's stream read into chunks, periods sealed into
signed digests chained in an Object Lock bucket, and every kind of tampering found, precisely, by the same code that
`tasktrail verify` and GET /tasks/{taskId}/proof run. Time is handed to the logic (`now`), so that a period is sealed
without waiting for it; the local cloud's e2e tests run the same with the clock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.exceptions import ClientError

from handlers import digest as digest_handler
from handlers.logic.digest import MAX_SEALS_PER_RUN, ingest
from handlers.logic.verify import (
    prove_task,
    read_digests,
)
from handlers.models.digests import DIGESTS_PREFIX, digest_key, period_start, signed_hash
from handlers.models.integrity import MAC_ATTRIBUTE
from local.ops.verify import offline_check
from tests.integration.aws_events import FakeLambdaContext, scheduled_event
from tests.integration.conftest import TABLE, Cloud
from tests.integration.digest_trail import BUCKET, GRACE, PERIOD, Trail, run_tasks, trail_for


@pytest.fixture
def trail(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> Iterator[Trail]:
    yield from trail_for(cloud, monkeypatch)


def kinds(findings: list[dict[str, str]]) -> set[tuple[str, str]]:
    return {(finding["kind"], finding["subject"]) for finding in findings}


def sk_of(cloud: Cloud, task_id: str, event_type: str) -> str:
    [item] = [item for item in cloud.items(task_id) if item["type"]["S"] == event_type]
    return str(item["sk"]["S"])


def test_every_event_is_macd_digested_and_verifies(trail: Trail) -> None:
    run_tasks(trail.cloud)
    items = trail.cloud.items()
    assert items and all(MAC_ATTRIBUTE in item for item in items)

    sealed_at = trail.read_and_seal()

    assert trail.verify(sealed_at) == []
    proof = trail.proof("once")
    assert proof["verified"] is True and proof["findings"] == []
    assert [event["status"] for event in proof["events"]] == ["verified"] * len(trail.cloud.items("once"))
    assert proof["verifiedUpTo"] is not None


def test_an_event_not_yet_sealed_is_pending_not_a_finding(trail: Trail) -> None:
    run_tasks(trail.cloud)
    trail.read()

    proof = trail.proof("ok")

    assert {event["status"] for event in proof["events"]} == {"pending"}
    assert proof["findings"] == []


def test_each_tampering_is_named_precisely(trail: Trail) -> None:
    cloud = trail.cloud
    run_tasks(cloud)
    trail.read_and_seal()
    # Someone with write access to the table, not the handlers:
    received = sk_of(cloud, "ok", "RECEIVED")
    cloud.dynamodb.update_item(  # a payload changed
        TableName=TABLE,
        Key={"taskId": {"S": "ok"}, "sk": {"S": received}},
        UpdateExpression="SET payload = :p",
        ExpressionAttributeValues={":p": {"S": '{"amount": 1000000}'}},
    )
    retry = sk_of(cloud, "once", "RETRY_SCHEDULED")
    cloud.dynamodb.delete_item(TableName=TABLE, Key={"taskId": {"S": "once"}, "sk": {"S": retry}})  # an attempt hidden
    dead = {item["type"]["S"]: item for item in cloud.items("dead")}
    forged = dict(dead["DEAD_LETTERED"]) | {"type": {"S": "SUCCEEDED"}, "sk": {"S": "0000#00009#000"}}
    cloud.dynamodb.put_item(TableName=TABLE, Item=forged)  # a success that never happened, a MAC copied
    first, second = cloud.items("dead")[:2]  # two events swapped
    cloud.dynamodb.put_item(TableName=TABLE, Item=dict(second) | {"sk": first["sk"]})
    cloud.dynamodb.put_item(TableName=TABLE, Item=dict(first) | {"sk": second["sk"]})
    sealed_at = trail.read_and_seal()

    found = kinds(trail.verify(sealed_at))

    assert ("altered", f"ok {received}") in found
    assert ("modified", f"ok {received}") in found
    assert ("deleted", f"once {retry}") in found
    assert ("removed", f"once {retry}") in found
    assert ("inserted-outside", "dead 0000#00009#000") in found
    assert ("moved", f"dead {first['sk']['S']}") in found
    assert ("moved", f"dead {second['sk']['S']}") in found
    # The proof of one task names its own findings only.
    proof = trail.proof("once")
    assert proof["verified"] is False
    assert {(f["kind"], f["subject"]) for f in proof["findings"]} >= {("deleted", f"once {retry}")}
    assert all("once" in f["subject"] for f in proof["findings"] if f["kind"] not in {"digest-signature"})


def test_alterations_are_counted_when_read(trail: Trail) -> None:
    run_tasks(trail.cloud)
    trail.read()
    received = sk_of(trail.cloud, "ok", "RECEIVED")
    trail.cloud.dynamodb.delete_item(TableName=TABLE, Key={"taskId": {"S": "ok"}, "sk": {"S": received}})
    trail.cloud.dynamodb.put_item(TableName=TABLE, Item={"taskId": {"S": "x"}, "sk": {"S": "0000#00000#000"}})

    result = ingest(trail.records(), datetime.now(UTC), trail.settings, trail.store, trail.keys)

    assert (result.altered, result.unsigned, result.events) == (1, 1, 1)


def test_digests_chain_and_sign_and_empty_periods_are_sealed(trail: Trail) -> None:
    run_tasks(trail.cloud)
    trail.read()
    now = datetime.now(UTC)
    trail.seal(now + timedelta(seconds=PERIOD + GRACE + 1))

    sealed = trail.seal(now + timedelta(seconds=4 * PERIOD + GRACE + 1))  # three idle periods later

    assert len(sealed) == 3
    digests, findings = read_digests(trail.store, offline_check(trail.public_key_pem))
    assert findings == []
    assert [d.document["eventCount"] for d in digests[-3:]] == [0, 0, 0]
    for before, after in zip(digests, digests[1:], strict=False):
        assert after.document["previous"]["key"] == before.stored.key
        assert after.start == before.end


def test_a_stopped_sealer_catches_up_and_the_delay_is_reported(trail: Trail) -> None:
    now = datetime.now(UTC)
    trail.seal(now)
    trail.seal(now + timedelta(seconds=PERIOD))
    later = now + timedelta(seconds=10 * PERIOD)

    sealed = trail.seal(later)  # nine periods behind: sealed now, late

    assert len(sealed) == 9 <= MAX_SEALS_PER_RUN
    found = trail.verify(later)
    [late] = [finding for finding in found if finding["kind"] == "digest-late"]
    # Late: sealed more than the grace and two runs of the schedule (135 s) after its end; the last two were not.
    assert late["subject"] == f"{sealed[0]}..{sealed[6]}"
    assert late["detail"].startswith("7 period(s)")
    assert not [finding for finding in found if finding["kind"] != "digest-late"]
    assert ("digest-gap", "now") in kinds(trail.verify(later + timedelta(seconds=5 * PERIOD)))


def test_an_edited_digest_is_reported_and_the_original_still_verifies(trail: Trail) -> None:
    run_tasks(trail.cloud)
    sealed_at = trail.read_and_seal()
    [key] = [k for k in trail.store.keys(DIGESTS_PREFIX) if json.loads(trail.store.get(k).body)["eventCount"]]
    edited = json.loads(trail.store.get(key).body) | {"eventCount": 0, "buckets": []}
    boto3.client("s3", region_name="us-east-1").put_object(Bucket=BUCKET, Key=key, Body=json.dumps(edited).encode())

    found = trail.verify(sealed_at)

    assert kinds(found) == {("digest-edited", key)}


def test_a_locked_digest_cannot_be_deleted(trail: Trail) -> None:
    trail.seal(datetime.now(UTC))
    [version] = trail.store.versions(DIGESTS_PREFIX)
    s3 = boto3.client("s3", region_name="us-east-1")

    with pytest.raises(ClientError) as refused:
        s3.delete_object(Bucket=BUCKET, Key=version.key, VersionId=version.version_id)

    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert trail.store.get(version.key, version.version_id) is not None


def test_a_digest_deleted_from_an_unlocked_bucket_is_named_by_the_next(trail: Trail) -> None:
    run_tasks(trail.cloud)
    now = datetime.now(UTC)
    trail.read(now)
    trail.seal(now + timedelta(seconds=4 * PERIOD + GRACE + 1))
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="copy-without-lock")
    for key in trail.store.keys(""):  # a copy of the bucket somewhere no lock protects, then one digest deleted
        s3.put_object(Bucket="copy-without-lock", Key=key, Body=trail.store.get(key).body)
    keys = trail.store.keys(DIGESTS_PREFIX)
    s3.delete_object(Bucket="copy-without-lock", Key=keys[1])
    trail.bucket = "copy-without-lock"

    found = kinds(trail.verify(now + timedelta(seconds=4 * PERIOD + GRACE + 1)))

    assert ("digest-deleted", keys[1]) in found


def test_a_signature_checks_offline_with_the_public_key_alone(trail: Trail) -> None:
    trail.seal(datetime.now(UTC))
    [key] = trail.store.keys(DIGESTS_PREFIX)
    document = json.loads(trail.store.get(key).body)
    check = offline_check(trail.public_key_pem)

    assert check(signed_hash(document), document["signature"]) is True
    assert trail.signer.verify(signed_hash(document), document["signature"]) is True
    tampered = document | {"eventCount": 1}
    assert check(signed_hash(tampered), document["signature"]) is False


def test_the_handler_reads_a_stream_batch_and_seals_on_schedule(trail: Trail) -> None:
    run_tasks(trail.cloud)
    records = trail.records()

    read = digest_handler.handler({"Records": records}, FakeLambdaContext(function_name="tasktrail-test-digest"))
    sealed = digest_handler.handler(scheduled_event(), FakeLambdaContext(function_name="tasktrail-test-digest"))

    assert read["events"] == len(trail.cloud.items()) and read["altered"] == read["unsigned"] == 0
    assert read["chunk"] in trail.store.keys("chunks/")
    assert isinstance(sealed["sealed"], list)
    start = period_start(datetime.now(UTC) - timedelta(seconds=GRACE), PERIOD) - timedelta(seconds=PERIOD)
    assert trail.store.get(digest_key(start)) is not None


def test_a_task_proof_reads_later_digests_when_its_events_were_read_late(trail: Trail) -> None:
    run_tasks(trail.cloud)
    now = datetime.now(UTC)
    trail.seal(now + timedelta(seconds=3 * PERIOD))  # the sealer ran; the stream was not read (stopped)
    late = now + timedelta(seconds=3 * PERIOD)
    trail.read(late)
    trail.seal(late + timedelta(seconds=PERIOD + GRACE + 1))

    report = prove_task(
        "once",
        trail.cloud.items("once"),
        trail.store,
        offline_check(trail.public_key_pem),
        trail.keys,
        PERIOD,
        timedelta(seconds=GRACE),
    )

    assert report.verified, report.findings
