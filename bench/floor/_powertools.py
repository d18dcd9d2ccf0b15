"""The observability every function has: Logger, Metrics and Tracer (botocore patched), built at init as
Powertools' documentation shows them, and one decorator that applies all three."""

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field

logger = Logger(utc=True)
metrics = Metrics()
tracer = Tracer(patch_modules=["botocore"])
TASK_ID = r"^[A-Za-z0-9._:-]{1,128}$"  # handlers.models.input.TASK_ID_PATTERN


class Task(BaseModel):
    """A task as the gateway accepts it and the queue carries it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    taskId: str = Field(pattern=TASK_ID)
    payload: dict[str, Any]
    life: int = Field(default=0, ge=0)


def observed(handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    traced = tracer.capture_lambda_handler(logger.inject_lambda_context(handler), capture_response=False)
    return metrics.log_metrics(traced)


def count(name: str) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
