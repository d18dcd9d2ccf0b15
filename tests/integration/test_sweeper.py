"""The stranded-task sweeper on moto: a task written but never sent is re-sent once, and a task whose message is
(or may be) in the queue is left alone until it is older than STRANDED_AFTER_SECONDS. The reconciler examines each
QUEUED index entry once, from checkpoints, across runs cut short by their budget; it tells processed tasks apart in
bulk; a re-send that is lost too is found again from its own entry; an entry that could not be examined is not
passed."""

from __future__ import annotations

import itertools
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from handlers.dal.keys import checkpoint_partition, status_partition
from handlers.dal.schema import GATEWAY_SLOT, TERMINAL_SLOT
from handlers.errors import AuditStoreUnavailableError, EnqueueFailedError
from handlers.logic import redrive, sweep
from handlers.logic.outbox import resend_if_stranded
from handlers.models.events import AuditEvent, EventType
from handlers.models.settings import sweeper_settings
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


@pytest.fixture
def busy_and_overdue(cloud: Cloud) -> Cloud:
    """A queue that is never empty (a message delayed for 15 minutes: SQS counts it, nothing receives it), so only
    the guaranteed pass runs; and every entry already past STRANDED_AFTER_SECONDS."""
    cloud.sqs.send_message(QueueUrl=cloud.queue_url, MessageBody=json.dumps({"taskId": "later"}), DelaySeconds=900)
    cloud.setenv(STRANDED_AFTER_SECONDS="0")
    return cloud


def seed(cloud: Cloud, task_id: str, processed: EventType | None) -> None:
    """A task's RECEIVED, and its first processing event if any (a retry at slot 1, or its terminal event)."""
    payload = {"fields": {"payload": json.dumps({"n": task_id}), "payloadHash": "h"}}
    cloud.store.append(AuditEvent(task_id, EventType.RECEIVED, life=0, slot=GATEWAY_SLOT, **payload))  # type: ignore[arg-type]
    if processed is not None:
        slot = 1 if processed is EventType.RETRY_SCHEDULED else TERMINAL_SLOT  # attempt 1's slot
        cloud.store.append(AuditEvent(task_id, processed, life=0, slot=slot, attempt=1))


def process_what_is_visible(cloud: Cloud) -> None:
    """The processing function's turn: what the sweeper re-sent runs and succeeds."""
    while messages := cloud.receive():
        assert cloud.process(messages) == {"batchItemFailures": []}


def out_of_time_after(monkeypatch: pytest.MonkeyPatch, checks: int) -> None:
    """The next run's budget runs out after `checks` looks at the clock, across its shards' threads."""
    ticks = itertools.count()
    monkeypatch.setattr(sweep._Sweep, "out_of_time", lambda self: next(ticks) >= checks)


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


def test_with_an_empty_queue_a_sweep_reads_only_the_entries_past_the_gateways_timeout(cloud: Cloud) -> None:
    """The best-effort pass, before STRANDED_AFTER_SECONDS: the index's newest QUEUED entries are too young to
    re-send (their sends may still be under way), and are not even read. Only the stranded one is."""
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


