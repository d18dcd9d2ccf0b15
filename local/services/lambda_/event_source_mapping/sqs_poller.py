"""Lambda's SQS event source mapping, locally: long-polling pollers that batch, invoke, and delete what succeeded."""

from __future__ import annotations

import base64
import math
import threading
import time
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from local.deploy.topology import MappingSpec
from local.emulator.account import REGION
from local.services.event_source import EventSource, Wiring
from local.services.lambda_.runtime import FunctionPool, Result
from local.services.logs import LogPrinter

# Lambda's pollers long-poll with the SQS maximum; the emulator releases its lock while a poll waits.
POLL_WAIT_SECONDS = 20
# SQS returns at most 10 messages per ReceiveMessage.
RECEIVE_MAX = 10


def message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    """A message attribute as Lambda puts it in the event: binary values base64-encoded, the list keys always there
    (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html, the example event)."""
    attribute: dict[str, Any] = {}
    if value.get("StringValue") is not None:
        attribute["stringValue"] = value["StringValue"]
    if value.get("BinaryValue") is not None:
        attribute["binaryValue"] = _base64(value["BinaryValue"])
    attribute["stringListValues"] = list(value.get("StringListValues") or [])
    attribute["binaryListValues"] = [_base64(item) for item in value.get("BinaryListValues") or []]
    attribute["dataType"] = value.get("DataType")
    return attribute


def _base64(data: bytes | str) -> str:
    # boto3 hands binary values over as bytes; the event carries them as base64 text.
    return base64.b64encode(data if isinstance(data, bytes) else data.encode()).decode()


def sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """One record of an SQS event, shaped as Lambda builds it from a received message."""
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": {
            name: message_attribute(value) for name, value in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def failed_ids(result: Result, batch_ids: set[str]) -> set[str] | None:
    """The message ids a partial batch response reports, or None when Lambda would fail the whole batch.

    Lambda takes a null or empty response, or a null or empty batchItemFailures, as full success, and any
    malformed entry (no itemIdentifier, an empty one, an id not in the batch) as a failure of the batch.
    """
    payload = result.payload
    if payload is None or payload == "":
        return set()
    if not isinstance(payload, dict):
        return None
    failures = payload.get("batchItemFailures")
    if not failures:
        return set()
    if not isinstance(failures, list):
        return None
    ids = set()
    for failure in failures:
        item = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(item, str) or item not in batch_ids:
            return None
        ids.add(item)
    return ids


