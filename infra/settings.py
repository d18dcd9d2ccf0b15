"""The stack's configuration as one typed, validated model, checked before any resource is declared."""

from __future__ import annotations

import re
from typing import Annotated, Self

import pulumi
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import ErrorDetails

from handlers.models.contract import SQS_MAX_VISIBILITY_TIMEOUT, ApiAuth
from handlers.models.settings import LogLevel
from infra import capacity

# AWS recommends a queue visibility of at least 6 x the timeout of the function that consumes it.
VISIBILITY_RATIO = 6
# The only retention periods CloudWatch Logs accepts (PutRetentionPolicy).
LOG_RETENTION_DAYS = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}
)
# AWS's advice for a queue behind Lambda: a receive spent while the function is throttled counts as an attempt.
RECOMMENDED_MAX_RECEIVE_COUNT = 5
SQS_RETRIES_URL = "https://docs.aws.amazon.com/lambda/latest/operatorguide/sqs-retries.html"
# Lambda polls SQS in batches of up to 10 unless a batching window lets it gather more.
MAX_BATCH_WITHOUT_WINDOW = 10

# EventBridge rate expressions: rate(1 minute), rate(N minutes|hours|days).
RATE_EXPRESSION = re.compile(r"^rate\((?P<value>[1-9]\d*) (?P<unit>minute|minutes|hour|hours|day|days)\)$")
RATE_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86_400}
# The sweeper's interval bounds how late a stranded task is re-sent, and the reconciler-lag alarm watches two of them
# in one-minute periods, which CloudWatch evaluates over one day at most
# (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html, Period).
MAX_SWEEP_INTERVAL_SECONDS = 12 * 3600

Seconds = Annotated[int, Field(ge=1, le=900)]
MemoryMb = Annotated[int, Field(ge=128, le=10_240)]


class ConfigError(pulumi.RunError):
    """Stack configuration that cannot be deployed; raised before any resource exists."""


