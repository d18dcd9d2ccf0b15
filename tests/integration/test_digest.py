"""The digest function and verification on moto: the audit table's stream read into chunks, periods sealed into
signed digests chained in an Object Lock bucket, and every kind of tampering found, precisely, by the same code that
`tasktrail verify` and GET /tasks/{taskId}/proof run. Time is handed to the logic (`now`), so that a period is sealed
without waiting for it; the local cloud's e2e tests run the same with the clock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from handlers import digest as digest_handler
from handlers.dal import clients, mac_keys
from handlers.dal.digest_store import DigestSigner, DigestStore
from handlers.dal.mac_keys import MacKeys
from handlers.logic.digest import MAX_SEALS_PER_RUN, ingest, seal
from handlers.logic.verify import (
    check_chain,
    items_by_task,
    late_after,
    prove_task,
    read_digested,
    read_digests,
    verify_task,
)
from handlers.models.digests import DIGESTS_PREFIX, digest_key, period_start, signed_hash
from handlers.models.integrity import MAC_ATTRIBUTE
from handlers.models.settings import DigestSettings, digest_settings
from local.emulator import kms as kms_patch
from local.ops.verify import offline_check
from local.services.lambda_.event_source_mapping.dynamodb_stream_poller import stream_record
from tests.integration.aws_events import FakeLambdaContext, api_event, scheduled_event
from tests.integration.conftest import TABLE, Cloud

PERIOD = 60
GRACE = 15
BUCKET = "tasktrail-test-digests"


@dataclass
class Trail:
    """The table's stream, the digest bucket and the keys, and the digest function's work driven by hand."""

    cloud: Cloud
    stream_arn: str
    signing_key: str
    mac_key: str
    public_key_pem: str
    bucket: str = BUCKET
    iterators: dict[str, str] = field(default_factory=dict)
    clock: datetime | None = None

    @property
    def settings(self) -> DigestSettings:
        return digest_settings()

    @property
    def store(self) -> DigestStore:
        return DigestStore(clients.s3(), self.bucket)

    @property
    def signer(self) -> DigestSigner:
        return DigestSigner(clients.kms(), self.signing_key)

    @property
    def keys(self) -> MacKeys:
        return MacKeys(clients.kms(), self.mac_key, TABLE)

    def records(self) -> list[dict[str, Any]]:
        """What the stream holds since the last read, as Lambda hands it to the function."""
        # botocore addresses a stream by account (<account>.streams-ddb.<region>), a host moto's in-process routing
        # does not know yet; the local cloud passes an endpoint, so it is not concerned.
        streams = boto3.client(
            "dynamodbstreams", region_name="us-east-1", config=Config(account_id_endpoint_mode="disabled")
        )
        found: list[dict[str, Any]] = []
        for shard in streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]:
            shard_id = shard["ShardId"]
            if shard_id not in self.iterators:
                self.iterators[shard_id] = streams.get_shard_iterator(
                    StreamArn=self.stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            answer = streams.get_records(ShardIterator=self.iterators[shard_id])
            self.iterators[shard_id] = answer["NextShardIterator"]
            found += [stream_record(record, self.stream_arn) for record in answer["Records"]]
        return found

    def read(self, now: datetime | None = None) -> int:
        """One batch of the stream into a chunk (at `now`); the events read."""
        return ingest(self.records(), now or datetime.now(UTC), self.settings, self.store, self.keys).events

    def seal(self, now: datetime) -> list[str]:
        return seal(now, self.settings, self.store, self.signer).sealed

    def read_and_seal(self) -> datetime:
        """Read the stream now (or, after a seal, at the time it sealed at: the sealer's clock never goes back), then
        seal every period up to then: the time it sealed at."""
        now = max(datetime.now(UTC), self.clock or datetime.now(UTC))
        self.read(now)
        self.clock = now + timedelta(seconds=PERIOD + GRACE + 1)
        self.seal(self.clock)
        return self.clock

    def verify(self, now: datetime, task_id: str | None = None) -> list[dict[str, str]]:
        """What `tasktrail verify` finds: the same functions it runs, with the offline signature check."""
        digests, findings = read_digests(self.store, offline_check(self.public_key_pem))
        allowed = late_after(digests[-1].document) if digests else late_after({})
        findings += check_chain(digests, now, allowed)
        grace = timedelta(seconds=GRACE)
        tasks = items_by_task(self.cloud.items(task_id) if task_id else self.cloud.items())
        digested, more = read_digested(self.store, digests)
        findings += more
        for name in sorted(set(tasks) | set(digested.events) | set(digested.alterations)):
            findings += verify_task(name, tasks.get(name, []), digested, self.keys, grace).findings
        return [finding.as_dict() for finding in findings]

    def proof(self, task_id: str) -> dict[str, Any]:
        """GET /api/v1/tasks/{taskId}/proof through the gateway."""
        event = api_event(
            "GET",
            f"/api/v1/tasks/{task_id}/proof",
            content_type=None,
            resource="/api/v1/tasks/{taskId}/proof",
            path_parameters={"taskId": task_id},
        )
        status, body = self.cloud.invoke_gateway(event)
        assert status == 200, body
        return body


@pytest.fixture
def trail(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> Iterator[Trail]:
    """The cloud with the audit table's stream, a digest bucket with Object Lock, and the two KMS keys."""
    monkeypatch.setattr(digest_handler, "_sealed_through", None)  # a new environment's module state
    kms_patch.install()  # Sign with MessageType=DIGEST signs the digest itself, as KMS does (getmoto/moto#10202)
    for cached in (clients.kms, clients.s3, mac_keys.mac_keys, digest_settings):
        cached.cache_clear()
    stream_arn = cloud.dynamodb.update_table(
        TableName=TABLE, StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    )["TableDescription"]["LatestStreamArn"]
    kms = boto3.client("kms", region_name="us-east-1")
    signing = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    mac = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["Arn"]
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(
        Bucket=BUCKET,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}},
        },
    )
    from cryptography.hazmat.primitives import serialization

    der = kms.get_public_key(KeyId=signing)["PublicKey"]
    pem = serialization.load_der_public_key(der).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    cloud.setenv(
        EVENT_MAC_KEY_ID=mac,
        DIGEST_BUCKET=BUCKET,
        DIGEST_SIGNING_KEY_ID=signing,
        DIGEST_PERIOD_SECONDS=str(PERIOD),
        DIGEST_GRACE_SECONDS=str(GRACE),
    )
    digest_settings.cache_clear()
    yield Trail(cloud, stream_arn, signing, mac, pem.decode())
    for cached in (clients.kms, clients.s3, mac_keys.mac_keys, digest_settings):
        cached.cache_clear()


def run_tasks(cloud: Cloud) -> None:
    """Three tasks through the pipeline: one succeeds, one retries then succeeds, one is dead-lettered."""
    for task_id, payload in (("ok", {}), ("once", {"simulate": "fail-once"}), ("dead", {"simulate": "fail"})):
        assert cloud.post({"taskId": task_id, "payload": payload})[0] == 202
    for _ in range(4):
        messages = cloud.receive()
        if not messages:
            break
        failed = {failure["itemIdentifier"] for failure in cloud.process(messages)["batchItemFailures"]}
        for message in messages:
            if message["MessageId"] in failed:
                cloud.fast_forward(message)
    cloud.drain_dlq()
    assert [cloud.get(task)[1]["status"] for task in ("ok", "once", "dead")] == [
        "SUCCEEDED",
        "SUCCEEDED",
        "DEAD_LETTERED",
    ]


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
