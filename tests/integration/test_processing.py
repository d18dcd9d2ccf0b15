"""The processing and dead-letter functions on moto: every lifecycle path, backoff, batches, redelivery, poison."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from handlers.dal import clients
from handlers.dal.queue import POISON_ATTRIBUTE
from tests.integration import workers
from tests.integration.conftest import BASE_VISIBILITY, Cloud


@pytest.fixture
def visibility_calls(cloud: Cloud) -> Iterator[list[dict[str, Any]]]:
    """The ChangeMessageVisibility requests the handlers make, as sent."""
    calls: list[dict[str, Any]] = []

    def remember(params: dict[str, Any], **_: Any) -> None:
        calls.append(dict(params))

    clients.sqs().meta.events.register("provide-client-params.sqs.ChangeMessageVisibility", remember)
    yield calls


def submit(cloud: Cloud, task_id: str, payload: dict[str, Any] | None = None) -> None:
    assert cloud.post({"taskId": task_id, "payload": payload or {}})[0] == 202


def test_success_records_succeeded_and_deletes_the_message(cloud: Cloud) -> None:
    submit(cloud, "ok")

    result = cloud.process(cloud.receive())

    assert result == {"batchItemFailures": []}
    assert cloud.types("ok") == ["RECEIVED", "SUCCEEDED"]
    assert cloud.items("ok")[1]["attempt"] == {"N": "1"}
    assert cloud.queue_depth() == 0
    assert cloud.get("ok")[1]["status"] == "SUCCEEDED"


def test_fail_once_retries_after_base_then_succeeds(cloud: Cloud, visibility_calls: list[dict[str, Any]]) -> None:
    submit(cloud, "once", {"simulate": "fail-once"})
    [message] = cloud.receive()

    result = cloud.process([message])

    assert result == {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
    assert [call["VisibilityTimeout"] for call in visibility_calls] == [BASE_VISIBILITY]
    assert visibility_calls[0]["ReceiptHandle"] == message["ReceiptHandle"]
    assert cloud.receive() == []  # hidden for its backoff
    assert cloud.get("once")[1]["status"] == "RETRYING"

    cloud.fast_forward(message)
    [again] = cloud.receive()
    assert again["Attributes"]["ApproximateReceiveCount"] == "2"
    assert cloud.process([again]) == {"batchItemFailures": []}

    assert cloud.types("once") == ["RECEIVED", "RETRY_SCHEDULED", "SUCCEEDED"]
    _, body = cloud.get("once")
    assert (body["status"], body["attempts"]) == ("SUCCEEDED", 2)
    assert cloud.queue_depth() == 0


def test_fail_always_backs_off_n_times_base_then_dead_letters_and_cleans_up(
    cloud: Cloud, visibility_calls: list[dict[str, Any]]
) -> None:
    submit(cloud, "doomed", {"simulate": "fail"})
    for attempt in (1, 2):
        [message] = cloud.receive()
        assert message["Attributes"]["ApproximateReceiveCount"] == str(attempt)
        assert cloud.process([message])["batchItemFailures"] == [{"itemIdentifier": message["MessageId"]}]
        cloud.fast_forward(message)

    assert [call["VisibilityTimeout"] for call in visibility_calls] == [BASE_VISIBILITY, 2 * BASE_VISIBILITY]
    assert cloud.receive() == []  # a third receive: SQS's redrive moved it to the DLQ
    assert cloud.queue_depth(cloud.dlq_url) == 1

    assert cloud.drain_dlq() == {"batchItemFailures": []}

    assert cloud.types("doomed") == ["RECEIVED", "RETRY_SCHEDULED", "RETRY_SCHEDULED", "DEAD_LETTERED", "CLEANED_UP"]
    _, body = cloud.get("doomed")
    assert (body["status"], body["attempts"]) == ("DEAD_LETTERED", 2)
    retries, dead = body["events"][1:3], body["events"][3]
    assert [(e["attempt"], e["visibilityTimeout"]) for e in retries] == [(1, 30), (2, 60)]
    assert dead["attempts"] == 2 and "attempt 2" in dead["lastError"]
    assert "message" not in dead  # kept in the table for redrive, not shown by the API
    stored = cloud.items("doomed")[3]
    assert json.loads(stored["message"]["S"]) == {"taskId": "doomed", "payload": {"simulate": "fail"}, "life": 0}
    assert cloud.queue_depth(cloud.dlq_url) == 0


def test_one_failing_record_in_a_batch_of_ten(cloud: Cloud) -> None:
    for n in range(10):
        submit(cloud, f"b{n}", {"simulate": "fail"} if n == 6 else {"n": n})
    messages = cloud.receive()
    assert len(messages) == 10
    failing = next(m for m in messages if json.loads(m["Body"])["taskId"] == "b6")

    result = cloud.process(messages)

    assert result == {"batchItemFailures": [{"itemIdentifier": failing["MessageId"]}]}
    for n in range(10):
        expected = ["RECEIVED", "RETRY_SCHEDULED"] if n == 6 else ["RECEIVED", "SUCCEEDED"]
        assert cloud.types(f"b{n}") == expected
    assert cloud.queue_depth() == 1  # only the failed one is left, in flight for its backoff


def test_a_redelivered_batch_writes_nothing_twice(cloud: Cloud) -> None:
    submit(cloud, "again")
    submit(cloud, "again-fail", {"simulate": "fail"})
    messages = cloud.receive()
    event = cloud.batch(messages)
    from handlers import processing
    from tests.integration.aws_events import FakeLambdaContext

    first = processing.handler(event, FakeLambdaContext())
    second = processing.handler(event, FakeLambdaContext())  # the same delivery again

    assert first == second
    assert cloud.types("again") == ["RECEIVED", "SUCCEEDED"]
    assert cloud.types("again-fail") == ["RECEIVED", "RETRY_SCHEDULED"]


def test_success_redelivered_after_a_lost_delete_keeps_one_terminal_event(cloud: Cloud) -> None:
    submit(cloud, "lost-delete")
    [message] = cloud.receive()
    from handlers import processing
    from tests.integration.aws_events import FakeLambdaContext

    processing.handler(cloud.batch([message]), FakeLambdaContext())  # succeeded, but never deleted
    cloud.fast_forward(message)
    [redelivered] = cloud.receive()
    assert cloud.process([redelivered]) == {"batchItemFailures": []}

    assert cloud.types("lost-delete") == ["RECEIVED", "SUCCEEDED"]
    assert cloud.items("lost-delete")[1]["attempt"] == {"N": "1"}


def test_dead_letter_copy_of_a_succeeded_task_adds_no_terminal_event(cloud: Cloud) -> None:
    submit(cloud, "both")
    [message] = cloud.receive()
    cloud.process([message])
    cloud.sqs.send_message(QueueUrl=cloud.dlq_url, MessageBody=message["Body"])

    assert cloud.drain_dlq() == {"batchItemFailures": []}
    assert cloud.types("both") == ["RECEIVED", "SUCCEEDED"]
    assert cloud.get("both")[1]["status"] == "SUCCEEDED"


def test_dead_letter_redelivery_writes_nothing_twice(cloud: Cloud) -> None:
    submit(cloud, "dl")
    cloud.receive()
    body = json.dumps({"taskId": "dl", "payload": {}, "life": 0})
    cloud.sqs.send_message(QueueUrl=cloud.dlq_url, MessageBody=body)
    [message] = cloud.receive(cloud.dlq_url)
    from handlers import dlq
    from tests.integration.aws_events import FakeLambdaContext

    event = cloud.batch([message], cloud.dlq_arn)
    assert dlq.handler(event, FakeLambdaContext()) == dlq.handler(event, FakeLambdaContext())

    assert cloud.types("dl") == ["RECEIVED", "DEAD_LETTERED", "CLEANED_UP"]
    assert cloud.items("dl")[1]["attempts"] == {"N": "2"}  # no retry recorded: maxReceiveCount
    assert "lastError" not in cloud.items("dl")[1]


def test_backoff_is_capped_at_12_hours(cloud: Cloud, visibility_calls: list[dict[str, Any]]) -> None:
    cloud.setenv(BASE_VISIBILITY_TIMEOUT="40000")
    submit(cloud, "cap", {"simulate": "fail"})
    [message] = cloud.receive()
    cloud.process([message])
    cloud.fast_forward(message)
    cloud.process(cloud.receive())

    first, second = (call["VisibilityTimeout"] for call in visibility_calls)
    assert first == 40000 and 43200 - 5 <= second < 43200  # 12 h from the send, less the seconds gone by
    assert [e.get("visibilityTimeout") for e in cloud.get("cap")[1]["events"]] == [None, first, second]


@pytest.mark.parametrize("body", ["not json", '{"payload": {}}', '{"taskId": "a/b", "payload": {}}', "[]"])
def test_poison_message_goes_to_the_dlq_at_once_and_is_discarded_there(cloud: Cloud, body: str) -> None:
    cloud.sqs.send_message(QueueUrl=cloud.queue_url, MessageBody=body)

    assert cloud.process(cloud.receive()) == {"batchItemFailures": []}  # deleted, not retried

    assert cloud.queue_depth() == 0
    [moved] = cloud.receive(cloud.dlq_url)
    assert moved["Body"] == body and moved["MessageAttributes"][POISON_ATTRIBUTE]["StringValue"]
    cloud.sqs.change_message_visibility(
        QueueUrl=cloud.dlq_url, ReceiptHandle=moved["ReceiptHandle"], VisibilityTimeout=0
    )
    assert cloud.drain_dlq() == {"batchItemFailures": []}
    assert cloud.queue_depth(cloud.dlq_url) == 0
    assert cloud.items() == []


def test_poison_message_without_a_dlq_url_is_failed_visible_at_once(
    cloud: Cloud, visibility_calls: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DEAD_LETTER_QUEUE_URL")
    cloud.setenv()
    cloud.sqs.send_message(QueueUrl=cloud.queue_url, MessageBody="garbage")
    [message] = cloud.receive()

    assert cloud.process([message]) == {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
    assert [call["VisibilityTimeout"] for call in visibility_calls] == [0]


def test_fault_injection_is_ignored_unless_enabled(cloud: Cloud) -> None:
    cloud.setenv(FAULT_INJECTION="false")
    submit(cloud, "no-faults", {"simulate": "fail"})

    assert cloud.process(cloud.receive()) == {"batchItemFailures": []}
    assert cloud.types("no-faults") == ["RECEIVED", "SUCCEEDED"]


def test_fail_until_redriven_fails_life_zero_and_succeeds_in_life_one(cloud: Cloud) -> None:
    submit(cloud, "bug", {"simulate": "fail-until-redriven"})
    assert cloud.process(cloud.receive())["batchItemFailures"]
    cloud.sqs.send_message(
        QueueUrl=cloud.queue_url,
        MessageBody=json.dumps({"taskId": "bug", "payload": {"simulate": "fail-until-redriven"}, "life": 1}),
    )

    assert cloud.process(cloud.receive()) == {"batchItemFailures": []}
    assert [(item["type"]["S"], item["life"]["N"]) for item in cloud.items("bug")] == [
        ("RECEIVED", "0"),
        ("RETRY_SCHEDULED", "0"),
        ("SUCCEEDED", "1"),
    ]


def test_the_task_worker_is_pluggable(cloud: Cloud) -> None:
    cloud.setenv(TASK_WORKER="tests.integration.workers:record_and_fail_odd")
    workers.seen.clear()
    submit(cloud, "even", {"odd": False})
    submit(cloud, "odd", {"odd": True})

    result = cloud.process(cloud.receive())

    assert len(result["batchItemFailures"]) == 1
    assert sorted(run.task_id for run in workers.seen) == ["even", "odd"]
    assert cloud.types("odd") == ["RECEIVED", "RETRY_SCHEDULED"]
    assert "RuntimeError: odd task odd" in cloud.get("odd")[1]["events"][1]["error"]


def test_backoff_finds_the_queue_from_the_record_when_no_url_is_configured(
    cloud: Cloud, visibility_calls: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    submit(cloud, "derived", {"simulate": "fail"})
    monkeypatch.delenv("PROCESSING_QUEUE_URL")  # as the processing function's environment may lack it
    cloud.setenv()
    [message] = cloud.receive()

    cloud.process([message])

    assert [call["VisibilityTimeout"] for call in visibility_calls] == [BASE_VISIBILITY]
    assert cloud.receive() == []  # the backoff did apply to the message


def test_dead_lettering_survives_an_unreadable_history(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> None:
    from handlers.dal.audit_store import AuditStore
    from handlers.errors import AuditStoreUnavailableError

    submit(cloud, "blind")
    cloud.receive()

    def unreadable(*_: Any, **__: Any) -> None:
        raise AuditStoreUnavailableError("AccessDenied on Query")

    monkeypatch.setattr(AuditStore, "history", unreadable)
    cloud.sqs.send_message(QueueUrl=cloud.dlq_url, MessageBody=json.dumps({"taskId": "blind", "payload": {}}))

    assert cloud.drain_dlq() == {"batchItemFailures": []}
    monkeypatch.undo()
    assert cloud.types("blind") == ["RECEIVED", "DEAD_LETTERED", "CLEANED_UP"]
