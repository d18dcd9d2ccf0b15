"""The gateway on moto: submission, idempotency, conflicts, recovery of failed sends, history reads."""

from __future__ import annotations

import json
import re

import pytest

from handlers.dal.schema import GATEWAY_SLOT
from handlers.models.events import AuditEvent, EventType
from tests.integration.aws_events import api_event, post_task_event
from tests.integration.conftest import Cloud

ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def test_post_records_received_and_enqueues_once(cloud: Cloud) -> None:
    status, body = cloud.post({"taskId": "t-1", "payload": {"n": 1}})

    assert status == 202
    assert body["taskId"] == "t-1" and body["status"] == "QUEUED" and ISO_UTC.match(body["receivedAt"])
    assert cloud.types("t-1") == ["RECEIVED"]
    [message] = cloud.receive()
    assert json.loads(message["Body"]) == {"taskId": "t-1", "payload": {"n": 1}, "life": 0}


def test_integer_task_id_is_stored_as_a_string(cloud: Cloud) -> None:
    status, body = cloud.post({"taskId": 42, "payload": {}})

    assert (status, body["taskId"]) == (202, "42")
    assert cloud.types("42") == ["RECEIVED"]
    assert cloud.get("42")[0] == 200


def test_repeated_post_gets_the_same_answer_and_enqueues_nothing_more(cloud: Cloud) -> None:
    first = cloud.post({"taskId": "dup", "payload": {"a": 1, "b": [1, 2]}})
    again = cloud.post('{"payload": {"b": [1, 2], "a": 1}, "taskId": "dup"}')  # same object, other key order

    assert first == again
    assert cloud.types("dup") == ["RECEIVED"]
    assert len(cloud.receive()) == 1


def test_same_task_id_with_another_payload_is_a_conflict(cloud: Cloud) -> None:
    cloud.post({"taskId": "c", "payload": {"v": 1}})

    status, body = cloud.post({"taskId": "c", "payload": {"v": 2}})

    assert status == 409 and body["error"] == "TaskConflict"
    assert cloud.types("c") == ["RECEIVED"]
    assert len(cloud.receive()) == 1


def test_json_content_type_with_parameters_in_any_case_is_accepted(cloud: Cloud) -> None:
    status, _ = cloud.post({"taskId": "ct", "payload": {}}, content_type="Application/JSON; Charset=UTF-8")

    assert status == 202


def test_path_without_the_base_path_is_served_too(cloud: Cloud) -> None:
    event = api_event("POST", "/tasks", json.dumps({"taskId": "short", "payload": {}}))

    assert cloud.invoke_gateway(event)[0] == 202


def test_failed_send_answers_503_and_a_retry_sends_it(cloud: Cloud) -> None:
    good_queue = cloud.queue_url
    cloud.setenv(PROCESSING_QUEUE_URL=good_queue + "-missing")

    status, body = cloud.post({"taskId": "e", "payload": {"x": 1}})

    assert status == 503 and body["error"] == "EnqueueFailed"
    assert cloud.types("e") == ["RECEIVED", "ENQUEUE_FAILED"]
    assert cloud.receive() == []

    cloud.setenv(PROCESSING_QUEUE_URL=good_queue)
    status, body = cloud.post({"taskId": "e", "payload": {"x": 1}})

    assert status == 202 and body["status"] == "QUEUED"
    assert cloud.types("e") == ["RECEIVED", "ENQUEUE_FAILED", "REENQUEUED"]
    assert len(cloud.receive()) == 1
    assert cloud.post({"taskId": "e", "payload": {"x": 1}})[0] == 202  # and a third try sends nothing more
    assert cloud.types("e") == ["RECEIVED", "ENQUEUE_FAILED", "REENQUEUED"]


def test_crash_between_record_and_send_is_recovered_by_a_retry(cloud: Cloud) -> None:
    # The first gateway died after its RECEIVED write: recorded, never sent.
    post = {"taskId": "crash", "payload": {"k": "v"}}
    cloud.post(post)
    cloud.receive()[0]  # noqa: B018 - stands for the lost message: take it off the queue
    cloud.sqs.purge_queue(QueueUrl=cloud.queue_url)

    assert cloud.post(post)[0] == 202  # within the gateway's timeout: maybe still in flight, so not re-sent
    assert cloud.queue_depth() == 0

    cloud.setenv(REENQUEUE_AFTER_SECONDS="0")  # later than the gateway's timeout: it can only have been lost
    assert cloud.post(post)[0] == 202
    assert cloud.types("crash") == ["RECEIVED", "REENQUEUED"]
    assert len(cloud.receive()) == 1


