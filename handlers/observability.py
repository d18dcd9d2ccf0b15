"""The one Logger, Metrics and Tracer of every function.

Cold start: Logger and Metrics are cheap; the X-Ray SDK and patching botocore are not (~70 ms), so the Tracer is
built on the first invocation. Lambda's active tracing records the invocation segment either way.
"""

import logging
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache, wraps
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from handlers.models.contract import Metric

logger = Logger(utc=True)
metrics = Metrics()
# A history read publishes no metric, and Powertools warns about that on every such request: noise, not a fault.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)

Handler = TypeVar("Handler", bound=Callable[..., Any])


@cache
def tracer() -> Tracer:
    """The X-Ray tracer, patching botocore only (the one library the handlers call out with)."""
    return Tracer(patch_modules=["botocore"])


def capture_lambda_handler(handler: Handler) -> Handler:
    """Tracer.capture_lambda_handler, with the Tracer built on first call; responses are not captured since they
    may hold payloads."""

    @cache
    def traced() -> Callable[..., Any]:
        return tracer().capture_lambda_handler(handler, capture_response=False)

    @wraps(handler)
    def wrapper(event: Any, context: Any) -> Any:
        return traced()(event, context)

    return wrapper  # type: ignore[return-value]


_emit_metrics = True
# Powertools' metric set is a plain dict, read and replaced per metric: the sweeper's shard threads count through it
# at once, and without the lock two first counts of a metric could keep only one.
_metrics_lock = threading.Lock()


def count(metric: Metric, value: int = 1) -> None:
    """Add to one of the EMF counters of the contract (handlers.models.contract.Metric)."""
    if _emit_metrics:
        with _metrics_lock:
            metrics.add_metric(name=metric.value, unit=MetricUnit.Count, value=value)


def seconds(metric: Metric, value: float) -> None:
    """Record one of the contract's durations (handlers.models.contract.METRIC_UNITS)."""
    if _emit_metrics:
        with _metrics_lock:
            metrics.add_metric(name=metric.value, unit=MetricUnit.Seconds, value=value)


@contextmanager
def outside_lambda(level: str = "WARNING") -> Iterator[None]:
    """For tools that run the handlers' logic in a terminal (the operator commands), while it runs: no EMF metrics,
    which nothing would collect and which Powertools prints to stdout (the commands' output) once 100 pile up; log
    records on stderr, at `level`."""
    global _emit_metrics  # noqa: PLW0603 - one switch, set around a tool's command and put back after
    handler = logger.registered_handler
    stream = handler.stream if isinstance(handler, logging.StreamHandler) else None
    saved = (_emit_metrics, logger.log_level)
    _emit_metrics = False
    logger.setLevel(level)
    if stream is not None:
        handler.stream = _Stderr()  # type: ignore[attr-defined]
    try:
        yield
    finally:
        _emit_metrics = saved[0]
        logger.setLevel(saved[1])
        if stream is not None:
            handler.stream = stream  # type: ignore[attr-defined]


class _Stderr:
    """Whatever sys.stderr is at the time of each write (tests swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def log_payload(enabled: bool, message: str, payload: Any) -> None:
    """Log a task payload only when LOG_PAYLOADS is on: payloads are user data and stay out of logs by default."""
    if enabled:
        logger.info(message, extra={"payload": payload})
