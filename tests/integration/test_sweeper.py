"""The stranded-task sweeper on moto: a task written but never sent is re-sent once, and a task whose message is
(or may be) in the queue is left alone until it is older than STRANDED_AFTER_SECONDS."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from handlers.errors import EnqueueFailedError
from handlers.logic import redrive
from handlers.logic.outbox import resend_if_stranded
from tests.integration.conftest import Cloud
from tests.integration.test_operations import dead_letter, submit


def lose_the_send(cloud: Cloud) -> None:
    """Take the only message off the queue: as if the gateway had died between its RECEIVED write and its send."""
    [message] = cloud.receive()
    cloud.sqs.delete_message(QueueUrl=cloud.queue_url, ReceiptHandle=message["ReceiptHandle"])


def bodies(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [json.loads(message["Body"]) for message in messages]


@pytest.fixture
def gateway_timed_out(cloud: Cloud) -> Cloud:
    """Every gateway event is older than the gateway's timeout (instead of sleeping through it)."""
    cloud.setenv(REENQUEUE_AFTER_SECONDS="0")
    return cloud


def test_a_task_whose_send_was_lost_is_resent_by_one_sweep_and_then_succeeds(gateway_timed_out: Cloud) -> None:
    cloud = gateway_timed_out
    submit(cloud, "lost", {"n": 1})
    lose_the_send(cloud)
    result = cloud.sweep()
    assert (result["queueEmpty"], result["resent"], result["failed"], result["complete"]) == (True, ["lost"], [], True)
    assert cloud.types("lost") == ["RECEIVED", "REENQUEUED"]
    messages = cloud.receive()
    assert bodies(messages) == [{"taskId": "lost", "payload": {"n": 1}, "life": 0}]
    assert cloud.process(messages) == {"batchItemFailures": []}
    assert cloud.types("lost") == ["RECEIVED", "REENQUEUED", "SUCCEEDED"]
    assert cloud.sweep()["resent"] == []


def test_a_task_whose_message_is_in_the_queue_is_not_resent(gateway_timed_out: Cloud) -> None:
    cloud = gateway_timed_out
    submit(cloud, "waiting")
    result = cloud.sweep()
    # With messages in the queue only tasks older than STRANDED_AFTER_SECONDS are candidates: not even read.
    assert (result["queueEmpty"], result["examined"], result["resent"]) == (False, 0, [])
    assert cloud.types("waiting") == ["RECEIVED"]
    assert cloud.queue_depth() == 1


def test_a_young_task_is_not_resent_even_with_an_empty_queue(cloud: Cloud) -> None:
    # Inside the gateway's timeout the request that wrote RECEIVED may still be about to send it.
    submit(cloud, "young")
    lose_the_send(cloud)
    assert cloud.sweep()["resent"] == []
    assert cloud.types("young") == ["RECEIVED"]


def test_a_sweep_reads_the_index_from_the_oldest_task_it_may_resend_back(cloud: Cloud) -> None:
    """Under steady load the index's newest QUEUED entries are all too young to re-send; a sweep that started from
    now would spend its budget on them and never reach a stranded task behind them. Only the stranded one is read."""
    submit(cloud, "stranded")
    lose_the_send(cloud)
    time.sleep(2.5)
    young_since = time.monotonic()
    for n in range(30):  # younger than the gateway's timeout below: their sends may still be under way
        submit(cloud, f"young-{n}")
    while messages := cloud.receive():  # an empty queue, so that the gateway's timeout is the only wait
        for message in messages:
            cloud.sqs.delete_message(QueueUrl=cloud.queue_url, ReceiptHandle=message["ReceiptHandle"])
    # The gateway's timeout: over the young tasks' age, however long a loaded machine took to submit them, and
    # still under the stranded one's (2.5 s older than the first of them).
    cloud.setenv(REENQUEUE_AFTER_SECONDS=f"{time.monotonic() - young_since + 0.5:.3f}")
    result = cloud.sweep()
    assert (result["queueEmpty"], result["examined"], result["resent"]) == (True, 1, ["stranded"])


def test_a_task_older_than_stranded_after_is_resent_even_with_a_busy_queue(gateway_timed_out: Cloud) -> None:
    cloud = gateway_timed_out
    submit(cloud, "stranded")
    lose_the_send(cloud)
    # Another task's message, waiting: the queue is not empty, so a young task cannot be told from a lost one.
    cloud.sqs.send_message(QueueUrl=cloud.queue_url, MessageBody=json.dumps({"taskId": "other", "payload": {}}))
    assert cloud.sweep()["resent"] == []
    cloud.setenv(STRANDED_AFTER_SECONDS="0")
    result = cloud.sweep()
    assert (result["queueEmpty"], result["resent"]) == (False, ["stranded"])
    assert sorted(body["taskId"] for body in bodies(cloud.receive())) == ["other", "stranded"]


def test_two_sweeps_send_a_stranded_task_once(gateway_timed_out: Cloud) -> None:
    cloud = gateway_timed_out
    submit(cloud, "once")
    lose_the_send(cloud)
    stale = cloud.store.history("once")
    assert cloud.sweep()["resent"] == ["once"]
    assert cloud.sweep()["resent"] == []
    # A sweep (or a retried POST) that read the history before the first one claimed the re-send: its claim fails.
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    assert resend_if_stranded(cloud.store, cloud.task_queue(), stale, {}, sent_before=tomorrow) is False
    assert cloud.types("once") == ["RECEIVED", "REENQUEUED"]
    assert cloud.queue_depth() == 1


def test_a_redrive_whose_send_failed_is_recovered(gateway_timed_out: Cloud, monkeypatch: pytest.MonkeyPatch) -> None:
    cloud = gateway_timed_out
    dead_letter(cloud, "redriven")

    def send_and_record_fail(*_: Any, **__: Any) -> None:
        raise EnqueueFailedError("could not enqueue the task")

    with monkeypatch.context() as patch:
        patch.setattr(redrive, "send_recorded", send_and_record_fail)
        with pytest.raises(EnqueueFailedError):
            redrive.redrive_task(cloud.store, cloud.task_queue(), "redriven", "test")
    assert cloud.get("redriven")[1]["status"] == "QUEUED"
    assert cloud.queue_depth() == 0
    assert cloud.sweep()["resent"] == ["redriven"]
    messages = cloud.receive()
    assert bodies(messages) == [{"taskId": "redriven", "payload": {"simulate": "fail-until-redriven"}, "life": 1}]
    assert cloud.process(messages) == {"batchItemFailures": []}
    assert cloud.get("redriven")[1]["status"] == "SUCCEEDED"
