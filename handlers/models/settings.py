"""Settings of each function: one typed model per function, read from its environment by its entry point on first
use (not at import) and cached. The same models name the environment variables infra sets (`environment`), so a
misspelt or missing key fails the infrastructure's tests instead of falling back to a default on Lambda."""

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field

from handlers.models.contract import MAX_BODY_BYTES, SQS_MAX_VISIBILITY_TIMEOUT, ApiAuth

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


@dataclass(frozen=True)
class CallBudget:
    """How long the AWS calls of a function whose timeout is `function_timeout` seconds may take.

    Each attempt of a call gets a twentieth of the timeout to connect and three tenths to read its answer (at most
    the SDK's usual 2 s and 5 s): a stalled endpoint costs one attempt at most that. Within an invocation
    (handlers.dal.clients) an attempt's read timeout is also cut to what is left before the invocation's deadline,
    `reserve` seconds before its end (kept for the answer, the gateway's 503 or the batch's response, and the
    metrics' flush), and an attempt, a retry included, starts only while at least `shortest_attempt` is left."""

    function_timeout: float
    max_attempts: int = 3

    @property
    def connect_timeout(self) -> float:
        # A connection to a regional endpoint takes milliseconds; most calls reuse one and do not connect at all.
        return min(2.0, 0.05 * self.function_timeout)

    @property
    def read_timeout(self) -> float:
        return min(5.0, 0.3 * self.function_timeout)

    @property
    def attempt_seconds(self) -> float:
        """The longest one attempt of one call can take."""
        return self.connect_timeout + self.read_timeout

    @property
    def shortest_attempt(self) -> float:
        """The least time worth starting an attempt with: time to connect, and a tenth of the read timeout for the
        answer (DynamoDB's and SQS's usually take milliseconds)."""
        return self.connect_timeout + 0.1 * self.read_timeout

    @property
    def reserve(self) -> float:
        """Kept free at the end of every invocation: no AWS call runs in it."""
        return max(0.25, 0.05 * self.function_timeout)

    @property
    def worst_case_call(self) -> float:
        """The longest one call can take: every attempt stalled to its timeouts, and the longest backoffs botocore's
        standard mode sleeps between them (1 s, then 2 s, for throttling)."""
        sleeps = sum(2.0**retry for retry in range(self.max_attempts - 1))
        return self.max_attempts * self.attempt_seconds + sleeps


class CallSettings(BaseModel):
    """What the AWS clients read (handlers.dal.clients): the function's timeout, from which the time budget of each
    of its calls follows."""

    # defer_build: a function reads one of the five models below; the others' validators are never built.
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    # Lambda's own default timeout; infra always sets the function's real one.
    function_timeout: float = Field(default=3, alias="FUNCTION_TIMEOUT", gt=0, le=900)

    @property
    def call_budget(self) -> CallBudget:
        return CallBudget(self.function_timeout)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Self:
        """The settings in `environ` (the process environment by default)."""
        return cls.model_validate(dict(os.environ if environ is None else environ))

    @classmethod
    def environment(cls, **values: Any) -> dict[str, Any]:
        """The environment variables that give this function `values` (by field name; a value may be a Pulumi
        Output, passed through). TypeError for a name the model does not have, or a required one left out."""
        fields = cls.model_fields
        unknown = sorted(set(values) - set(fields))
        missing = sorted(name for name, info in fields.items() if info.is_required() and name not in values)
        if unknown or missing:
            raise TypeError(f"{cls.__name__}: unknown settings {unknown}, missing settings {missing}")
        return {str(fields[name].alias): _as_variable(value) for name, value in values.items()}


class FunctionSettings(CallSettings):
    """What every function reads; the Powertools keys are read by Powertools itself, and listed here so that the
    whole environment of a function is described in one place."""

    audit_table_name: str = Field(alias="AUDIT_TABLE_NAME", min_length=1)
    log_payloads: bool = Field(default=False, alias="LOG_PAYLOADS")
    service_name: str = Field(default="tasktrail", alias="POWERTOOLS_SERVICE_NAME")
    metrics_namespace: str = Field(default="tasktrail", alias="POWERTOOLS_METRICS_NAMESPACE")
    log_level: LogLevel = Field(default="INFO", alias="POWERTOOLS_LOG_LEVEL")
    # The stack's HMAC key (KMS): every event appended carries a MAC with a key derived from it. Unset, no MACs.
    event_mac_key_id: str | None = Field(default=None, alias="EVENT_MAC_KEY_ID")