class SqsPoller:
    """The pollers of one mapping: one to start with, one more for each full batch up to the maximum concurrency."""

    def __init__(self, mapping: MappingSpec, pool: FunctionPool, sqs: Any, printer: LogPrinter) -> None:
        assert mapping.queue_url is not None, "an SQS mapping's source is a queue of the program"
        self.mapping = mapping
        self._queue_url = mapping.queue_url
        self._pool = pool
        self._sqs = sqs
        self._printer = printer
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._pollers = 0
        self._invoking = 0
        self._idle = threading.Condition(self._lock)

    def start(self) -> None:
        if self.mapping.enabled:
            self._spawn()

    def _spawn(self) -> None:
        with self._lock:
            if self._pollers >= self.mapping.max_concurrency or self._stopping.is_set():
                return
            self._pollers += 1
        threading.Thread(target=self._run, name=f"poller-{self._pool.label}", daemon=True).start()

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    if not self._poll_once():
                        return
                except Exception as error:  # noqa: BLE001 - a poller must outlive any one batch, as Lambda's do
                    # What was received and not deleted comes back after its visibility timeout, and SQS's redrive
                    # moves a message that keeps failing: nothing is lost, and the next tasks still run.
                    self._printer.warning(f"{self._pool.label} poller: {type(error).__name__}: {error}; polling on")
                    self._stopping.wait(1)
        finally:
            with self._lock:
                self._pollers -= 1

    def _poll_once(self) -> bool:
        """Receive a batch and process it; False when this poller should end."""
        batch = self._gather()
        if not batch:
            return not self._retire_if_spare()
        if not self._begin():
            self._release(batch)
            return False
        if len(batch) >= min(self.mapping.batch_size, self._receive_cap()):
            # A full batch means a backlog: Lambda scales the mapping out, up to its maximum concurrency.
            self._spawn()
        self._process(batch)
        return True

    def _receive_cap(self) -> int:
        return self.mapping.batch_size if self.mapping.batching_window else RECEIVE_MAX

    def _retire_if_spare(self) -> bool:
        with self._lock:
            return self._pollers > 1

    def _receive(self, count: int, wait: int) -> list[dict[str, Any]]:
        try:
            response = self._sqs.receive_message(
                QueueUrl=self._queue_url,
                MaxNumberOfMessages=max(1, min(RECEIVE_MAX, count)),
                WaitTimeSeconds=max(0, min(POLL_WAIT_SECONDS, wait)),
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
        except (BotoCoreError, ClientError) as error:
            if not self._stopping.is_set():
                self._printer.warning(f"{self._pool.label} poller: receive failed: {error}")
                time.sleep(1)
            return []
        return list(response.get("Messages") or [])

    def _gather(self) -> list[dict[str, Any]]:
        """Receive until the batch is full or the batching window (which opens with the first record) closes."""
        batch = self._receive(self.mapping.batch_size, POLL_WAIT_SECONDS)
        if not batch or not self.mapping.batching_window:
            return batch
        closes = time.monotonic() + self.mapping.batching_window
        while len(batch) < self.mapping.batch_size and not self._stopping.is_set():
            remaining = closes - time.monotonic()
            if remaining <= 0:
                break
            batch += self._receive(self.mapping.batch_size - len(batch), math.ceil(min(remaining, 1)))
        return batch

    def _begin(self) -> bool:
        """Count a batch as in flight unless stopping; under the lock, so drain() cannot miss it."""
        with self._lock:
            if self._stopping.is_set():
                return False
            self._invoking += 1
            return True

    def _process(self, batch: list[dict[str, Any]]) -> None:
        try:
            event = {"Records": [sqs_record(m, self.mapping.source_arn) for m in batch]}
            result = self._pool.invoke(event)
            self._settle(batch, result)
        finally:
            with self._lock:
                self._invoking -= 1
                self._idle.notify_all()

    def _settle(self, batch: list[dict[str, Any]], result: Result) -> None:
        if not result.ok:
            # The function raised or timed out: nothing is deleted; every record comes back after its visibility.
            return
        done = batch
        if self.mapping.report_batch_item_failures:
            failed = failed_ids(result, {m["MessageId"] for m in batch})
            if failed is None:
                self._printer.warning(f"{self._pool.label}: invalid batchItemFailures, the whole batch fails")
                return
            done = [m for m in batch if m["MessageId"] not in failed]
        self._delete(done)

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), RECEIVE_MAX):
            chunk = messages[start : start + RECEIVE_MAX]
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)]
            try:
                response = self._sqs.delete_message_batch(QueueUrl=self._queue_url, Entries=entries)
            except (BotoCoreError, ClientError) as error:
                self._printer.warning(f"{self._pool.label}: delete failed, the records will come back: {error}")
                continue
            for failure in response.get("Failed") or []:
                self._printer.warning(f"{self._pool.label}: delete failed: {failure.get('Message')}")

    def _release(self, batch: list[dict[str, Any]]) -> None:
        """Hand back records received while stopping, so they need not wait out their visibility timeout."""
        entries = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0} for i, m in enumerate(batch)
        ]
        for start in range(0, len(entries), RECEIVE_MAX):
            try:
                self._sqs.change_message_visibility_batch(
                    QueueUrl=self._queue_url, Entries=entries[start : start + RECEIVE_MAX]
                )
            except (BotoCoreError, ClientError):
                return

    def stop(self) -> None:
        with self._lock:
            self._stopping.set()

    def drain(self, deadline: float) -> bool:
        """Wait until no batch is in flight (or the deadline passes); True if drained."""
        with self._lock:
            while self._invoking:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._invoking


def sqs_poller(mapping: MappingSpec, wiring: Wiring) -> EventSource:
    """The pollers of an event source mapping on an SQS queue, with an SQS client of their own."""
    assert mapping.queue_url is not None
    config = Config(max_pool_connections=64, retries={"max_attempts": 3, "mode": "standard"})
    # Lambda's pollers read, delete and release messages with the function's own role (its SQS consumer actions).
    credentials = wiring.role(mapping.function_name).as_client_arguments()
    session = boto3.session.Session(region_name=REGION, **credentials)
    sqs = session.client("sqs", endpoint_url=wiring.endpoint, config=config)
    return SqsPoller(mapping, wiring.functions[mapping.function_name], sqs, wiring.printer)
