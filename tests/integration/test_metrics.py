"""The functions' metrics, as the EMF documents they print under moto: every metric of the contract
(handlers.models.contract.METRIC_SOURCES) is published by each function listed for it, in the contract's namespace,
with the one `service` dimension Powertools adds; and no function publishes a metric the contract does not list.

The alarms and the dashboard may name a function's metric only through that table (tests/infra/test_monitoring.py),
so this test is what proves that an alarm on one of them watches something that is actually published."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from handlers.models.contract import (
    METRIC_SOURCES,
    METRIC_UNITS,
    METRICS_NAMESPACE,
    SERVICE_DIMENSION,
    Function,
    Metric,
    service_name,
)
from handlers.observability import metrics
from tests.integration.aws_events import FakeLambdaContext, api_event, scheduled_event
from tests.integration.conftest import MAX_RECEIVE_COUNT, TABLE, Cloud
from tests.integration.digest_trail import Trail, run_tasks, trail_for

Published = set[tuple[str, Function]]


class EmfCapture:
    """Runs handler calls as one function at a time and keeps the EMF documents each prints."""

    def __init__(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
        self.capsys = capsys
        self.monkeypatch = monkeypatch
        self.documents: list[tuple[Function, dict[str, Any]]] = []
        self.trail: Trail

    @contextmanager
    def running_as(self, function: Function) -> Iterator[None]:
        # On Lambda each function is its own process, whose POWERTOOLS_SERVICE_NAME infra sets to service_name();
        # here they share one Metrics object, so its service is set the same way, per call.
        self.capsys.readouterr()
        self.monkeypatch.setattr(metrics, "service", service_name(function))
        yield
        for line in self.capsys.readouterr().out.splitlines():
            if line.startswith("{") and '"_aws"' in line:
                self.documents.append((function, json.loads(line)))

    def published(self) -> Published:
        return {
            (definition["Name"], function)
            for function, document in self.documents
            for directive in document["_aws"]["CloudWatchMetrics"]
            for definition in directive["Metrics"]
        }


@pytest.fixture
def trail(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> Iterator[Trail]:
    yield from trail_for(cloud, monkeypatch)


@pytest.fixture
def emf(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, trail: Trail) -> EmfCapture:
    capture = EmfCapture(capsys, monkeypatch)
    capture.trail = trail  # the digest function's stream, bucket and keys, for its scenario
    return capture


def _submit(cloud: Cloud, task_id: str, payload: dict[str, Any] | None = None) -> None:
    assert cloud.post({"taskId": task_id, "payload": payload or {}})[0] == 202


def _lose_the_send(cloud: Cloud) -> None:
    [message] = cloud.receive()
    cloud.sqs.delete_message(QueueUrl=cloud.queue_url, ReceiptHandle=message["ReceiptHandle"])


def _empty(cloud: Cloud) -> None:
    """Delete what the processing queue holds (nothing is in flight between the scenarios' steps)."""
    while messages := cloud.receive():
        for message in messages:
            cloud.sqs.delete_message(QueueUrl=cloud.queue_url, ReceiptHandle=message["ReceiptHandle"])


def _gateway(cloud: Cloud, emf: EmfCapture) -> None:
    with emf.running_as("gateway"):
        _submit(cloud, "m-received")
    cloud.process(cloud.receive())
    # A retried POST of a task whose send was lost re-sends it.
    cloud.setenv(REENQUEUE_AFTER_SECONDS="0")
    with emf.running_as("gateway"):
        _submit(cloud, "m-lost")
    _lose_the_send(cloud)
    with emf.running_as("gateway"):
        _submit(cloud, "m-lost")
    cloud.process(cloud.receive())


def _processing(cloud: Cloud, emf: EmfCapture) -> None:
    _submit(cloud, "m-ok")
    _submit(cloud, "m-fails", {"simulate": "fail"})
    messages = cloud.receive()
    with emf.running_as("processing"):
        [failed] = cloud.process(messages)["batchItemFailures"]
    cloud.sqs.send_message(QueueUrl=cloud.queue_url, MessageBody="not a task")
    with emf.running_as("processing"):
        cloud.process(cloud.receive())
    cloud.fast_forward(next(m for m in messages if m["MessageId"] == failed["itemIdentifier"]))


def _dead_letters(cloud: Cloud, emf: EmfCapture) -> None:
    """m-fails through its last receives, the DLQ and the dlq function; then a redrive of it."""
    for _ in range(MAX_RECEIVE_COUNT - 1):
        [message] = cloud.receive()
        with emf.running_as("processing"):
            cloud.process([message])
        cloud.fast_forward(message)
    assert cloud.receive() == []
    with emf.running_as("dlq"):
        assert cloud.drain_dlq() == {"batchItemFailures": []}  # the dead letter, and the poison message
    redrive = api_event(
        "POST",
        "/api/v1/tasks/m-fails/redrive",
        content_type=None,
        resource="/api/v1/tasks/{taskId}/redrive",
        path_parameters={"taskId": "m-fails"},
    )
    with emf.running_as("gateway"):
        assert cloud.invoke_gateway(redrive)[0] == 202


def _sweeper(cloud: Cloud, emf: EmfCapture) -> None:
    _empty(cloud)  # an empty queue: a task with no message in it is stranded
    cloud.setenv(REENQUEUE_AFTER_SECONDS="0")
    _submit(cloud, "m-stranded")
    _lose_the_send(cloud)
    with emf.running_as("sweeper"):
        assert "m-stranded" in cloud.sweep()["resent"]


def _records_failing(cloud: Cloud, emf: EmfCapture) -> None:
    """Both consumers, with the table gone from under them: every record fails, none by its task's own doing."""
    _empty(cloud)
    _submit(cloud, "m-no-table")
    cloud.sqs.send_message(QueueUrl=cloud.dlq_url, MessageBody=json.dumps({"taskId": "m-dead", "payload": {}}))
    cloud.setenv(AUDIT_TABLE_NAME="no-such-table")
    with emf.running_as("processing"):
        assert len(cloud.process(cloud.receive())["batchItemFailures"]) == 1
    with emf.running_as("dlq"):
        assert len(cloud.drain_dlq()["batchItemFailures"]) == 1


def _digests(cloud: Cloud, emf: EmfCapture) -> None:
    """The digest function reads the stream (events, an event altered, one inserted without a MAC) and seals."""
    from handlers import digest

    trail = emf.trail
    run_tasks(cloud)
    item = cloud.items("ok")[0]
    cloud.dynamodb.update_item(
        TableName=TABLE,
        Key={"taskId": item["taskId"], "sk": item["sk"]},
        UpdateExpression="SET payload = :p",
        ExpressionAttributeValues={":p": {"S": "{}"}},
    )
    cloud.dynamodb.put_item(TableName=TABLE, Item={"taskId": {"S": "forged"}, "sk": {"S": "0000#00000#000"}})
    context = FakeLambdaContext(function_name="tasktrail-test-digest")
    with emf.running_as("digest"):
        digest.handler({"Records": trail.records()}, context)
        digest.handler(scheduled_event(), context)


SCENARIOS: list[Callable[[Cloud, EmfCapture], None]] = [_gateway, _processing, _dead_letters, _sweeper, _digests]


def test_each_function_publishes_exactly_the_metrics_the_contract_lists(cloud: Cloud, emf: EmfCapture) -> None:
    for scenario in (*SCENARIOS, _records_failing):
        scenario(cloud, emf)
    expected = {(str(metric), function) for metric, functions in METRIC_SOURCES.items() for function in functions}
    assert emf.published() == expected


def test_every_document_is_in_the_namespace_with_the_service_dimension_only(cloud: Cloud, emf: EmfCapture) -> None:
    for scenario in SCENARIOS:
        scenario(cloud, emf)
    assert emf.documents
    for function, document in emf.documents:
        for directive in document["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == METRICS_NAMESPACE
            assert directive["Dimensions"] == [[SERVICE_DIMENSION]]
            for definition in directive["Metrics"]:
                assert definition["Unit"] == METRIC_UNITS.get(Metric(definition["Name"]), "Count")
        assert document[SERVICE_DIMENSION] == service_name(function)


def test_a_tasks_own_failed_attempt_is_a_retry_not_a_failed_record(cloud: Cloud, emf: EmfCapture) -> None:
    _submit(cloud, "m-fails", {"simulate": "fail"})
    with emf.running_as("processing"):
        assert len(cloud.process(cloud.receive())["batchItemFailures"]) == 1
    assert emf.published() == {("TaskRetries", "processing")}
