"""Lambda's DynamoDB stream event source mapping, locally: each shard read in order, one batch in flight at a time;
a batch that fails is retried until it succeeds, its records expire or the retries run out, split in two first when
the mapping bisects on error (the failing record ends up alone, and the records before it go through); with
ReportBatchItemFailures, the lowest failed sequence number is the checkpoint. Lambda polls each shard four times a
second (https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html, services-dynamodb-errors.html)."""

from __future__ import annotations

import base64
import threading
import time
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from local.deploy.topology import MappingSpec
from local.emulator.account import REGION
from local.services.event_source import EventSource, Wiring
from local.services.lambda_.runtime import FunctionPool, Result
from local.services.logs import LogPrinter

POLL_SECONDS = 0.25
DISCOVER_SECONDS = 5.0
# Between retries of a failing batch, as Lambda backs off (its own spacing is not documented; it grows).
RETRY_BACKOFF_SECONDS = (0.5, 1.0, 2.0, 4.0)


def stream_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """One record of a DynamoDB stream event, as Lambda builds it from GetRecords: the wire's shapes (epoch seconds,
    base64 binaries), and the stream's ARN."""
    data = dict(record.get("dynamodb") or {})
    created = data.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        data["ApproximateCreationDateTime"] = int(created.astimezone(UTC).timestamp())
    for image in ("Keys", "NewImage", "OldImage"):
        if image in data:
            data[image] = {name: _wire(value) for name, value in data[image].items()}
    return {
        "eventID": record.get("eventID"),
        "eventName": record.get("eventName"),
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": record.get("awsRegion") or REGION,
        "dynamodb": data,
        "eventSourceARN": stream_arn,
    }


def _wire(value: dict[str, Any]) -> dict[str, Any]:
    ((kind, raw),) = value.items()
    if kind == "B":
        return {"B": _base64(raw)}
    if kind == "BS":
        return {"BS": [_base64(item) for item in raw]}
    if kind == "M":
        return {"M": {name: _wire(member) for name, member in raw.items()}}
    if kind == "L":
        return {"L": [_wire(member) for member in raw]}
    return {kind: raw}


def _base64(data: Any) -> str:
    return base64.b64encode(bytes(data)).decode()