def test_a_retry_does_not_resend_a_task_whose_message_may_wait_behind_a_backlog(cloud: Cloud) -> None:
    post = {"taskId": "behind", "payload": {}}
    cloud.post(post)
    cloud.setenv(REENQUEUE_AFTER_SECONDS="0")  # past the gateway's timeout, but the queue holds its message
    assert cloud.post(post)[0] == 202
    assert cloud.types("behind") == ["RECEIVED"] and cloud.queue_depth() == 1

    cloud.setenv(STRANDED_AFTER_SECONDS="0")  # as old as the sweeper's limit: re-sent whatever the queue holds
    assert cloud.post(post)[0] == 202
    assert cloud.types("behind") == ["RECEIVED", "REENQUEUED"] and cloud.queue_depth() == 2


def test_no_resend_once_processing_has_seen_the_task(cloud: Cloud) -> None:
    post = {"taskId": "seen", "payload": {}}
    cloud.post(post)
    cloud.process(cloud.receive())
    cloud.setenv(REENQUEUE_AFTER_SECONDS="0")

    assert cloud.post(post)[0] == 202
    assert cloud.types("seen") == ["RECEIVED", "SUCCEEDED"]
    assert cloud.queue_depth() == 0


def test_get_returns_state_and_events_oldest_first(cloud: Cloud) -> None:
    cloud.post({"taskId": "g", "payload": {"simulate": "fail-once"}})
    [message] = cloud.receive()
    cloud.process([message])
    cloud.fast_forward(message)
    cloud.process(cloud.receive())

    status, body = cloud.get("g")

    assert status == 200
    assert (body["taskId"], body["status"], body["attempts"]) == ("g", "SUCCEEDED", 2)
    events = body["events"]
    assert [(e["seq"], e["type"]) for e in events] == [(1, "RECEIVED"), (2, "RETRY_SCHEDULED"), (3, "SUCCEEDED")]
    assert all(ISO_UTC.match(e["at"]) for e in events)
    assert events[0]["payload"] == {"simulate": "fail-once"}
    assert (events[1]["attempt"], events[1]["visibilityTimeout"]) == (1, 30)
    assert "SimulatedFailure" in events[1]["error"]
    assert events[2]["attempt"] == 2


def test_get_unknown_task_is_404(cloud: Cloud) -> None:
    status, body = cloud.get("nobody")

    assert status == 404 and body["error"] == "TaskNotFound"


def test_get_invalid_task_id_is_422_naming_it(cloud: Cloud) -> None:
    status, body = cloud.get("x" * 129)

    assert status == 422 and "taskId" in body["message"]


def test_unknown_route_is_a_json_404(cloud: Cloud) -> None:
    status, body = cloud.invoke_gateway(api_event("DELETE", "/api/v1/tasks/x", content_type=None))

    assert status == 404 and body["error"] == "NotFound"


def test_history_longer_than_one_dynamodb_page_comes_back_whole(cloud: Cloud) -> None:
    # Four ~300 KB events: over DynamoDB's 1 MB page, so a Query needs several pages.
    cloud.post({"taskId": "long", "payload": {}})
    big = "e" * 300_000
    for attempt in range(1, 5):
        retry = AuditEvent(
            "long", EventType.RETRY_SCHEDULED, life=0, slot=attempt, attempt=attempt,
            fields={"visibilityTimeout": 30 * attempt, "error": big},
        )  # fmt: skip
        assert cloud.store.append(retry) is None

    status, body = cloud.get("long")

    assert status == 200
    assert [e["seq"] for e in body["events"]] == [1, 2, 3, 4, 5]
    assert (body["status"], body["attempts"]) == ("RETRYING", 4)


def test_history_follows_last_evaluated_key(cloud: Cloud) -> None:
    for rank in range(7):
        kind = EventType.RECEIVED if rank == 0 else EventType.REENQUEUED
        cloud.store.append(AuditEvent("paged", kind, life=0, slot=GATEWAY_SLOT, rank=rank))

    events = cloud.store.history("paged", page_size=2)

    assert [event.rank for event in events] == list(range(7))


def test_payloads_are_not_logged_unless_asked(cloud: Cloud, caplog: pytest.LogCaptureFixture) -> None:
    def logged() -> str:
        text = " ".join(str(record.__dict__) for record in caplog.records)
        caplog.clear()
        return text

    cloud.post({"taskId": "quiet", "payload": {"secret": "s3cr3t-value"}})
    cloud.process(cloud.receive())
    assert "s3cr3t-value" not in logged()

    cloud.setenv(LOG_PAYLOADS="true")
    cloud.post({"taskId": "loud", "payload": {"secret": "s3cr3t-value"}})
    assert "s3cr3t-value" in logged()


def test_post_event_builder_is_real_shaped() -> None:
    event = post_task_event({"taskId": 1, "payload": {}})

    assert event["requestContext"]["resourcePath"] == "/api/v1/tasks" and event["isBase64Encoded"] is False