def _as_variable(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value  # a string, or an Output the deployment resolves


class GatewaySettings(FunctionSettings):
    """The API function."""

    processing_queue_url: str = Field(alias="PROCESSING_QUEUE_URL", min_length=1)
    max_body_bytes: int = Field(default=MAX_BODY_BYTES, alias="MAX_BODY_BYTES", gt=0)
    # A RECEIVED (or REENQUEUED) older than this with nothing after it, and an empty queue, is taken as never sent:
    # the gateway died between the write and the send. Set it to the gateway's timeout; a retried POST re-sends it.
    reenqueue_after_seconds: float = Field(default=30, alias="REENQUEUE_AFTER_SECONDS", ge=0)
    # While the queue holds messages, a retried POST re-sends only a task older than this (as the sweeper does).
    stranded_after_seconds: float = Field(default=900, alias="STRANDED_AFTER_SECONDS", ge=0)
    # The stack's apiAuth, enforced by API Gateway; the gateway only describes it in the OpenAPI document.
    api_auth: ApiAuth = Field(default="apiKey", alias="API_AUTH")
    # Where GET /tasks/{taskId}/proof finds the task's digests, and the key that signed them; unset, no proofs.
    digest_bucket: str | None = Field(default=None, alias="DIGEST_BUCKET")
    signing_key_id: str | None = Field(default=None, alias="DIGEST_SIGNING_KEY_ID")
    digest_period_seconds: int = Field(default=300, alias="DIGEST_PERIOD_SECONDS", ge=1)
    digest_grace_seconds: int = Field(default=65, alias="DIGEST_GRACE_SECONDS", ge=0)


class ProcessingSettings(FunctionSettings):
    """The processing queue's consumer."""

    # Unset, it is derived from each record's event source ARN.
    processing_queue_url: str | None = Field(default=None, alias="PROCESSING_QUEUE_URL")
    base_visibility_timeout: int = Field(alias="BASE_VISIBILITY_TIMEOUT", ge=0, le=SQS_MAX_VISIBILITY_TIMEOUT)
    max_receive_count: int = Field(default=2, alias="MAX_RECEIVE_COUNT", ge=1)
    fault_injection: bool = Field(default=False, alias="FAULT_INJECTION")
    task_worker: str = Field(
        default="handlers.logic.work:run_task", alias="TASK_WORKER", pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$"
    )
    # Where a message that is not a task goes at once; unset, it is failed with no delay until SQS moves it.
    dead_letter_queue_url: str | None = Field(default=None, alias="DEAD_LETTER_QUEUE_URL")


class DeadLetterSettings(FunctionSettings):
    """The dead-letter queue's consumer."""

    max_receive_count: int = Field(default=2, alias="MAX_RECEIVE_COUNT", ge=1)


class SweeperSettings(FunctionSettings):
    """The stranded-task sweeper, run on a schedule."""

    processing_queue_url: str = Field(alias="PROCESSING_QUEUE_URL", min_length=1)
    # The gateway's timeout: a gateway event older than this was followed by its send, if there ever was one.
    reenqueue_after_seconds: float = Field(default=30, alias="REENQUEUE_AFTER_SECONDS", ge=0)
    # Older than this, a task still QUEUED is re-sent even while the queue holds messages (it may hold the task's
    # own, behind a backlog: then it runs twice, which at-least-once delivery allows).
    stranded_after_seconds: float = Field(default=900, alias="STRANDED_AFTER_SECONDS", ge=0)
    # Where an index shard without a checkpoint is read from (the reconciler's first run): this far back.
    sweep_lookback_seconds: int = Field(default=86400, alias="SWEEP_LOOKBACK_SECONDS", gt=0, le=999_999_999)


class DigestSettings(FunctionSettings):
    """The digest function: reads the audit table's stream, and seals each period's digest."""

    digest_bucket: str = Field(alias="DIGEST_BUCKET", min_length=1)
    signing_key_id: str = Field(alias="DIGEST_SIGNING_KEY_ID", min_length=1)
    period_seconds: int = Field(default=300, alias="DIGEST_PERIOD_SECONDS", ge=1, le=86_400)
    # How long after a period's end its last chunk may still be written: a reading that began inside the period ends
    # within the function's timeout. A period is sealed only once this has passed.
    grace_seconds: int = Field(default=90, alias="DIGEST_GRACE_SECONDS", ge=0)


@cache
def call_settings() -> CallSettings:
    """What the AWS clients read (cached, as the clients are)."""
    return CallSettings.from_environment()


@cache
def gateway_settings() -> GatewaySettings:
    """The gateway's settings (cached; tests call cache_clear after changing the environment)."""
    return GatewaySettings.from_environment()


@cache
def processing_settings() -> ProcessingSettings:
    """The processing function's settings (cached)."""
    return ProcessingSettings.from_environment()


@cache
def dead_letter_settings() -> DeadLetterSettings:
    """The DLQ function's settings (cached)."""
    return DeadLetterSettings.from_environment()


@cache
def sweeper_settings() -> SweeperSettings:
    """The sweeper's settings (cached)."""
    return SweeperSettings.from_environment()


@cache
def digest_settings() -> DigestSettings:
    """The digest function's settings (cached)."""
    return DigestSettings.from_environment()
