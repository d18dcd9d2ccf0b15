"""Settings of each function, parsed from its environment on first use (not at import) and cached."""

import os
from functools import cache

from pydantic import BaseModel, ConfigDict, Field

SQS_MAX_VISIBILITY_TIMEOUT = 43200


class CommonSettings(BaseModel):
    """What every function reads."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    audit_table_name: str = Field(alias="AUDIT_TABLE_NAME", min_length=1)
    log_payloads: bool = Field(default=False, alias="LOG_PAYLOADS")


class GatewaySettings(CommonSettings):
    """The API function."""

    processing_queue_url: str = Field(alias="PROCESSING_QUEUE_URL", min_length=1)
    max_body_bytes: int = Field(default=262144, alias="MAX_BODY_BYTES", gt=0)
    # A RECEIVED (or REENQUEUED) older than this with nothing after it is taken as never sent: the gateway died
    # between the write and the send. Set it to the gateway's timeout; a retried POST then re-sends the task.
    reenqueue_after_seconds: float = Field(default=30, alias="REENQUEUE_AFTER_SECONDS", ge=0)


class ProcessingSettings(CommonSettings):
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


class DeadLetterSettings(CommonSettings):
    """The dead-letter queue's consumer."""

    max_receive_count: int = Field(default=2, alias="MAX_RECEIVE_COUNT", ge=1)


@cache
def gateway_settings() -> GatewaySettings:
    """The gateway's settings (cached; tests call cache_clear after changing the environment)."""
    return GatewaySettings.model_validate(dict(os.environ))


@cache
def processing_settings() -> ProcessingSettings:
    """The processing function's settings (cached)."""
    return ProcessingSettings.model_validate(dict(os.environ))


@cache
def dead_letter_settings() -> DeadLetterSettings:
    """The DLQ function's settings (cached)."""
    return DeadLetterSettings.model_validate(dict(os.environ))
