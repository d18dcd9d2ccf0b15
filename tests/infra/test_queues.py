"""Policies on the queues: redrive to the DLQ, its retention and allow policy, encryption, visibility."""

from __future__ import annotations

import json

import pytest

from tests.infra.harness import ACCOUNT, ProgramRun

QUEUE = "aws:sqs/queue:Queue"
FOURTEEN_DAYS = 14 * 24 * 3600


def _queues(run: ProgramRun) -> tuple[dict, dict]:
    return run.named(QUEUE, run.physical("processing")), run.named(QUEUE, run.physical("dlq"))


@pytest.mark.parametrize(("fixture", "receives"), [("default_run", 2), ("local_run", 2), ("tuned_run", 5)])
def test_processing_queue_redrives_to_the_dlq_after_max_receive_count(
    fixture: str, receives: int, request: pytest.FixtureRequest
) -> None:
    run: ProgramRun = request.getfixturevalue(fixture)
    processing, dlq = _queues(run)
    redrive = json.loads(processing["redrivePolicy"])
    assert redrive == {
        "deadLetterTargetArn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:{dlq['name']}",
        "maxReceiveCount": receives,
    }
    assert "redrivePolicy" not in dlq


def test_dlq_keeps_messages_14_days_longer_than_the_processing_queue(default_run: ProgramRun) -> None:
    processing, dlq = _queues(default_run)
    assert dlq["messageRetentionSeconds"] == FOURTEEN_DAYS
    # DLQ retention counts from the original enqueue, so the source queue must keep messages for less.
    assert processing["messageRetentionSeconds"] < dlq["messageRetentionSeconds"]


def test_dlq_accepts_redrive_from_the_processing_queue_only(default_run: ProgramRun) -> None:
    (allow,) = default_run.of_type("aws:sqs/redriveAllowPolicy:RedriveAllowPolicy")
    processing, dlq = _queues(default_run)
    assert allow["queueUrl"] == f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/{dlq['name']}"
    assert json.loads(allow["redriveAllowPolicy"]) == {
        "redrivePermission": "byQueue",
        "sourceQueueArns": [f"arn:aws:sqs:us-east-1:{ACCOUNT}:{processing['name']}"],
    }


def test_both_queues_are_encrypted_at_rest(default_run: ProgramRun) -> None:
    queues = default_run.of_type(QUEUE)
    assert len(queues) == 2
    assert all(queue.get("sqsManagedSseEnabled") is True or queue.get("kmsMasterKeyId") for queue in queues)


@pytest.mark.parametrize("fixture", ["default_run", "tuned_run"])
def test_visibility_is_at_least_six_times_the_consumer_timeout(fixture: str, request: pytest.FixtureRequest) -> None:
    run: ProgramRun = request.getfixturevalue(fixture)
    processing, dlq = _queues(run)
    assert processing["visibilityTimeoutSeconds"] >= 6 * run.setting("processingTimeout")
    assert dlq["visibilityTimeoutSeconds"] >= 6 * run.setting("dlqTimeout")


def test_visibility_defaults_to_six_times_the_processing_timeout(default_run: ProgramRun) -> None:
    processing, _ = _queues(default_run)
    assert processing["visibilityTimeoutSeconds"] == 180


def test_configured_visibility_is_the_base_the_processing_function_is_told(tuned_run: ProgramRun) -> None:
    processing, _ = _queues(tuned_run)
    function = tuned_run.named("aws:lambda/function:Function", tuned_run.physical("processing"))
    assert processing["visibilityTimeoutSeconds"] == 400
    assert function["environment"]["variables"]["BASE_VISIBILITY_TIMEOUT"] == "400"


def test_local_stack_may_go_under_the_ratio_but_not_under_the_timeout(local_run: ProgramRun) -> None:
    processing, _ = _queues(local_run)
    assert processing["visibilityTimeoutSeconds"] == 10
    assert processing["visibilityTimeoutSeconds"] >= local_run.setting("processingTimeout")
