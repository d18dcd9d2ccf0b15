"""The digest function's world on moto, for the tests that drive it: the audit table's stream, the digest bucket with
Object Lock, the signing and MAC keys, and the function's work (read a batch, seal at a given time) by hand."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config

from handlers import digest as digest_handler
from handlers.dal import clients, mac_keys
from handlers.dal.digest_store import DigestSigner, DigestStore
from handlers.dal.mac_keys import MacKeys
from handlers.logic.digest import ingest, seal
from handlers.logic.verify import check_chain, items_by_task, late_after, read_digested, read_digests, verify_task
from handlers.models.settings import DigestSettings, digest_settings
from handlers.observability import metrics
from local.emulator import kms as kms_patch
from local.ops.verify import offline_check
from local.services.lambda_.event_source_mapping.dynamodb_stream_poller import stream_record
from tests.integration.aws_events import api_event
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


def trail_for(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> Iterator[Trail]:
    """The cloud with the audit table's stream, a digest bucket with Object Lock, and the two KMS keys (a fixture's
    body: `yield from trail_for(cloud, monkeypatch)`)."""
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
    # The logic, driven by hand outside a handler, counts into the one Metrics object, which only a handler flushes:
    # what it counted must not be flushed by the next test's handler, as that function's.
    metrics.clear_metrics()


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
