"""CloudWatch alarms on what needs a human: dead letters, a stalled queue, failing or throttled functions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.naming import alarm_name, fixed_name_options

# Five-minute periods: short enough to page on, long enough not to flap on a single retry.
PERIOD_SECONDS = 300


@dataclass(frozen=True)
class PipelineAlarmsArgs:
    """What to watch: the two queues by name and each function by its short name."""

    name_prefix: str
    processing_queue_name: pulumi.Input[str]
    dead_letter_queue_name: pulumi.Input[str]
    function_names: Mapping[str, pulumi.Input[str]]
    oldest_message_alarm_seconds: int
    notify: Sequence[str] = ()  # SNS topic ARNs told when an alarm fires and when it clears


class PipelineAlarms(pulumi.ComponentResource):
    """One alarm per failure signal, each telling `notify` (the stack's alarmTopicArn) when it fires and clears."""

    alarms: list[aws.cloudwatch.MetricAlarm]

    def __init__(self, name: str, args: PipelineAlarmsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("tasktrail:index:PipelineAlarms", name, None, opts)
        self._name = name
        self._prefix = args.name_prefix
        self._notify = list(args.notify)
        self.alarms = [
            self._alarm(
                "dlq-not-empty",
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                {"QueueName": args.dead_letter_queue_name},
                statistic="Maximum",
                threshold=0,
                description="A task was dead-lettered and the dlq function has not taken it yet.",
            ),
            self._alarm(
                "processing-oldest-message",
                "AWS/SQS",
                "ApproximateAgeOfOldestMessage",
                {"QueueName": args.processing_queue_name},
                statistic="Maximum",
                threshold=args.oldest_message_alarm_seconds,
                description="Tasks wait longer than expected: processing is stalled or far behind.",
            ),
        ]
        for short_name, function_name in args.function_names.items():
            for metric in ("Errors", "Throttles"):
                self.alarms.append(
                    self._alarm(
                        f"{short_name}-{metric.lower()}",
                        "AWS/Lambda",
                        metric,
                        {"FunctionName": function_name},
                        statistic="Sum",
                        threshold=0,
                        description=f"The {short_name} function reports {metric.lower()}.",
                    )
                )
        self.register_outputs({"alarmNames": [alarm.name for alarm in self.alarms]})

    def _alarm(
        self,
        suffix: str,
        namespace: str,
        metric: str,
        dimensions: Mapping[str, pulumi.Input[str]],
        *,
        statistic: str,
        threshold: int,
        description: str,
    ) -> aws.cloudwatch.MetricAlarm:
        return aws.cloudwatch.MetricAlarm(
            f"{self._name}-{suffix}",
            name=alarm_name(self._prefix, suffix),
            alarm_description=description,
            namespace=namespace,
            metric_name=metric,
            dimensions=dict(dimensions),
            statistic=statistic,
            period=PERIOD_SECONDS,
            evaluation_periods=1,
            threshold=float(threshold),
            comparison_operator="GreaterThanThreshold",
            # No data means no messages or no invocations: healthy, not unknown.
            treat_missing_data="notBreaching",
            alarm_actions=self._notify,
            ok_actions=self._notify,
            opts=fixed_name_options(self),
        )
