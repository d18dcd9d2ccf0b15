"""The local DynamoDB stream event source behaves as Lambda's does (https://docs.aws.amazon.com/lambda/latest/dg/
with-ddb.html, services-dynamodb-errors.html): records in order per shard, batches of at most the batch size, a
failing batch split in two until the failing record is alone (the records before it go through), retried until it
succeeds or its retries run out, and with ReportBatchItemFailures the lowest failed sequence number is the checkpoint.
The stream is the emulator's own; the function is a stand-in that records what it is handed."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from local.deploy.topology import MappingSpec
from local.emulator.access import EmulatorAccess
from local.emulator.server import Emulator
from local.services.lambda_.event_source_mapping import dynamodb_stream_poller
from local.services.lambda_.event_source_mapping.dynamodb_stream_poller import StreamPoller
from local.services.lambda_.runtime import Result
from local.services.logs import LogPrinter
from tests.e2e.cloud import free_port


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorAccess]:
    running = Emulator(free_port())
    running.start()
    try:
        yield EmulatorAccess(running.endpoint, running.admin)
    finally:
        running.stop()


class Function:
    """A function that fails while `fails(records)` says so, and remembers every batch it was handed."""

    label = "digest"

    def __init__(self, fails: Callable[[list[dict[str, Any]]], Any]) -> None:
        self.fails = fails
        self.batches: list[list[str]] = []
        self.lock = threading.Lock()

    def invoke(self, event: dict[str, Any]) -> Result:
        keys = [record["dynamodb"]["Keys"]["pk"]["S"] for record in event["Records"]]
        with self.lock:
            self.batches.append(keys)
        answer = self.fails(event["Records"])
        if answer is True:
            return Result(False, error={"errorType": "Error", "errorMessage": "failed"})
        return Result(True, payload=answer or {"batchItemFailures": []})

    def delivered(self) -> list[str]:
        """Each record once, in the order it was first handed over successfully... or at all."""
        seen: list[str] = []
        for batch in self.batches:
            seen += [key for key in batch if key not in seen]
        return seen


def _stream(emulator: EmulatorAccess, name: str, keys: list[str]) -> str:
    dynamodb = emulator.client("dynamodb")
    arn = dynamodb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]["LatestStreamArn"]
    for key in keys:
        dynamodb.put_item(TableName=name, Item={"pk": {"S": key}})
    return str(arn)


def _run(
    emulator: EmulatorAccess, arn: str, function: Function, until: Callable[[], bool], **mapping: Any
) -> StreamPoller:
    spec = MappingSpec(
        source_arn=arn,
        service="dynamodb",
        queue_url=None,
        function_name="digest",
        batch_size=4,
        batching_window=0,
        report_batch_item_failures=False,
        max_concurrency=1,
        enabled=True,
        starting_position="TRIM_HORIZON",
        bisect_on_error=True,
    )
    poller = StreamPoller(
        replace(spec, **mapping), function, emulator.client("dynamodbstreams"), LogPrinter(io.StringIO())
    )  # type: ignore[arg-type]
    poller.start()
    deadline = time.monotonic() + 20
    while not until() and time.monotonic() < deadline:
        time.sleep(0.05)
    poller.stop()
    return poller


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dynamodb_stream_poller, "RETRY_BACKOFF_SECONDS", (0.01,))
    monkeypatch.setattr(dynamodb_stream_poller, "POLL_SECONDS", 0.02)


KEYS = [f"k{n:02d}" for n in range(10)]


def test_records_arrive_in_order_in_batches_of_at_most_the_batch_size(emulator: EmulatorAccess) -> None:
    function = Function(lambda records: None)
    _run(emulator, _stream(emulator, "ordered", KEYS), function, lambda: len(function.delivered()) == len(KEYS))

    assert function.delivered() == KEYS
    assert all(len(batch) <= 4 for batch in function.batches)
    assert sum(len(batch) for batch in function.batches) == len(KEYS)  # each once: none failed


def test_a_failing_batch_is_split_until_the_bad_record_is_alone_and_retried_until_it_succeeds(
    emulator: EmulatorAccess,
) -> None:
    attempts = {"k05": 0}

    def fails(records: list[dict[str, Any]]) -> bool:
        if any(record["dynamodb"]["Keys"]["pk"]["S"] == "k05" for record in records):
            attempts["k05"] += 1
            return attempts["k05"] < 6
        return False

    function = Function(fails)
    _run(emulator, _stream(emulator, "bisected", KEYS), function, lambda: "k09" in function.delivered())

    assert function.delivered() == KEYS  # in order, none skipped
    succeeded = max(i for i, batch in enumerate(function.batches) if "k05" in batch)
    # Alone at last, failing there, and retried until it succeeded (its 6th attempt in all).
    assert function.batches[succeeded - 1 : succeeded + 1] == [["k05"], ["k05"]]
    assert attempts["k05"] == 6
    # Nothing after k05 went through before k05 did: any earlier batch holding k06 held k05 too, and failed.
    assert all("k05" in batch for batch in function.batches[:succeeded] if "k06" in batch)
    assert ["k04"] in function.batches[:succeeded]  # the record before it went through


def test_the_lowest_failed_sequence_number_is_the_checkpoint(emulator: EmulatorAccess) -> None:
    reported: list[bool] = []

    def fails(records: list[dict[str, Any]]) -> dict[str, Any] | None:
        keys = [record["dynamodb"]["Keys"]["pk"]["S"] for record in records]
        if "k02" in keys and not reported:
            reported.append(True)
            failed = records[keys.index("k02")]["dynamodb"]["SequenceNumber"]
            return {"batchItemFailures": [{"itemIdentifier": failed}]}
        return None

    function = Function(fails)
    _run(
        emulator,
        _stream(emulator, "checkpointed", KEYS),
        function,
        lambda: "k09" in function.delivered(),
        report_batch_item_failures=True,
        bisect_on_error=False,
    )

    assert function.batches[0] == ["k00", "k01", "k02", "k03"]
    assert function.batches[1][0] == "k02"  # from the checkpoint: k00 and k01 are not handed over again


def test_retries_run_out_when_the_mapping_limits_them(emulator: EmulatorAccess) -> None:
    function = Function(lambda records: any(r["dynamodb"]["Keys"]["pk"]["S"] == "k00" for r in records))
    _run(
        emulator,
        _stream(emulator, "limited", KEYS[:3]),
        function,
        lambda: "k02" in function.delivered(),
        bisect_on_error=False,
        maximum_retry_attempts=2,
        batch_size=1,
    )

    assert function.batches[:3] == [["k00"]] * 3  # the first attempt and two retries, then skipped
    assert function.delivered() == KEYS[:3]
