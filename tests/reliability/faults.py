"""Fault injection into the handlers' own boto3 clients: chosen calls are answered with real-shaped AWS error
responses before they reach moto, so botocore parses them, retries them (standard mode) and raises as on AWS.
A second hook holds the audit table append-only at run time: any write other than PutItem fails the test."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse

from handlers.dal import clients

# Throttling and server errors as each service names them; botocore's standard retry mode retries them all.
STATUS_OF = {
    "ProvisionedThroughputExceededException": 400,
    "ThrottlingException": 400,
    "RequestLimitExceeded": 400,
    "InternalServerError": 500,
    "InternalFailure": 500,
    "ServiceUnavailable": 503,
}
_NOWHERE = "https://injected-fault.invalid/"
NAMESPACE = {"dynamodb": "com.amazonaws.dynamodb.v20120810", "sqs": "com.amazonaws.sqs"}
# What an append-only audit store may ask DynamoDB to do; everything else (UpdateItem, DeleteItem,
# BatchWriteItem, TransactWriteItems, PartiQL statements...) would rewrite or remove history.
ALLOWED_DYNAMODB_OPERATIONS = frozenset({"PutItem", "Query", "GetItem", "BatchGetItem", "DescribeTable"})


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


@dataclass
class Rule:
    service: str
    operation: str
    code: str
    remaining: int | None  # None: every call until cleared
    skip: int = 0  # let this many matching calls through first


@dataclass
class Faults:
    """Register with `install()`; `fail(...)` arms a fault, `clear()` disarms all; `sent` counts every HTTP attempt
    per (service, operation), retries included; `operations` is every DynamoDB operation the handlers called."""

    rules: list[Rule] = field(default_factory=list)
    sent: Counter[tuple[str, str]] = field(default_factory=Counter)
    injected: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    operations: Counter[str] = field(default_factory=Counter)

    def install(self) -> None:
        for service, client in (("dynamodb", clients.dynamodb()), ("sqs", clients.sqs())):
            client.meta.events.register_first(f"before-send.{service}", self._before_send)
        clients.dynamodb().meta.events.register_first("before-call.dynamodb", self._append_only)

    def fail(self, service: str, operation: str, code: str, times: int | None = None, after: int = 0) -> None:
        """Answer `times` calls (every call when None) with `code`, after letting `after` calls through."""
        self.rules.append(Rule(service, operation, code, times, after))

    def clear(self) -> None:
        self.rules.clear()

    def _append_only(self, model: Any, **_: Any) -> None:
        self.operations[model.name] += 1
        if model.name not in ALLOWED_DYNAMODB_OPERATIONS:
            raise AssertionError(f"a handler called dynamodb:{model.name} on the append-only audit table")

    def _before_send(self, request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        _, service, operation = event_name.split(".")
        self.sent[(service, operation)] += 1
        for rule in self.rules:
            if (rule.service, rule.operation) != (service, operation) or rule.remaining == 0:
                continue
            if rule.skip:
                rule.skip -= 1
                continue
            if rule.remaining is not None:
                rule.remaining -= 1
            self.injected[(service, operation, rule.code)] += 1
            # botocore calls every before-send handler and takes the first answer; pointing the request nowhere
            # keeps moto's own handler (registered after this one) from also carrying it out.
            url, request.url = request.url, _NOWHERE
            return _error_response(url, service, rule.code)
        return None


def _error_response(url: str, service: str, code: str) -> AWSResponse:
    body = json.dumps({"__type": f"{NAMESPACE[service]}#{code}", "message": f"injected {code}"}).encode()
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "injected-fault"}
    if service == "sqs":
        # SQS's JSON protocol also names the query-compatible code in this header; botocore prefers it.
        headers["x-amzn-query-error"] = f"{code};{'Sender' if STATUS_OF[code] < 500 else 'Receiver'}"
    return AWSResponse(url, STATUS_OF[code], headers, _Body(body))
