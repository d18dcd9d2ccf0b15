"""Policies on the functions: runtime, package, layer, tracing, logs, settings, and their SQS triggers."""

from __future__ import annotations

import re

import pulumi
import pytest
from pydantic import BaseModel

from handlers.models.settings import DeadLetterSettings, GatewaySettings, ProcessingSettings, SweeperSettings
from tests.infra.harness import ACCOUNT, ProgramRun

FUNCTION = "aws:lambda/function:Function"
MAPPING = "aws:lambda/eventSourceMapping:EventSourceMapping"
SERVICES = ("gateway", "processing", "dlq", "sweeper")
# Powertools reads these itself at import; everything else a function reads is declared by its settings model,
# so the environment infra sets is checked against what the handlers actually parse.
POWERTOOLS_ENV = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"}
SETTINGS_MODELS: dict[str, type[BaseModel]] = {
    "gateway": GatewaySettings,
    "processing": ProcessingSettings,
    "dlq": DeadLetterSettings,
    "sweeper": SweeperSettings,
}
ENV_KEYS = {
    service: POWERTOOLS_ENV | {field.alias for field in model.model_fields.values() if field.alias}
    for service, model in SETTINGS_MODELS.items()
}


def _function(run: ProgramRun, service: str) -> dict:
    return run.named(FUNCTION, run.physical(service))


@pytest.mark.parametrize("service", SERVICES)
def test_function_runs_python_3_12_or_newer_on_arm64_with_tracing(default_run: ProgramRun, service: str) -> None:
    function = _function(default_run, service)
    match = re.fullmatch(r"python3\.(\d+)", function["runtime"])
    assert match and int(match.group(1)) >= 12
    assert function["architectures"] == ["arm64"]
    assert function["tracingConfig"] == {"mode": "Active"}
    assert function["handler"] == f"handlers.{service}.handler"


@pytest.mark.parametrize("service", SERVICES)
def test_package_is_the_handlers_folder_alone(default_run: ProgramRun, service: str) -> None:
    code = _function(default_run, service)["code"]
    assert isinstance(code, pulumi.AssetArchive)
    assert list(code.assets) == ["handlers"]
    archive = code.assets["handlers"]
    assert isinstance(archive, pulumi.FileArchive)
    assert archive.path == "./handlers"


@pytest.mark.parametrize("service", SERVICES)
def test_powertools_comes_from_the_managed_layer_for_the_runtime(default_run: ProgramRun, service: str) -> None:
    function = _function(default_run, service)
    (layer,) = function["layers"]
    python = function["runtime"].replace(".", "")
    assert re.fullmatch(
        rf"arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-{python}-arm64:\d+", layer
    )


@pytest.mark.parametrize("service", SERVICES)
def test_each_function_has_its_own_log_group_with_retention(tuned_run: ProgramRun, service: str) -> None:
    function = _function(tuned_run, service)
    group = tuned_run.named("aws:cloudwatch/logGroup:LogGroup", f"/aws/lambda/{function['name']}")
    assert group["retentionInDays"] == 30
    assert function["loggingConfig"]["logGroup"] == group["name"]


@pytest.mark.parametrize("service", SERVICES)
def test_each_function_has_its_own_role(default_run: ProgramRun, service: str) -> None:
    function = _function(default_run, service)
    assert function["role"] == f"arn:aws:iam::{ACCOUNT}:role/{default_run.physical(service)}-role"


def test_sizing_follows_config(tuned_run: ProgramRun) -> None:
    processing = _function(tuned_run, "processing")
    assert (processing["timeout"], processing["memorySize"]) == (60, 1024)
    gateway = _function(tuned_run, "gateway")
    assert (gateway["timeout"], gateway["memorySize"]) == (10, 256)


@pytest.mark.parametrize("service", SERVICES)
def test_environment_is_exactly_the_contract(default_run: ProgramRun, service: str) -> None:
    variables = _function(default_run, service)["environment"]["variables"]
    assert set(variables) == ENV_KEYS[service]
    assert variables["AUDIT_TABLE_NAME"] == default_run.physical("audit")
    assert variables["POWERTOOLS_SERVICE_NAME"] == f"tasktrail-{service}"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "tasktrail"


