"""The SDK's clients, built on first use and cached: importing the SDK is most of a cold start, and AWS_ENDPOINT_URL
in the environment (the local cloud) is honoured by botocore itself, so no endpoint is passed here.

Every call fits the invocation's time. The clients' timeouts come from the function's (CallBudget), and while an
invocation runs (`invocation_deadline`) each attempt of a call, a retry included, must end before the invocation's
deadline, its end less a reserve: its read timeout is cut to the time left (botocore reads a per-request
`read_timeout` from the request's context), and it does not start when too little is left. So a stalled DynamoDB or
SQS costs the gateway a 503 with Retry-After, and a batch its remaining records as failed ones, before Lambda could
kill the invocation (which would answer a bare 502, or retry the whole batch, and lose the invocation's metrics).
botocore's defaults here (2 s + 5 s, four attempts) let one stalled call take about 20 s, twice the gateway's
timeout."""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import BotoCoreError

from handlers.models.settings import CallBudget, call_settings

if TYPE_CHECKING:
    from botocore.client import BaseClient
    from botocore.config import Config
    from botocore.session import Session
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient


class OutOfTimeError(BotoCoreError):
    """The invocation has not enough time left for another attempt of an AWS call. A BotoCoreError, so that the data
    access layer reports it like any other failed call (the gateway answers 503; a record fails)."""

    fmt = (
        "{operation} not started: {remaining:.2f} s left before the invocation's deadline for AWS calls, less than "
        "the {attempt:.2f} s an attempt needs"
    )


class _Context(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


# The monotonic time by which the current invocation's AWS calls must have ended; None outside an invocation.
_deadline: float | None = None


@contextmanager
def invocation_deadline(context: _Context) -> Iterator[None]:
    """While the handler runs: every AWS call must end `reserve` seconds before Lambda's deadline for the invocation."""
    global _deadline  # noqa: PLW0603 - one invocation at a time per execution environment, as on Lambda
    budget = call_settings().call_budget
    _deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - budget.reserve
    try:
        yield
    finally:
        _deadline = None


def seconds_left() -> float | None:
    """Seconds until the current invocation's deadline for AWS calls (None outside an invocation)."""
    return None if _deadline is None else _deadline - time.monotonic()


def time_for_new_work(worst_case_call: float) -> float:
    """How long new work may still be started in this invocation: until one worst-case call before its deadline, so
    that the last call started still ends inside it."""
    return max(0.0, (seconds_left() or 0.0) - worst_case_call)


def _config(budget: CallBudget) -> "Config":
    from botocore.config import Config

    # Standard mode retries throttling and transient errors with backoff; _bound_retries stops it in time.
    return Config(
        retries={"mode": "standard", "total_max_attempts": budget.max_attempts},
        connect_timeout=budget.connect_timeout,
        read_timeout=budget.read_timeout,
    )


def _bound(client: "BaseClient", budget: CallBudget) -> None:
    """No attempt, first or retry, that could end past the invocation's deadline."""
    from botocore.retries import standard

    service = client.meta.service_model.service_id.hyphenize()
    events = client.meta.events

    def fit_attempt(request: Any, event_name: str, **_: Any) -> None:
        left = seconds_left()
        if left is None:
            return
        if left < budget.shortest_attempt:
            operation = event_name.rsplit(".", 1)[-1]
            raise OutOfTimeError(operation=operation, remaining=left, attempt=budget.shortest_attempt)
        # Connecting may take its whole timeout; the answer gets what is left after it.
        request.context["read_timeout"] = min(budget.read_timeout, left - budget.connect_timeout)

    # botocore's standard retry handler, wrapped: a retry whose backoff and attempt would not fit is not made, and
    # the last error is raised at once instead (botocore.retries.standard.register_retry_handler is what botocore
    # itself registers for standard mode; it is registered again here to be wrapped).
    unique_id = f"retry-config-{service}"
    events.unregister(f"needs-retry.{service}", unique_id=unique_id)
    retry = standard.register_retry_handler(client, max_attempts=budget.max_attempts)
    events.unregister(f"needs-retry.{service}", unique_id=unique_id)

    def needs_retry(**kwargs: Any) -> float | None:
        delay: float | None = retry.needs_retry(**kwargs)
        left = seconds_left()
        if delay is not None and left is not None and left < delay + budget.shortest_attempt:
            return None
        return delay

    events.register(f"needs-retry.{service}", needs_retry, unique_id=unique_id)  # type: ignore[arg-type]
    events.register(f"before-send.{service}", fit_attempt)


@cache
def _session() -> "Session":
    """One botocore session for the four clients (its loader keeps the models and endpoints it has read). botocore's
    own: boto3's Session would add only its resource layer and s3transfer, which no handler uses, at 25-60 ms of
    every cold request (bench/coldstart.py); region, credentials and AWS_ENDPOINT_URL come from the same
    environment either way."""
    from botocore.session import get_session

    return get_session()


def _budgeted(service: str) -> Any:
    """A client of `service` whose every call, retries included, fits the invocation's time (_config, _bound)."""
    budget = call_settings().call_budget
    client = _session().create_client(service, config=_config(budget))
    _bound(client, budget)
    return client


@cache
def dynamodb() -> "DynamoDBClient":
    """The low-level DynamoDB client (no resource layer: it imports more and converts numbers to Decimal)."""
    return _budgeted("dynamodb")


@cache
def sqs() -> "SQSClient":
    """The SQS client."""
    return _budgeted("sqs")


@cache
def kms() -> "KMSClient":
    """The KMS client (the events' MAC keys; the digests' signatures)."""
    return _budgeted("kms")


@cache
def s3() -> "S3Client":
    """The S3 client (the digests)."""
    return _budgeted("s3")
