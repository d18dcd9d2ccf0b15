"""The constants of tasktrail's contract, each defined once. handlers/ imports nothing outside itself, so the one
source of each lives here, and infra/, local/, the tests and the benches import it from here."""

from enum import StrEnum
from typing import Literal, get_args

# Every route lives under this path, on the REST API's one stage.
API_BASE_PATH = "/api/v1"
STAGE_NAME = "prod"

# How callers authenticate to the deployed API: an x-api-key (with a usage plan), SigV4, or nothing at all.
ApiAuth = Literal["apiKey", "iam", "none"]
API_AUTH_MODES: tuple[ApiAuth, ...] = get_args(ApiAuth)
API_KEY_HEADER = "x-api-key"

# The gateway answers a larger body 413: the most one SQS message can carry.
MAX_BODY_BYTES = 262_144

# SQS caps a message's visibility timeout (and so a retry's backoff) at 12 hours.
SQS_MAX_VISIBILITY_TIMEOUT = 43_200

# The five functions, by the short name each is deployed, traced and logged under (`{project}-{stack}-<name>`).
Function = Literal["gateway", "processing", "dlq", "sweeper", "digest"]
FUNCTIONS: tuple[Function, ...] = get_args(Function)

# The functions' own CloudWatch metrics, published as EMF documents by Powertools, in this namespace and with one
# dimension, `service`, which Powertools adds from POWERTOOLS_SERVICE_NAME (set by infra to service_name(function)).
METRICS_NAMESPACE = "tasktrail"
SERVICE_DIMENSION = "service"


def service_name(function: Function) -> str:
    """The Powertools service of a function: its logs' `service` key and its metrics' `service` dimension."""
    return f"tasktrail-{function}"


class Metric(StrEnum):
    """Every metric the functions publish: counts (Count), but for the lags (METRIC_UNITS)."""

    TASKS_RECEIVED = "TasksReceived"
    TASKS_SUCCEEDED = "TasksSucceeded"
    TASK_RETRIES = "TaskRetries"
    TASKS_DEAD_LETTERED = "TasksDeadLettered"
    TASKS_REENQUEUED = "TasksReenqueued"
    TASKS_REDRIVEN = "TasksRedriven"
    POISON_MESSAGES = "PoisonMessages"
    # A record of a batch answered as failed for any reason but its own task's failed attempt (which is a
    # TaskRetries): the table or the queue refused or timed out, the invocation ran out of time, a bug.
    RECORDS_FAILED = "RecordsFailed"
    # The digest function (handlers/logic/digest.py): events read from the audit table's stream; a MODIFY or REMOVE
    # of an event (the handlers never make either); an event inserted without a valid MAC; digests sealed; and how
    # far behind now the newest sealed period ends, at each run.
    DIGESTED_EVENTS = "DigestedEvents"
    AUDIT_EVENTS_ALTERED = "AuditEventsAltered"
    AUDIT_EVENTS_UNSIGNED = "AuditEventsUnsigned"
    DIGESTS_WRITTEN = "DigestsWritten"
    DIGEST_LAG_SECONDS = "DigestLagSeconds"
    # The sweeper (handlers/logic/sweep.py), at each run: how far behind its cut-off (now - strandedAfterSeconds) the
    # reconciler's furthest-behind index shard was left; 0 when every QUEUED entry old enough has been examined.
    RECONCILER_LAG_SECONDS = "ReconcilerLagSeconds"


# The unit of each metric that is not a Count.
METRIC_UNITS: dict[Metric, str] = {Metric.DIGEST_LAG_SECONDS: "Seconds", Metric.RECONCILER_LAG_SECONDS: "Seconds"}


# Which functions publish each metric. Alarms and the dashboard may name a metric only with one of these services;
# tests/integration/test_metrics.py proves every pair from the EMF documents the handlers print.
METRIC_SOURCES: dict[Metric, tuple[Function, ...]] = {
    Metric.TASKS_RECEIVED: ("gateway",),
    Metric.TASKS_SUCCEEDED: ("processing",),
    Metric.TASK_RETRIES: ("processing",),
    Metric.TASKS_DEAD_LETTERED: ("dlq",),
    # A retried POST (the gateway) or the sweeper re-sends a task stranded between its record and its send.
    Metric.TASKS_REENQUEUED: ("gateway", "sweeper"),
    Metric.TASKS_REDRIVEN: ("gateway",),
    Metric.POISON_MESSAGES: ("processing", "dlq"),
    Metric.RECORDS_FAILED: ("processing", "dlq"),
    Metric.DIGESTED_EVENTS: ("digest",),
    Metric.AUDIT_EVENTS_ALTERED: ("digest",),
    Metric.AUDIT_EVENTS_UNSIGNED: ("digest",),
    Metric.DIGESTS_WRITTEN: ("digest",),
    Metric.DIGEST_LAG_SECONDS: ("digest",),
    Metric.RECONCILER_LAG_SECONDS: ("sweeper",),
}