class PipelineSettings(BaseModel):
    """Every `tasktrail:*` key of Pulumi.yaml, typed and range-checked, plus the region."""

    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True)

    region: str = Field(min_length=1)
    max_receive_count: int = Field(ge=1, le=1000)
    processing_timeout: Seconds
    processing_memory: MemoryMb
    # API Gateway ends every integration after 29 s, so a longer gateway timeout could never be used.
    gateway_timeout: int = Field(ge=1, le=29)
    gateway_memory: MemoryMb
    dlq_timeout: Seconds
    dlq_memory: MemoryMb
    visibility_timeout: int = Field(ge=0, le=SQS_MAX_VISIBILITY_TIMEOUT)
    enforce_visibility_ratio: bool
    batch_size: int = Field(ge=1, le=10_000)
    batching_window: int = Field(ge=0, le=300)
    max_concurrency: int = Field(ge=2, le=1000)
    log_retention_days: int
    api_auth: ApiAuth
    allow_unauthenticated_api: bool
    api_throttle_rate: int = Field(ge=1, le=10_000)
    api_throttle_burst: int = Field(ge=1, le=5_000)
    fault_injection: bool
    task_worker: str = Field(pattern=r"^handlers(\.[A-Za-z_]\w*)+:[A-Za-z_]\w*$")
    deletion_protection: bool
    manage_api_gateway_account: bool
    # 0: derived from the backoff (oldest_message_alarm_threshold).
    oldest_message_alarm_seconds: int = Field(ge=0, le=1_209_600)
    # Empty: alarms with no actions. A topic in another account is allowed (a central on-call topic).
    alarm_topic_arn: str = Field(pattern=r"^(arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?)?$")
    digest_period_seconds: int = Field(ge=1, le=86_400)
    digest_timeout: Seconds
    digest_retention_days: int = Field(ge=1, le=36_500)
    log_level: LogLevel
    log_payloads: bool
    sweep_schedule: str
    # Longer than any gateway can run (29 s) and than a schedule's shortest period.
    stranded_after_seconds: int = Field(ge=60, le=1_209_600)

    @property
    def base_visibility_timeout(self) -> int:
        """The processing queue's visibility: the configured one, or 6 x the processing timeout when 0."""
        return self.visibility_timeout or VISIBILITY_RATIO * self.processing_timeout

    @property
    def dlq_visibility_timeout(self) -> int:
        """The dead-letter queue's visibility, at the AWS-recommended ratio to the dlq function's timeout."""
        return VISIBILITY_RATIO * self.dlq_timeout

    @property
    def longest_healthy_wait(self) -> int:
        """The oldest a message of a healthy processing queue can be: a task that fails every attempt waits n x base
        after attempt n (each capped at SQS's 12 hours), for attempts 1..maxReceiveCount, the last wait ending in
        the receive that moves it to the DLQ, plus each attempt's run and batching window."""
        backoff = sum(
            min(attempt * self.base_visibility_timeout, SQS_MAX_VISIBILITY_TIMEOUT)
            for attempt in range(1, self.max_receive_count + 1)
        )
        return backoff + self.max_receive_count * (self.processing_timeout + self.batching_window)

    @property
    def oldest_message_alarm_threshold(self) -> int:
        """The processing queue's oldest-message alarm: the configured age, or one base visibility past the longest
        healthy wait, so that retries alone never reach it and a backlog or a stalled consumer soon does."""
        return self.oldest_message_alarm_seconds or self.longest_healthy_wait + self.base_visibility_timeout

    @field_validator("log_retention_days")
    @classmethod
    def _check_retention(cls, days: int) -> int:
        if days not in LOG_RETENTION_DAYS:
            raise ValueError(f"not a CloudWatch Logs retention; use one of {sorted(LOG_RETENTION_DAYS)}")
        return days

    @property
    def sweep_interval_seconds(self) -> int:
        """The time between two runs of the sweeper."""
        return _rate_seconds(self.sweep_schedule)

    @field_validator("sweep_schedule")
    @classmethod
    def _check_schedule(cls, expression: str) -> str:
        expression = expression.strip()
        rate = RATE_EXPRESSION.match(expression)
        if not rate:
            # A cron() has no fixed interval, and the reconciler's bound and its lag alarm are derived from one.
            raise ValueError(
                "not an EventBridge rate expression; use rate(5 minutes), rate(1 hour), ... (a cron() schedule has "
                "no fixed interval, which the reconciler's bound and its lag alarm are derived from)"
            )
        # EventBridge wants the singular unit for 1 and the plural for more.
        if (rate["value"] == "1") != (not rate["unit"].endswith("s")):
            raise ValueError("use rate(1 minute|hour|day) or rate(N minutes|hours|days)")
        if _rate_seconds(expression) > MAX_SWEEP_INTERVAL_SECONDS:
            raise ValueError(
                f"at most {MAX_SWEEP_INTERVAL_SECONDS // 3600} hours between runs: a stranded task waits up to that "
                "long, and the reconciler-lag alarm cannot watch a longer interval (CloudWatch evaluates a "
                "one-minute alarm over a day at most)"
            )
        return expression

    @model_validator(mode="after")
    def _check_combinations(self) -> Self:
        checks = (self._visibility_problem(), self._batch_problem(), self._auth_problem(), self._alarm_problem())
        problems = [problem for problem in checks if problem]
        if not problems:
            # The scale model, on a configuration whose keys are consistent: a stage throttle the processing side
            # could never drain is refused (the backlog would grow until SQS's retention dropped tasks).
            problems += capacity.problems(self)[0]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _visibility_problem(self) -> str | None:
        base = self.base_visibility_timeout
        if base < self.processing_timeout:
            # Lambda refuses an SQS event source whose visibility is shorter than the function's timeout.
            return (
                f"tasktrail:visibilityTimeout ({base}) must be at least tasktrail:processingTimeout "
                f"({self.processing_timeout})"
            )
        minimum = VISIBILITY_RATIO * self.processing_timeout
        if self.enforce_visibility_ratio and base < minimum:
            return (
                f"tasktrail:visibilityTimeout ({base}) must be at least {VISIBILITY_RATIO} x "
                f"tasktrail:processingTimeout = {minimum}, or 0 for that default "
                "(set tasktrail:enforceVisibilityRatio=false only for short-lived test stacks)"
            )
        return None

    def _batch_problem(self) -> str | None:
        if self.batch_size > MAX_BATCH_WITHOUT_WINDOW and self.batching_window == 0:
            return (
                f"tasktrail:batchSize ({self.batch_size}) over {MAX_BATCH_WITHOUT_WINDOW} needs "
                "tasktrail:batchingWindow of at least 1 second"
            )
        return None

    def _alarm_problem(self) -> str | None:
        configured, healthy = self.oldest_message_alarm_seconds, self.longest_healthy_wait
        if configured and configured <= healthy:
            return (
                f"tasktrail:oldestMessageAlarmSeconds ({configured}) would alarm on healthy retries: with "
                f"tasktrail:maxReceiveCount {self.max_receive_count} and a base visibility of "
                f"{self.base_visibility_timeout} s a failing task waits up to {healthy} s in the queue; set more, "
                "or 0 to derive it"
            )
        return None

    def _auth_problem(self) -> str | None:
        if self.api_auth == "none" and not self.allow_unauthenticated_api:
            return "tasktrail:apiAuth=none leaves the API open; set tasktrail:allowUnauthenticatedApi=true to mean it"
        return None