def test_environment_values_follow_config(default_run: ProgramRun, tuned_run: ProgramRun) -> None:
    default = _function(default_run, "processing")["environment"]["variables"]
    assert default | {"AUDIT_TABLE_NAME": ""} == {
        "AUDIT_TABLE_NAME": "",
        "POWERTOOLS_SERVICE_NAME": "tasktrail-processing",
        "POWERTOOLS_METRICS_NAMESPACE": "tasktrail",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "LOG_PAYLOADS": "false",
        "BASE_VISIBILITY_TIMEOUT": "180",
        "MAX_RECEIVE_COUNT": "2",
        "FAULT_INJECTION": "false",
        "TASK_WORKER": "handlers.logic.work:run_task",
        "PROCESSING_QUEUE_URL": default_run.outputs["processingQueueUrl"],
        "DEAD_LETTER_QUEUE_URL": default_run.outputs["deadLetterQueueUrl"],
    }
    tuned = _function(tuned_run, "processing")["environment"]["variables"]
    assert (tuned["POWERTOOLS_LOG_LEVEL"], tuned["LOG_PAYLOADS"], tuned["FAULT_INJECTION"]) == ("DEBUG", "true", "true")
    assert (tuned["MAX_RECEIVE_COUNT"], tuned["TASK_WORKER"]) == ("5", "handlers.logic.other:work")
    assert _function(tuned_run, "dlq")["environment"]["variables"]["MAX_RECEIVE_COUNT"] == "5"
    gateway = _function(default_run, "gateway")["environment"]["variables"]
    assert gateway["PROCESSING_QUEUE_URL"] == default_run.outputs["processingQueueUrl"]
    assert gateway["MAX_BODY_BYTES"] == "262144"
    assert gateway["REENQUEUE_AFTER_SECONDS"] == "10"  # the gateway's timeout
    assert gateway["STRANDED_AFTER_SECONDS"] == "900"  # as the sweeper's
    assert gateway["API_AUTH"] == "apiKey"  # described in its OpenAPI document


def test_the_gateway_is_told_the_apis_auth_for_its_openapi_document(iam_run: ProgramRun, open_run: ProgramRun) -> None:
    assert _function(iam_run, "gateway")["environment"]["variables"]["API_AUTH"] == "iam"
    assert _function(open_run, "gateway")["environment"]["variables"]["API_AUTH"] == "none"


def test_sweeper_environment_and_schedule_follow_config(default_run: ProgramRun, local_run: ProgramRun) -> None:
    for run, schedule, stranded in ((default_run, "rate(5 minutes)", "900"), (local_run, "rate(1 minute)", "60")):
        variables = _function(run, "sweeper")["environment"]["variables"]
        assert variables["PROCESSING_QUEUE_URL"] == run.outputs["processingQueueUrl"]
        # The gateway's timeout: a send, if there was one, happened within it.
        assert variables["REENQUEUE_AFTER_SECONDS"] == str(run.setting("gatewayTimeout"))
        assert (variables["STRANDED_AFTER_SECONDS"], variables["SWEEP_LOOKBACK_SECONDS"]) == (stranded, "86400")
        (rule,) = run.of_type("aws:cloudwatch/eventRule:EventRule")
        assert rule["scheduleExpression"] == schedule
        (target,) = run.of_type("aws:cloudwatch/eventTarget:EventTarget")
        assert target["rule"] == rule["name"]
        assert target["arn"] == f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{run.physical('sweeper')}"


def _mappings(run: ProgramRun) -> dict[str, dict]:
    """Each event source mapping keyed by 'queue name -> function name'."""
    return {
        f"{m['eventSourceArn'].rsplit(':', 1)[1]} -> {m['functionName'].rsplit(':', 1)[1]}": m
        for m in run.of_type(MAPPING)
    }


def test_queues_trigger_their_functions_only(default_run: ProgramRun) -> None:
    processing, dlq = default_run.physical("processing"), default_run.physical("dlq")
    assert set(_mappings(default_run)) == {f"{processing} -> {processing}", f"{dlq} -> {dlq}"}


@pytest.mark.parametrize(
    ("fixture", "batch", "window", "concurrency"), [("default_run", 10, 0, 10), ("tuned_run", 100, 5, 50)]
)
def test_mappings_report_partial_failures_and_follow_config(
    fixture: str, batch: int, window: int, concurrency: int, request: pytest.FixtureRequest
) -> None:
    run: ProgramRun = request.getfixturevalue(fixture)
    mappings = run.of_type(MAPPING)
    assert len(mappings) == 2
    for mapping in mappings:
        assert mapping["functionResponseTypes"] == ["ReportBatchItemFailures"]
        assert mapping["batchSize"] == batch
        assert mapping["maximumBatchingWindowInSeconds"] == window
        assert mapping["scalingConfig"] == {"maximumConcurrency": concurrency}