class StreamPoller:
    """The pollers of one mapping on a DynamoDB stream: one thread per shard."""

    def __init__(self, mapping: MappingSpec, pool: FunctionPool, streams: Any, printer: LogPrinter) -> None:
        self.mapping = mapping
        self._pool = pool
        self._streams = streams
        self._printer = printer
        self._stopping = threading.Event()
        self._shards: set[str] = set()
        self._lock = threading.Lock()
        self._invoking = 0
        self._idle = threading.Condition(self._lock)

    def start(self) -> None:
        threading.Thread(target=self._discover, name=f"stream-{self._pool.label}", daemon=True).start()

    def _discover(self) -> None:
        while not self._stopping.is_set():
            try:
                description = self._streams.describe_stream(StreamArn=self.mapping.source_arn)["StreamDescription"]
                for shard in description.get("Shards", []):
                    if shard["ShardId"] not in self._shards:
                        self._shards.add(shard["ShardId"])
                        threading.Thread(target=self._read, args=(shard["ShardId"],), daemon=True).start()
            except Exception as error:  # noqa: BLE001 - the mapping outlives a failed look at its stream
                self._printer.warning(f"{self._pool.label} stream poller: {type(error).__name__}: {error}")
            self._stopping.wait(DISCOVER_SECONDS)

    def _read(self, shard_id: str) -> None:
        iterator: str | None = None
        pending: list[dict[str, Any]] = []
        first_seen = 0.0
        while not self._stopping.is_set():
            try:
                if iterator is None and not pending:
                    iterator = self._iterator(shard_id)
                if iterator is not None and len(pending) < self.mapping.batch_size:
                    answer = self._streams.get_records(
                        ShardIterator=iterator, Limit=self.mapping.batch_size - len(pending)
                    )
                    iterator = answer.get("NextShardIterator")
                    if answer.get("Records") and not pending:
                        first_seen = time.monotonic()
                    pending += answer.get("Records") or []
                window_open = time.monotonic() - first_seen < self.mapping.batching_window
                if not pending or (len(pending) < self.mapping.batch_size and window_open):
                    self._stopping.wait(POLL_SECONDS)
                    continue
                pending = pending[self._deliver(pending[: self.mapping.batch_size]) :]
            except (BotoCoreError, ClientError) as error:
                self._printer.warning(f"{self._pool.label} stream poller: {error}; reading on")
                self._stopping.wait(1)
            except Exception as error:  # noqa: BLE001 - a poller outlives any one batch, as Lambda's do
                self._printer.warning(f"{self._pool.label} stream poller: {type(error).__name__}: {error}")
                self._stopping.wait(1)

    def _iterator(self, shard_id: str) -> str:
        answer = self._streams.get_shard_iterator(
            StreamArn=self.mapping.source_arn,
            ShardId=shard_id,
            # AT_TIMESTAMP is Kinesis's; a DynamoDB stream starts at its oldest record or at its newest.
            ShardIteratorType="LATEST" if self.mapping.starting_position == "LATEST" else "TRIM_HORIZON",
        )
        return str(answer["ShardIterator"])

    def _deliver(self, batch: list[dict[str, Any]]) -> int:
        """Run the batch until its records are done with; how many of them, from the first, are."""
        segment, retries = batch, 0
        while not self._stopping.is_set():
            expired = self._expired(segment)
            if expired:
                self._printer.warning(f"{self._pool.label}: {expired} stream records past their maximum age, skipped")
                return expired
            result = self._invoke(segment)
            done = self._done(segment, result)
            if done:
                return done
            retries += 1
            if 0 <= self.mapping.maximum_retry_attempts < retries:
                self._printer.warning(f"{self._pool.label}: a stream batch failed {retries} times, skipped")
                return len(segment)
            if self.mapping.bisect_on_error and len(segment) > 1:
                segment = segment[: len(segment) // 2]  # splitting does not count against the retries
                retries -= 1
                continue
            self._stopping.wait(RETRY_BACKOFF_SECONDS[min(retries, len(RETRY_BACKOFF_SECONDS)) - 1])
        return 0  # stopping: nothing more is done; the records are read again by the next `up`

    def _expired(self, segment: list[dict[str, Any]]) -> int:
        if self.mapping.maximum_record_age < 0:
            return 0
        now = datetime.now(UTC)
        count = 0
        for record in segment:
            created = (record.get("dynamodb") or {}).get("ApproximateCreationDateTime")
            if not isinstance(created, datetime) or (now - created).total_seconds() <= self.mapping.maximum_record_age:
                break
            count += 1
        return count

    def _invoke(self, segment: list[dict[str, Any]]) -> Result:
        with self._lock:
            self._invoking += 1
        try:
            return self._pool.invoke({"Records": [stream_record(r, self.mapping.source_arn) for r in segment]})
        finally:
            with self._lock:
                self._invoking -= 1
                self._idle.notify_all()

    def _done(self, segment: list[dict[str, Any]], result: Result) -> int:
        """How many records of the segment the answer has done with: all, none, or those before the checkpoint."""
        if not result.ok:
            return 0
        failures = (result.payload or {}).get("batchItemFailures") if isinstance(result.payload, dict) else None
        if not self.mapping.report_batch_item_failures or not failures:
            return len(segment)
        sequences = [str(record["dynamodb"]["SequenceNumber"]) for record in segment]
        failed = {str(failure.get("itemIdentifier")) for failure in failures if isinstance(failure, dict)}
        if not failed <= set(sequences):
            return 0  # a malformed answer fails the whole batch, as Lambda takes it
        return min(sequences.index(sequence) for sequence in failed)  # the lowest failed one is the checkpoint

    def stop(self) -> None:
        self._stopping.set()

    def drain(self, deadline: float) -> bool:
        with self._lock:
            while self._invoking:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True


def stream_poller(mapping: MappingSpec, wiring: Wiring) -> EventSource:
    """The pollers of an event source mapping on a DynamoDB stream; they read it with the function's own role."""
    credentials = wiring.role(mapping.function_name).as_client_arguments()
    session = boto3.session.Session(region_name=REGION, **credentials)
    config = Config(retries={"max_attempts": 3, "mode": "standard"})
    streams = session.client("dynamodbstreams", endpoint_url=wiring.endpoint, config=config)
    return StreamPoller(mapping, wiring.functions[mapping.function_name], streams, wiring.printer)
