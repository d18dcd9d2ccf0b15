"""CloudWatch alarms on what needs a human: dead letters, dead letters left unhandled, a stalled queue, records that
fail in batches, functions that fail (at init, by timing out or crashing) or are throttled, stranded tasks re-sent,
an outbox reconciler that falls behind, and 5xx answers. Each alarm's thresholds and periods follow from the stack's
settings; README "Alarms" says what each one means and what to do."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from handlers.models.contract import FUNCTIONS, Metric
from infra.monitoring import Monitored, Watched
from infra.naming import alarm_name, fixed_name_options

# AWS/SQS, AWS/Lambda and AWS/ApiGateway publish a datapoint a minute, so does every EMF flush that counted.
PERIOD_SECONDS = 60
# IteratorAge is in milliseconds: the age of the last record of a batch when the function got it.
STREAM_BEHIND_MILLISECONDS = 600_000


@dataclass(frozen=True)
class PipelineAlarmsArgs:
    """What to watch, and the numbers the stack's settings give the thresholds."""

    name_prefix: str
    monitored: Monitored
    # Past the longest wait a healthy retry cycle gives a message (PipelineSettings.oldest_message_alarm_threshold).
    oldest_message_threshold: int
    # The longest a dead letter can stay in its queue while the dlq function is healthy: one attempt (its timeout),
    # then, if that attempt failed, the dead-letter queue's visibility before the next.
    dead_letter_handling_seconds: int
    max_receive_count: int
    # Past how long a healthy digest pipeline leaves between the end of the newest sealed period and now: a period,
    # the grace before it may be sealed, and two runs of the sealer's schedule.
    digest_lag_threshold: int = 0
    # The sweeper's interval: the reconciler is healthy when each run reaches its cut-off (a lag of 0), and behind
    # when its runs leave more than an interval unexamined.
    sweep_interval_seconds: int = PERIOD_SECONDS
    notify: Sequence[str] = ()  # SNS topic ARNs told when an alarm fires and when it clears


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm: a metric (or a sum of metrics, m1 + m2 ...) over PERIOD_SECONDS, breaching above `threshold` in
    `evaluation_periods` consecutive periods."""

    suffix: str
    description: str
    metrics: tuple[Watched, ...]
    threshold: float = 0
    evaluation_periods: int = 1
    # No data is healthy for a count (nothing happened), but not for a metric published on a schedule.
    treat_missing_data: str = "notBreaching"


def alarm_specs(args: PipelineAlarmsArgs) -> list[AlarmSpec]:
    """Every alarm of the stack."""
    watch = args.monitored
    stuck_periods = math.ceil(args.dead_letter_handling_seconds / PERIOD_SECONDS) + 1
    # Two sweep intervals and a minute: every healthy run reports a lag under the threshold at least once in them.
    reconciler_periods = 2 * math.ceil(args.sweep_interval_seconds / PERIOD_SECONDS) + 1
    specs = [
        AlarmSpec(
            "dead-letters",
            f"A task was dead-lettered: all {args.max_receive_count} attempts failed. Find it with `tasktrail list "
            "--status DEAD_LETTERED --since 1h`, read why in its history, fix the cause, then `tasktrail redrive`.",
            (watch.tasks(Metric.TASKS_DEAD_LETTERED, "dlq"),),
        ),
        AlarmSpec(
            "dlq-not-drained",
            f"Dead letters have stayed in the dead-letter queue (visible or in flight) for {stuck_periods} minutes, "
            "longer than the dlq function takes to record one even after a failed attempt: it cannot record them. "
            "See dlq-failed-records, dlq-errors and the dlq function's logs. The queue keeps them 14 days from "
            "their first send.",
            (
                watch.queue("dlq", "ApproximateNumberOfMessagesVisible"),
                watch.queue("dlq", "ApproximateNumberOfMessagesNotVisible"),
            ),
            evaluation_periods=stuck_periods,
        ),
        AlarmSpec(
            "processing-oldest-message",
            f"A task has waited in the processing queue for over {args.oldest_message_threshold} s, more than any "
            "healthy retry cycle takes: processing is stalled (processing-errors, -throttles, -failed-records) or "
            "far behind (raise maxConcurrency, and the account's concurrency).",
            (watch.queue("processing", "ApproximateAgeOfOldestMessage"),),
            threshold=args.oldest_message_threshold,
        ),
        AlarmSpec(
            "processing-failed-records",
            "Records of processing batches failed for another reason than their task's own attempt (the table or the "
            "queue refused or timed out, the invocation ran out of time, a bug). They are retried, and each retry "
            "spends one of maxReceiveCount receives. Read the processing function's logs.",
            (watch.tasks(Metric.RECORDS_FAILED, "processing"),),
        ),
        AlarmSpec(
            "dlq-failed-records",
            "The dlq function could not record dead letters (the table refused or timed out, a bug): they stay in "
            "the dead-letter queue and come back. Read the dlq function's logs.",
            (watch.tasks(Metric.RECORDS_FAILED, "dlq"),),
        ),
        AlarmSpec(
            "tasks-reenqueued",
            "Tasks were stranded between their RECEIVED record and their send (a gateway died or could not send) "
            "and were re-sent by the sweeper or a retried POST. Nothing was lost; frequent re-sends mean the "
            "gateway fails: see gateway-errors and api-5xx.",
            (watch.tasks(Metric.TASKS_REENQUEUED, "sweeper"), watch.tasks(Metric.TASKS_REENQUEUED, "gateway")),
        ),
        AlarmSpec(
            "reconciler-lag",
            f"The outbox reconciler (the sweeper) has been more than {args.sweep_interval_seconds} s (a sweep "
            f"interval) behind its cut-off for {reconciler_periods} minutes, or has not reported for as long: tasks "
            "stranded between their record and their send wait longer than the README's bound. See sweeper-errors, "
            "sweeper-throttles and its `sweep done` logs (lagSeconds, complete); `bench/scale.py` says which "
            "sweepSchedule keeps up with the rate.",
            (watch.tasks(Metric.RECONCILER_LAG_SECONDS, "sweeper", statistic="Maximum"),),
            threshold=args.sweep_interval_seconds,
            evaluation_periods=reconciler_periods,
            treat_missing_data="breaching",
        ),
        AlarmSpec(
            "api-5xx",
            "The API answered 5xx: 503s when the table or the queue fails (clients retry), 500/502 when the gateway "
            "function fails or is throttled. See gateway-errors, gateway-throttles and the access logs.",
            (watch.api("5XXError"),),
        ),
    ]
    specs += [
        AlarmSpec(
            "audit-events-altered",
            "An audit event was modified or removed (the handlers only ever append): someone with write access to the "
            "table changed the trail. The digest records which event; `tasktrail verify` names it, and the digests "
            "still hold what it was. Find who in CloudTrail's DynamoDB data events, if enabled.",
            (watch.tasks(Metric.AUDIT_EVENTS_ALTERED, "digest"),),
        ),
        AlarmSpec(
            "audit-events-unsigned",
            "An audit event was inserted without a valid MAC: written by someone other than the pipeline's "
            "functions. `tasktrail verify` names it (inserted-outside).",
            (watch.tasks(Metric.AUDIT_EVENTS_UNSIGNED, "digest"),),
        ),
        AlarmSpec(
            "digest-lag",
            f"No digest has been sealed for over {args.digest_lag_threshold} s after its period (or the digest "
            "function has not reported for 3 minutes): the audit trail is not being sealed. See digest-errors, "
            "digest-throttles and the digest function's logs; a gap shows in `tasktrail verify` as digest-late.",
            (watch.tasks(Metric.DIGEST_LAG_SECONDS, "digest", statistic="Maximum"),),
            threshold=args.digest_lag_threshold,
            evaluation_periods=3,
            treat_missing_data="breaching",
        ),
        AlarmSpec(
            "digest-iterator-age",
            "The digest function is more than 10 minutes behind the audit table's stream (it fails or is throttled "
            "on a batch, and retries it): past 24 hours the stream drops records and their events stay undigested.",
            (watch.function("digest", "IteratorAge", statistic="Maximum"),),
            threshold=STREAM_BEHIND_MILLISECONDS,
        ),
    ]
    for function in FUNCTIONS:
        specs.append(
            AlarmSpec(
                f"{function}-errors",
                f"The {function} function failed: it could not initialise, timed out, or crashed (batch functions "
                "answer their failed records without an error: those are the failed-records alarms). Its logs say "
                "which; a deploy that fails at init is rolled back by deploying the previous commit.",
                (watch.function(function, "Errors"),),
            )
        )
        specs.append(
            AlarmSpec(
                f"{function}-throttles",
                f"Lambda refused to run the {function} function: the account's (or the region's) concurrency is used "
                "up. Raise it through Service Quotas (new accounts may have 10), or lower maxConcurrency.",
                (watch.function(function, "Throttles"),),
            )
        )
    return specs


class PipelineAlarms(pulumi.ComponentResource):
    """One alarm per failure signal, each telling `notify` (the stack's alarmTopicArn) when it fires and clears."""

    alarms: list[aws.cloudwatch.MetricAlarm]

    def __init__(self, name: str, args: PipelineAlarmsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("tasktrail:index:PipelineAlarms", name, None, opts)
        notify = list(args.notify)
        self.alarms = [
            aws.cloudwatch.MetricAlarm(
                f"{name}-{spec.suffix}",
                name=alarm_name(args.name_prefix, spec.suffix),
                alarm_description=spec.description,
                comparison_operator="GreaterThanThreshold",
                threshold=float(spec.threshold),
                evaluation_periods=spec.evaluation_periods,
                # No data means no messages, no invocations, nothing counted: healthy, not unknown (but for a metric
                # published on a schedule, whose silence is the failure).
                treat_missing_data=spec.treat_missing_data,
                alarm_actions=notify,
                ok_actions=notify,
                opts=fixed_name_options(self),
                **_metric_arguments(spec),
            )
            for spec in alarm_specs(args)
        ]
        self.register_outputs({"alarmNames": [alarm.name for alarm in self.alarms]})


def _metric_arguments(spec: AlarmSpec) -> dict[str, Any]:
    if len(spec.metrics) == 1:
        (metric,) = spec.metrics
        return {
            "namespace": metric.namespace,
            "metric_name": metric.name,
            "dimensions": dict(metric.dimensions),
            "statistic": metric.statistic,
            "period": PERIOD_SECONDS,
        }
    # Several metrics: their sum, a missing one counting 0 (a queue with nothing in flight publishes no datapoint).
    queries = [
        aws.cloudwatch.MetricAlarmMetricQueryArgs(
            id=f"m{number}",
            return_data=False,
            metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                namespace=metric.namespace,
                metric_name=metric.name,
                dimensions=dict(metric.dimensions),
                stat=metric.statistic,
                period=PERIOD_SECONDS,
            ),
        )
        for number, metric in enumerate(spec.metrics, start=1)
    ]
    total = " + ".join(f"FILL(m{number}, 0)" for number in range(1, len(spec.metrics) + 1))
    queries.append(aws.cloudwatch.MetricAlarmMetricQueryArgs(id="total", expression=total, return_data=True))
    return {"metric_queries": queries}