def test_every_entry_is_examined_once_and_every_stranded_task_re_sent_once_across_runs_cut_short(
    busy_and_overdue: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's case: 2,000 QUEUED entries, 5 of them stranded, and runs that each reach only part of them. A run
    that started again from its own cut-off re-sent 1 of the 5; from checkpoints, every one is re-sent, once."""
    cloud = busy_and_overdue
    monkeypatch.setattr(sweep, "PAGE_SIZE", 40)
    stranded = {f"t-{n:04d}" for n in range(200, 2000, 400)}
    for n in range(2000):
        task_id = f"t-{n:04d}"
        still_retrying = n % 20 == 1
        seed(
            cloud,
            task_id,
            None if task_id in stranded else (EventType.RETRY_SCHEDULED if still_retrying else EventType.SUCCEEDED),
        )
    runs: list[dict[str, Any]] = []
    while not runs or not runs[-1]["complete"]:
        out_of_time_after(monkeypatch, 20)
        runs.append(cloud.sweep())
        process_what_is_visible(cloud)  # before the next run examines the re-sends' own entries
        assert len(runs) < 100
    assert len(runs) > 2, "each run reached only part of the entries"
    assert all(run["lagSeconds"] > 0 for run in runs[:-1]) and runs[-1]["lagSeconds"] == 0
    # Each entry once: the 2,000, and the 5 REENQUEUED entries the re-sends added (their tasks processed by then).
    assert sum(run["examined"] for run in runs) == 2000 + len(stranded)
    assert sorted(task for run in runs for task in run["resent"]) == sorted(stranded)
    # Only the histories of the stranded tasks and of those still retrying (100) were read: the ended ones were told
    # apart by their terminal event's key, in bulk.
    assert sum(run["historiesRead"] for run in runs) == len(stranded) + 100
    for task_id in stranded:
        assert cloud.types(task_id) == ["RECEIVED", "REENQUEUED", "SUCCEEDED"]
    monkeypatch.undo()
    later = cloud.sweep()
    assert (later["examined"], later["resent"], later["complete"], later["lagSeconds"]) == (0, [], True, 0)


def test_checkpoints_are_appended_in_partitions_of_their_own_and_the_newest_is_the_furthest(
    busy_and_overdue: Cloud,
) -> None:
    cloud = busy_and_overdue
    for n in range(30):
        seed(cloud, f"c-{n}", EventType.SUCCEEDED)
    assert cloud.sweep()["examined"] == 30
    checkpoints = [item for item in cloud.items() if item["taskId"]["S"].startswith("#")]
    assert {item["taskId"]["S"] for item in checkpoints} <= {
        checkpoint_partition(status_partition("QUEUED", shard)) for shard in range(8)
    }
    assert {item["type"]["S"] for item in checkpoints} == {"RECONCILER_CHECKPOINT"}
    for item in checkpoints:
        partition = item["taskId"]["S"].removeprefix("#checkpoint#")
        newest = cloud.store.last_checkpoint(partition)
        assert newest is not None and newest.at >= item["indexAt"]["S"]
    # The listing shows tasks only.
    assert cloud.get("#checkpoint#QUEUED#0")[0] in (400, 404, 422)


def test_a_re_send_that_is_lost_too_is_found_again_from_its_own_entry(busy_and_overdue: Cloud) -> None:
    cloud = busy_and_overdue
    seed(cloud, "twice", None)
    assert cloud.sweep()["resent"] == ["twice"]
    lose_the_send(cloud)  # the re-sent message is lost as well (or the sweeper died after its REENQUEUED claim)
    # The checkpoint is past RECEIVED now; the REENQUEUED claim is an entry of its own, examined in its turn.
    assert cloud.sweep()["resent"] == ["twice"]
    process_what_is_visible(cloud)
    assert cloud.sweep()["resent"] == []
    assert cloud.types("twice") == ["RECEIVED", "REENQUEUED", "REENQUEUED", "SUCCEEDED"]


def test_an_entry_that_could_not_be_examined_is_not_passed(
    busy_and_overdue: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    cloud = busy_and_overdue
    for n in range(40):
        seed(cloud, f"f-{n}", EventType.SUCCEEDED if n % 10 else None)
    real_history = type(cloud.store).history
    failed_once: set[str] = set()

    def history_failing_once(store: Any, task_id: str, page_size: int | None = None) -> list[AuditEvent]:
        if task_id == "f-20" and task_id not in failed_once:
            failed_once.add(task_id)
            raise AuditStoreUnavailableError("the table timed out")
        return real_history(store, task_id, page_size)

    monkeypatch.setattr(type(cloud.store), "history", history_failing_once)
    first = cloud.sweep()
    assert "f-20" not in first["resent"] and not first["complete"] and first["lagSeconds"] > 0
    assert sorted(first["resent"]) == ["f-0", "f-10", "f-30"]
    process_what_is_visible(cloud)
    second = cloud.sweep()
    assert second["resent"] == ["f-20"] and second["complete"]
    assert sum(run["examined"] for run in (first, second)) >= 40


def test_two_runs_at_once_re_send_each_stranded_task_once(busy_and_overdue: Cloud) -> None:
    # EventBridge may deliver a tick twice, and a slow run may overlap the next one.
    cloud = busy_and_overdue
    for n in range(60):
        seed(cloud, f"d-{n}", None if n % 6 == 0 else EventType.SUCCEEDED)
    # Overdue after 2 s rather than at once: the seeded tasks are, but a REENQUEUED one run writes while the other
    # runs is not, as with the deployed 15 minutes (at 0 s a run that read a task after the other re-sent it would
    # rightly find it stranded again).
    cloud.setenv(STRANDED_AFTER_SECONDS="2")
    time.sleep(2.1)
    results: list[Any] = []

    def run() -> None:
        results.append(sweep.sweep_stranded(sweeper_settings(), cloud.store, cloud.task_queue(), budget_seconds=30))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    resent = [task for result in results for task in result.resent]
    assert sorted(resent) == sorted(f"d-{n}" for n in range(0, 60, 6))


def test_a_raised_stranded_after_leaves_checkpoints_past_the_cut_off_and_the_sweep_still_completes(
    busy_and_overdue: Cloud,
) -> None:
    # The checkpoints of a run at STRANDED_AFTER_SECONDS=0 are ahead of a later run's cut-off at an hour: its index
    # read would be `at BETWEEN checkpoint AND cut-off` with crossed bounds, which DynamoDB refuses.
    cloud = busy_and_overdue
    for n in range(5):
        seed(cloud, f"r-{n}", EventType.SUCCEEDED)
    assert cloud.sweep()["examined"] == 5
    cloud.setenv(STRANDED_AFTER_SECONDS="3600")
    later = cloud.sweep()
    assert (later["examined"], later["resent"], later["complete"], later["lagSeconds"]) == (0, [], True, 0)
