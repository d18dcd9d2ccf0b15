"""The metrics the alarms and the dashboard watch, named once: AWS's own for the queues, the functions and the API,
and the functions' EMF counts, which may be named only with a function the contract says publishes them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi

from handlers.models.contract import (
    METRIC_SOURCES,
    METRICS_NAMESPACE,
    SERVICE_DIMENSION,
    STAGE_NAME,
    Function,
    Metric,
    service_name,
)

Queue = str  # "processing" or "dlq"


@dataclass(frozen=True)
class Watched:
    """One CloudWatch metric with its dimensions, and the statistic read from it."""

    namespace: str
    name: str
    dimensions: Mapping[str, pulumi.Input[str]]
    statistic: str
    label: str = ""


@dataclass(frozen=True)
class Monitored:
    """What the stack's alarms and dashboard look at: the API, the two queues and the five functions, by name."""

    region: str
    api_name: pulumi.Input[str]
    queue_names: Mapping[Queue, pulumi.Input[str]]
    function_names: Mapping[Function, pulumi.Input[str]]
    stage: str = field(default=STAGE_NAME)

    def queue(self, queue: Queue, metric: str, statistic: str = "Maximum") -> Watched:
        """An AWS/SQS metric of one queue (SQS publishes each queue's every minute)."""
        return Watched("AWS/SQS", metric, {"QueueName": self.queue_names[queue]}, statistic, f"{queue} {metric}")

    def function(self, function: Function, metric: str, statistic: str = "Sum") -> Watched:
        """An AWS/Lambda metric of one function."""
        dimensions = {"FunctionName": self.function_names[function]}
        return Watched("AWS/Lambda", metric, dimensions, statistic, f"{function} {metric}")

    def api(self, metric: str, statistic: str = "Sum") -> Watched:
        """An AWS/ApiGateway metric of the REST API's stage."""
        return Watched("AWS/ApiGateway", metric, {"ApiName": self.api_name, "Stage": self.stage}, statistic, metric)

    def tasks(self, metric: Metric, function: Function, statistic: str = "Sum") -> Watched:
        """One of the functions' own metrics, as `function` publishes it; ValueError if it does not."""
        if function not in METRIC_SOURCES[metric]:
            raise ValueError(f"{function} does not publish {metric} (handlers.models.contract.METRIC_SOURCES)")
        dimensions = {SERVICE_DIMENSION: service_name(function)}
        return Watched(METRICS_NAMESPACE, metric.value, dimensions, statistic, f"{function} {metric.value}")
