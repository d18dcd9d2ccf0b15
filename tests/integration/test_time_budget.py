"""Time budgets against an AWS endpoint that stalls: a TCP server that accepts every connection and never answers,
set as AWS_ENDPOINT_URL for the handlers' clients (no moto: every call hangs). Each function still answers inside
its timeout: the gateway with the contract's 503 JSON and Retry-After, the consumers with every record failed,
the sweeper with its result. A killed invocation would have answered API Gateway's bare 502 (or retried the whole
batch) and lost its metrics."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from handlers import dlq, gateway, processing, sweeper
from handlers.errors import QueueUnavailableError
from handlers.models.settings import CallBudget
from tests.integration.aws_events import FakeLambdaContext, post_task_event, scheduled_event, sqs_record
from tests.integration.conftest import clear_clients, clear_settings

# Short, so that the test is: the same shares of it hold for the deployed 10 s and 30 s.
TIMEOUT = 3.0
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:stalled-processing"


class StalledEndpoint:
    """Accepts TCP connections and reads what is sent, never writing a byte back."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        self.connections: list[socket.socket] = []
        self.accepted = 0
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            self.accepted += 1
            self.connections.append(connection)  # kept open, unanswered

    def close(self) -> None:
        self.server.close()
        for connection in self.connections:
            connection.close()


@dataclass
class CountdownContext(FakeLambdaContext):
    """Lambda's context, whose remaining time runs out `TIMEOUT` seconds after it is made, as the function's does."""

    deadline: float = field(default_factory=lambda: time.monotonic() + TIMEOUT)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


@pytest.fixture
def stalled(monkeypatch: pytest.MonkeyPatch) -> Iterator[StalledEndpoint]:
    endpoint = StalledEndpoint()
    environment = {
        "AWS_ENDPOINT_URL": endpoint.url,
        "FUNCTION_TIMEOUT": str(TIMEOUT),
        "AUDIT_TABLE_NAME": "stalled-audit",
        "PROCESSING_QUEUE_URL": f"{endpoint.url}/123456789012/stalled-processing",
        "DEAD_LETTER_QUEUE_URL": f"{endpoint.url}/123456789012/stalled-dlq",
        "BASE_VISIBILITY_TIMEOUT": "30",
        "REENQUEUE_AFTER_SECONDS": "0",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    clear_settings()
    clear_clients()
    yield endpoint
    endpoint.close()
    clear_settings()
    clear_clients()


def _records(count: int) -> dict[str, object]:
    messages = [
        {
            "MessageId": f"m-{n}",
            "ReceiptHandle": f"receipt-{n}",
            "Body": json.dumps({"taskId": f"stalled-{n}", "payload": {}, "life": 0}),
            "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": str(int(time.time() * 1000))},
        }
        for n in range(count)
    ]
    return {"Records": [sqs_record(message, QUEUE_ARN) for message in messages]}


def test_a_stalled_table_is_a_503_with_retry_after_well_inside_the_gateways_timeout(stalled: StalledEndpoint) -> None:
    started = time.monotonic()
    response = gateway.handler(post_task_event({"taskId": "stalled", "payload": {}}), CountdownContext())
    elapsed = time.monotonic() - started

    assert response["statusCode"] == 503
    assert response["multiValueHeaders"]["Retry-After"] == ["1"]
    body = json.loads(response["body"])
    assert (body["statusCode"], body["error"]) == (503, "AuditStoreUnavailable")
    budget = CallBudget(TIMEOUT)
    # It did wait on the endpoint (a read timeout, retried once), and stopped before the invocation's reserve.
    assert stalled.accepted >= 1
    assert budget.read_timeout < elapsed < TIMEOUT - budget.reserve


@pytest.mark.parametrize("consumer", [processing, dlq], ids=["processing", "dlq"])
def test_a_stalled_table_fails_every_record_of_a_batch_inside_the_timeout(
    stalled: StalledEndpoint, consumer: object
) -> None:
    started = time.monotonic()
    result = consumer.handler(_records(5), CountdownContext())  # type: ignore[attr-defined]
    elapsed = time.monotonic() - started

    assert sorted(item["itemIdentifier"] for item in result["batchItemFailures"]) == [f"m-{n}" for n in range(5)]
    assert elapsed < TIMEOUT - CallBudget(TIMEOUT).reserve


def test_a_stalled_queue_ends_the_sweep_inside_its_timeout(stalled: StalledEndpoint) -> None:
    started = time.monotonic()
    # The sweep starts with the queue's depth, so it fails (EventBridge retries it later); what matters is when.
    with pytest.raises(QueueUnavailableError, match="could not read the queue's depth"):
        sweeper.handler(scheduled_event(), CountdownContext())
    elapsed = time.monotonic() - started
    assert elapsed < TIMEOUT - CallBudget(TIMEOUT).reserve


def test_an_attempt_is_cut_to_the_time_the_invocation_has_left(stalled: StalledEndpoint) -> None:
    # Called with 1.2 s left of its 3 s: the static read timeout (0.9 s) and a retry no longer fit, so the one attempt
    # waits only until the invocation's deadline for AWS calls, and the 503 comes before Lambda's end.
    left = 1.2
    started = time.monotonic()
    response = gateway.handler(
        post_task_event({"taskId": "late", "payload": {}}), CountdownContext(deadline=started + left)
    )
    elapsed = time.monotonic() - started

    assert response["statusCode"] == 503
    assert elapsed < left - CallBudget(TIMEOUT).reserve + 0.1  # the deadline, and the answer's own few ms
