# ruff: noqa: F811 - every test takes the imported `cloud` fixture by its name
"""Injected faults in each handler, on moto: throttling and 5xx answers from DynamoDB and SQS. The task is retried,
never lost: processing reports the record in batchItemFailures, the DLQ function leaves it undeleted, the gateway
answers 503 and a retried POST ends well. The audit table stays append-only through all of it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from botocore.retries.standard import ExponentialBackoff

# The integration conftest sets the functions' environment before it imports the handlers: take them from it.
from tests.integration.conftest import Cloud, cloud, dlq  # noqa: F401 - `cloud`: the moto fixture, used by name
from tests.reliability.faults import ALLOWED_DYNAMODB_OPERATIONS, Faults

THROTTLES = [("dynamodb", "ProvisionedThroughputExceededException"), ("dynamodb", "InternalServerError")]
SQS_FAULTS = ["ThrottlingException", "ServiceUnavailable"]
_SEEN: Counter[str] = Counter()


@pytest.fixture
def faults(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> Iterator[Faults]:
    # botocore still retries every injected fault as configured; only its jittered sleeps (up to 1+2+4 s for a
    # throttle) are skipped, to keep the tier fast.
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0)
    injector = Faults()
    injector.install()
    yield injector
    _SEEN.update(injector.operations)
    # Checked here, not only in the hook: the batch processor and the resolver catch whatever a record raises.
    assert set(injector.operations) <= ALLOWED_DYNAMODB_OPERATIONS, injector.operations


def _post(cloud: Cloud, task_id: str, payload: dict[str, object] | None = None) -> tuple[int, dict[str, object]]:
    return cloud.post({"taskId": task_id, "payload": payload if payload is not None else {"k": task_id}})


def _deliver(cloud: Cloud) -> dict[str, list[dict[str, str]]]:
    """One processing invocation over what is visible; the records it fails have their backoff ended at once."""
    messages = cloud.receive()
    if not messages:
        return {"batchItemFailures": []}
    result = cloud.process(messages)
    failed = {failure["itemIdentifier"] for failure in result["batchItemFailures"]}
    for message in messages:
        if message["MessageId"] in failed:
            cloud.fast_forward(message)
    return result


def _run_to_the_end(cloud: Cloud, rounds: int = 8) -> None:
    """Deliver whatever the queues hold until both are empty (bounded)."""
    for _ in range(rounds):
        _deliver(cloud)
        _drain_dlq(cloud)
        if cloud.queue_depth() == 0 and cloud.queue_depth(cloud.dlq_url) == 0:
            return
    depths = (cloud.queue_depth(), cloud.queue_depth(cloud.dlq_url))
    raise AssertionError(f"queues not empty after {rounds} rounds: {depths}")


def _drain_dlq(cloud: Cloud) -> dict[str, list[dict[str, str]]]:
    """One DLQ invocation over what the dead-letter queue holds now, if anything (Lambda never sends empty batches)."""
    messages = cloud.receive(cloud.dlq_url)
    return cloud.deliver(dlq.handler, messages, cloud.dlq_arn) if messages else {"batchItemFailures": []}


def _ends(cloud: Cloud, task_id: str) -> list[str]:
    return [t for t in cloud.types(task_id) if t in ("SUCCEEDED", "DEAD_LETTERED")]


# --- gateway -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("service", "code"), THROTTLES)
def test_gateway_table_fault_is_a_503_that_records_nothing_and_a_retry_ends_well(
    cloud: Cloud,
    faults: Faults,
    service: str,
    code: str,
) -> None:
    faults.fail(service, "PutItem", code)

    status, body = _post(cloud, "t-table")

    assert status == 503 and body["statusCode"] == 503
    assert faults.sent[("dynamodb", "PutItem")] > 1, "botocore's standard mode retries it first"
    assert cloud.items("t-table") == [] and cloud.queue_depth() == 0

    faults.clear()
    assert _post(cloud, "t-table")[0] == 202
    _run_to_the_end(cloud)
    assert cloud.types("t-table") == ["RECEIVED", "SUCCEEDED"]


@pytest.mark.parametrize("code", SQS_FAULTS)
def test_gateway_cannot_enqueue_503_then_a_retried_post_enqueues_once_and_succeeds(
    cloud: Cloud,
    faults: Faults,
    code: str,
) -> None:
    faults.fail("sqs", "SendMessage", code)

    status, body = _post(cloud, "t-send")

    assert status == 503 and body["error"] == "EnqueueFailed"
    assert cloud.types("t-send") == ["RECEIVED", "ENQUEUE_FAILED"] and cloud.queue_depth() == 0

    faults.clear()
    assert _post(cloud, "t-send")[0] == 202
    assert cloud.queue_depth() == 1
    assert _post(cloud, "t-send")[0] == 202  # a third try re-sends nothing
    assert cloud.queue_depth() == 1
    _run_to_the_end(cloud)
    types = cloud.types("t-send")
    assert types == ["RECEIVED", "ENQUEUE_FAILED", "REENQUEUED", "SUCCEEDED"]


def test_gateway_cannot_enqueue_nor_record_the_failure_and_a_later_retry_recovers(
    cloud: Cloud,
    faults: Faults,
) -> None:
    faults.fail("sqs", "SendMessage", "ServiceUnavailable")
    faults.fail("dynamodb", "PutItem", "InternalServerError", after=1)  # RECEIVED is written, ENQUEUE_FAILED is not

    assert _post(cloud, "t-both")[0] == 503
    assert cloud.types("t-both") == ["RECEIVED"] and cloud.queue_depth() == 0

    faults.clear()
    cloud.setenv(REENQUEUE_AFTER_SECONDS="0")  # the retry comes after the gateway's timeout
    assert _post(cloud, "t-both")[0] == 202
    _run_to_the_end(cloud)
    assert cloud.types("t-both") == ["RECEIVED", "REENQUEUED", "SUCCEEDED"]


@pytest.mark.xfail(
    strict=True,
    reason="known gap: a retry inside REENQUEUE_AFTER_SECONDS cannot tell a lost send from one in flight, and is "
    "told 202 though nothing is queued yet; the sweeper re-sends the task within its bound after the window, "
    "so the 202 still comes before the task is queued (README, Guarantees)",
)
def test_an_early_retry_after_a_lost_send_is_not_told_202_before_the_task_is_queued(
    cloud: Cloud,
    faults: Faults,
) -> None:
    faults.fail("sqs", "SendMessage", "ServiceUnavailable")
    faults.fail("dynamodb", "PutItem", "InternalServerError", after=1)  # ENQUEUE_FAILED is lost too
    assert _post(cloud, "t-early")[0] == 503
    faults.clear()

    status, _ = _post(cloud, "t-early")  # the client retries at once, as Retry-After: 1 asks

    assert status != 202 or cloud.queue_depth() == 1, "202 means durably enqueued"


def test_a_task_stranded_by_a_lost_send_and_a_lost_record_is_re_sent_by_the_sweeper(
    cloud: Cloud,
    faults: Faults,
) -> None:
    faults.fail("sqs", "SendMessage", "ServiceUnavailable")
    faults.fail("dynamodb", "PutItem", "InternalServerError", after=1)  # ENQUEUE_FAILED is lost too
    assert _post(cloud, "t-swept")[0] == 503
    faults.clear()
    assert _post(cloud, "t-swept")[0] == 202  # the early retry of the xfail above: nothing is re-sent
    assert cloud.types("t-swept") == ["RECEIVED"] and cloud.queue_depth() == 0

    cloud.setenv(REENQUEUE_AFTER_SECONDS="0")  # the next tick of the schedule, after the gateway's timeout
    assert cloud.sweep()["resent"] == ["t-swept"]
    assert cloud.sweep()["resent"] == []  # the next tick: already re-sent, not again
    _run_to_the_end(cloud)
    assert cloud.types("t-swept") == ["RECEIVED", "REENQUEUED", "SUCCEEDED"]


def test_a_gateway_crash_between_received_and_enqueue_is_recovered_by_a_client_retry(
    cloud: Cloud,
    faults: Faults,
) -> None:
    # What a gateway that died after its write left behind: RECEIVED, and no message.
    payload = {"k": "crash"}
    first = _post(cloud, "t-crash", payload)
    assert first[0] == 202
    cloud.sqs.purge_queue(QueueUrl=cloud.queue_url)
    assert cloud.types("t-crash") == ["RECEIVED"] and cloud.queue_depth() == 0

    cloud.setenv(REENQUEUE_AFTER_SECONDS="0")  # the client retries after the gateway's timeout
    status, body = _post(cloud, "t-crash", payload)

    assert status == 202 and body == first[1], "a retry gets the very answer of the first POST"
    _run_to_the_end(cloud)
    assert cloud.types("t-crash") == ["RECEIVED", "REENQUEUED", "SUCCEEDED"]


def test_a_throttle_the_sdk_absorbs_costs_nothing(cloud: Cloud, faults: Faults) -> None:
    faults.fail("dynamodb", "PutItem", "ProvisionedThroughputExceededException", times=1)
    faults.fail("sqs", "SendMessage", "ThrottlingException", times=1)

    assert _post(cloud, "t-once")[0] == 202

    assert faults.sent[("dynamodb", "PutItem")] == 2 and faults.sent[("sqs", "SendMessage")] == 2
    _run_to_the_end(cloud)
    assert cloud.types("t-once") == ["RECEIVED", "SUCCEEDED"]


# --- processing ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("service", "code"), THROTTLES)
def test_processing_cannot_record_success_so_the_record_fails_and_comes_back(
    cloud: Cloud,
    faults: Faults,
    service: str,
    code: str,
) -> None:
    _post(cloud, "p-ok")
    _post(cloud, "p-other")
    faults.fail(service, "PutItem", code)

    result = _deliver(cloud)

    assert len(result["batchItemFailures"]) == 2, "both records are reported failed"
    assert cloud.queue_depth() == 2, "a failed record is not deleted"
    faults.clear()
    _run_to_the_end(cloud)
    for task_id in ("p-ok", "p-other"):
        assert cloud.types(task_id) == ["RECEIVED", "SUCCEEDED"]
    assert {i["attempt"]["N"] for i in cloud.items("p-ok") if i["type"]["S"] == "SUCCEEDED"} == {"2"}


@pytest.mark.parametrize(("service", "code"), THROTTLES)
def test_processing_cannot_record_a_retry_so_the_record_fails_and_is_retried(
    cloud: Cloud,
    faults: Faults,
    service: str,
    code: str,
) -> None:
    _post(cloud, "p-retry", {"simulate": "fail-once"})
    faults.fail(service, "PutItem", code)

    result = _deliver(cloud)

    assert len(result["batchItemFailures"]) == 1 and cloud.queue_depth() == 1
    faults.clear()
    _run_to_the_end(cloud)
    assert cloud.types("p-retry") == ["RECEIVED", "SUCCEEDED"]


@pytest.mark.parametrize("code", SQS_FAULTS)
def test_processing_cannot_set_the_backoff_but_still_retries(
    cloud: Cloud,
    faults: Faults,
    code: str,
) -> None:
    _post(cloud, "p-vis", {"simulate": "fail-once"})
    faults.fail("sqs", "ChangeMessageVisibility", code)

    result = _deliver(cloud)  # the test can end the backoff: its own client is not faulted

    assert len(result["batchItemFailures"]) == 1 and cloud.queue_depth() == 1
    (retry,) = [i for i in cloud.items("p-vis") if i["type"]["S"] == "RETRY_SCHEDULED"]
    assert retry["visibilityTimeout"]["N"] == "30", "the queue's own visibility applies, and the event says so"
    faults.clear()
    _run_to_the_end(cloud)
    assert cloud.types("p-vis") == ["RECEIVED", "RETRY_SCHEDULED", "SUCCEEDED"]


@pytest.mark.parametrize("code", SQS_FAULTS)
def test_poison_message_that_cannot_be_moved_stays_on_the_queue(
    cloud: Cloud,
    faults: Faults,
    code: str,
) -> None:
    cloud.sqs.send_message(QueueUrl=cloud.queue_url, MessageBody="not a task")
    faults.fail("sqs", "SendMessage", code)

    result = cloud.process(cloud.receive())

    assert len(result["batchItemFailures"]) == 1 and cloud.queue_depth() == 1


# --- dead-letter function ------------------------------------------------------------------------------------------


def _dead_letter(cloud: Cloud, task_id: str) -> None:
    """Fail the task on every attempt until SQS moves it to the dead-letter queue (nothing consumed there yet)."""
    _post(cloud, task_id, {"simulate": "fail"})
    for _ in range(3):
        _deliver(cloud)
    cloud.receive()  # the receive past maxReceiveCount is the one that moves the message
    assert cloud.queue_depth() == 0 and cloud.queue_depth(cloud.dlq_url) == 1


@pytest.mark.parametrize(("event", "rank"), [("DEAD_LETTERED", 0), ("CLEANED_UP", 1)])
@pytest.mark.parametrize(("service", "code"), THROTTLES)
def test_dlq_function_cannot_record_so_the_message_stays_and_a_redelivery_records_once(
    cloud: Cloud,
    faults: Faults,
    event: str,
    rank: int,
    service: str,
    code: str,
) -> None:
    _dead_letter(cloud, "d-task")
    faults.fail(service, "PutItem", code, after=rank)  # rank 1: DEAD_LETTERED is written, CLEANED_UP is not

    (message,) = cloud.receive(cloud.dlq_url)
    result = cloud.deliver(dlq.handler, [message], cloud.dlq_arn)

    assert len(result["batchItemFailures"]) == 1 and cloud.queue_depth(cloud.dlq_url) == 1, "not deleted"
    faults.clear()
    cloud.sqs.change_message_visibility(
        QueueUrl=cloud.dlq_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
    )
    assert _drain_dlq(cloud)["batchItemFailures"] == []
    types = cloud.types("d-task")
    assert (
        types.count("DEAD_LETTERED") == 1
        and types.count("CLEANED_UP") == 1
        and _ends(cloud, "d-task") == ["DEAD_LETTERED"]
    )
    assert cloud.queue_depth(cloud.dlq_url) == 0


def test_dlq_function_dead_letters_even_when_the_history_cannot_be_read(cloud: Cloud, faults: Faults) -> None:
    _dead_letter(cloud, "d-blind")
    faults.fail("dynamodb", "Query", "InternalServerError")

    assert _drain_dlq(cloud)["batchItemFailures"] == []

    assert cloud.types("d-blind")[-2:] == ["DEAD_LETTERED", "CLEANED_UP"]


def test_the_append_only_guard_watched_the_handlers() -> None:
    # Runs last in this module: the guard must have seen the handlers' writes and reads, and nothing else.
    assert {"PutItem", "Query"} <= set(_SEEN), _SEEN
    assert set(_SEEN) <= ALLOWED_DYNAMODB_OPERATIONS