def _rate_seconds(expression: str) -> int:
    rate = RATE_EXPRESSION.match(expression)
    if rate is None:
        raise ValueError(f"not a rate expression: {expression!r}")
    return int(rate["value"]) * RATE_UNIT_SECONDS[rate["unit"].removesuffix("s")]


def _describe(error: ErrorDetails) -> str:
    # Cross-key checks already name their keys; pydantic would prefix them with "Value error, ".
    cause = error.get("ctx", {}).get("error")
    message = str(cause) if cause is not None else error["msg"]
    if not error["loc"]:
        return message
    key = ".".join(str(part) for part in error["loc"])
    namespace = "aws" if key == "region" else "tasktrail"
    return f"{namespace}:{key}: {message} (got {error['input']!r})"


def load_settings(config: pulumi.Config, aws_config: pulumi.Config) -> PipelineSettings:
    """Read every key declared in Pulumi.yaml (the CLI supplies their defaults) and validate them together."""
    raw: dict[str, str] = {"region": aws_config.require("region")}
    for field_name, field in PipelineSettings.model_fields.items():
        if field_name != "region":
            key = field.alias or field_name
            raw[key] = config.require(key)
    try:
        settings = PipelineSettings.model_validate(raw)
    except ValidationError as exc:
        details = "\n".join(f"  - {_describe(error)}" for error in exc.errors())
        raise ConfigError(f"invalid stack configuration:\n{details}") from None
    if settings.max_receive_count < RECOMMENDED_MAX_RECEIVE_COUNT:
        pulumi.log.warn(max_receive_count_warning(settings.max_receive_count))
    for warning in capacity.problems(settings)[1]:
        pulumi.log.warn(warning)
    return settings


def max_receive_count_warning(count: int) -> str:
    """Why a maxReceiveCount under AWS's advice is allowed, and what it risks."""
    return (
        f"tasktrail:maxReceiveCount is {count}: AWS advises at least {RECOMMENDED_MAX_RECEIVE_COUNT} for a queue "
        "behind Lambda, because a receive that ends throttled (no concurrency left in the account) counts as much "
        "as a failed attempt, and can dead-letter a task that never ran (README, 'Before the first deploy'). "
        f"{SQS_RETRIES_URL}"
    )
