"""Policies on the functions: runtime, package, layer, tracing, logs, settings, and their SQS triggers."""

from __future__ import annotations

import compileall
import hashlib
import json
import re
import shutil
import zipfile
from pathlib import Path

import pulumi
import pytest
from pydantic import BaseModel

from handlers.models.settings import (
    CallBudget,
    DeadLetterSettings,
    GatewaySettings,
    ProcessingSettings,
    SweeperSettings,
)
from infra import artifacts
from infra.artifacts import LOCK_FILE, MANIFEST, build_layer, function_code, locked_packages
from infra.capacity import LAMBDA_MAX_TIMEOUT, sweeper_timeout
from infra.settings import RATE_UNIT_SECONDS
from tests.infra.harness import ACCOUNT, ProgramRun, run_program

FUNCTION = "aws:lambda/function:Function"
MAPPING = "aws:lambda/eventSourceMapping:EventSourceMapping"
LAYER = "aws:lambda/layerVersion:LayerVersion"
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
def test_package_is_the_handlers_source_and_its_bytecode_alone(default_run: ProgramRun, service: str) -> None:
    code = _function(default_run, service)["code"]
    assert isinstance(code, pulumi.AssetArchive)
    sources = sorted(path.as_posix() for path in Path("handlers").rglob("*.py") if "__pycache__" not in path.parts)
    assert sorted(code.assets) == sorted([*sources, *map(_pyc_of, sources)])
    assert all(isinstance(asset, pulumi.FileAsset) for asset in code.assets.values())
    assert all(code.assets[name].path == name for name in sources)
    # /var/task is read-only on Lambda: the package's own modules would be compiled on every cold start too.
    pyc = Path(code.assets[_pyc_of("handlers/gateway.py")].path).read_bytes()
    assert int.from_bytes(pyc[4:8], "little") == 0b11 and b"/var/task/handlers/gateway.py" in pyc


def test_the_package_is_the_same_with_or_without_stray_bytecode_and_files(tmp_path: Path) -> None:
    # Pulumi hashes an archive's names and contents: stray .pyc files (the program and the tests write them) or a
    # new lock must not change the package, or every `pulumi up` would update every function.
    root = tmp_path / "handlers"
    shutil.copytree("handlers", root, ignore=shutil.ignore_patterns("__pycache__"))
    build = tmp_path / "build"
    clean = _digest(function_code(root, "3.13", build))
    compileall.compile_dir(str(root), quiet=1)
    (root / "notes.txt").write_text("not code")
    assert list(root.rglob("*.pyc"))
    shutil.rmtree(build)  # and compiled again: the same bytes
    assert _digest(function_code(root, "3.13", build)) == clean


def _digest(archive: pulumi.AssetArchive) -> str:
    digest = hashlib.sha256()
    for name in sorted(archive.assets):
        asset = archive.assets[name]
        assert isinstance(asset, pulumi.FileAsset)
        digest.update(name.encode() + b"\0" + Path(asset.path).read_bytes())
    return digest.hexdigest()


def test_one_dependency_layer_built_from_the_lock_for_the_functions_runtime(default_run: ProgramRun) -> None:
    (layer,) = default_run.of_type(LAYER)
    assert layer["compatibleRuntimes"] == ["python3.13"] and layer["compatibleArchitectures"] == ["arm64"]
    zip_path = Path(layer["code"].path)
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
        manifest = json.loads(archive.read(f"python/{MANIFEST}"))
        installed = {_dist(name) for name in names if name.endswith(".dist-info/METADATA")}
    # Every distribution the lock pins, at its version, built for Lambda's CPU and Python, and nothing else.
    assert manifest["packages"] == locked_packages() == dict(sorted(installed))
    assert (manifest["architecture"], manifest["python"]) == ("arm64", "3.13")
    assert manifest["lockSha256"] == hashlib.sha256(LOCK_FILE.read_bytes()).hexdigest()
    assert any(name.endswith("aarch64-linux-gnu.so") for name in names)  # pydantic-core's, for arm64
    assert not any("/bin/" in name for name in names)


def test_the_layer_ships_hash_checked_bytecode_for_the_runtimes_python(default_run: ProgramRun) -> None:
    # /opt is read-only on Lambda: a module without bytecode for python3.13 is compiled on every cold start.
    (layer,) = default_run.of_type(LAYER)
    with zipfile.ZipFile(Path(layer["code"].path)) as archive:
        names = set(archive.namelist())
        assert json.loads(archive.read(f"python/{MANIFEST}"))["bytecode"] is True
        sources = [name for name in names if name.endswith(".py")]
        compiled = {name: _pyc_of(name) for name in sources}
        assert len(sources) > 500 and all(pyc in names for pyc in compiled.values())
        assert not any(name.endswith(".pyc") and name not in compiled.values() for name in names)  # no -O, no 3.11
        botocore_init = archive.read(compiled["python/botocore/__init__.py"])
    # PEP 552's flags word: hash-based and checked against the source (so the zip's fixed times cannot matter),
    # compiled as Lambda will import it, from /opt/python.
    assert int.from_bytes(botocore_init[4:8], "little") == 0b11
    assert b"/opt/python/botocore/__init__.py" in botocore_init


def _pyc_of(source: str) -> str:
    folder, _, name = source.rpartition("/")
    return f"{folder}/__pycache__/{name.removesuffix('.py')}.cpython-313.pyc"


def test_a_layer_built_twice_is_the_same_to_the_byte(default_run: ProgramRun, tmp_path: Path) -> None:
    # Else every `pulumi up` from a fresh clone (or CI) would publish a new layer version and update every function.
    (layer,) = default_run.of_type(LAYER)
    again = build_layer(architecture="arm64", python_version="3.13", build_dir=tmp_path)
    assert again.bytecode
    assert _sha256(again.zip_path) == _sha256(Path(layer["code"].path))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_without_the_runtimes_python_the_layer_is_built_from_source_and_the_deploy_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def install(lock: Path, target: Path, architecture: str, python_version: str) -> None:
        (target / "pkg").mkdir(parents=True)
        (target / "pkg" / "__init__.py").write_text("VALUE = 1\n")
        (target / "pkg-1.0.dist-info").mkdir()

    monkeypatch.setattr(artifacts, "install_lock", install)
    monkeypatch.setattr(artifacts, "find_python", lambda version: None)
    layer = build_layer(build_dir=tmp_path)
    assert not layer.bytecode and not list(layer.tree.rglob("*.pyc"))

    warnings: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *args, **kwargs: warnings.append(message))
    monkeypatch.setattr(artifacts, "build_layer", lambda **kwargs: layer)
    run_program("test")
    assert any("without bytecode" in warning and artifacts.PYTHON_ENV in warning for warning in warnings)


def _dist(metadata_path: str) -> tuple[str, str]:
    name, _, version = metadata_path.split("/")[1].removesuffix(".dist-info").rpartition("-")
    return name.lower().replace("_", "-"), version


@pytest.mark.parametrize("service", SERVICES)
def test_every_function_uses_the_dependency_layer_and_nothing_else(default_run: ProgramRun, service: str) -> None:
    (layer,) = default_run.of_type(LAYER)
    assert _function(default_run, service)["layers"] == [
        f"arn:aws:lambda:us-east-1:{ACCOUNT}:layer:{layer['layerName']}:1"
    ]


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
        "EVENT_MAC_KEY_ID": default_run.key_arn("mac"),
        "FUNCTION_TIMEOUT": "30",
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
        rule = run.named("aws:cloudwatch/eventRule:EventRule", f"{run.physical('sweeper')}-schedule")
        assert rule["scheduleExpression"] == schedule
        (target,) = [t for t in run.of_type("aws:cloudwatch/eventTarget:EventTarget") if t["rule"] == rule["name"]]
        assert target["arn"] == f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{run.physical('sweeper')}"
        # A run may work until the next is due: the reconciler's time follows its interval.
        assert _function(run, "sweeper")["timeout"] == {"rate(5 minutes)": 300, "rate(1 minute)": 60}[schedule]


def _queue_mappings(run: ProgramRun) -> list[dict]:
    return [m for m in run.of_type(MAPPING) if m["eventSourceArn"].startswith("arn:aws:sqs:")]


def _mappings(run: ProgramRun) -> dict[str, dict]:
    """Each queue's event source mapping keyed by 'queue name -> function name'."""
    return {
        f"{m['eventSourceArn'].rsplit(':', 1)[1]} -> {m['functionName'].rsplit(':', 1)[1]}": m
        for m in _queue_mappings(run)
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
    mappings = _queue_mappings(run)
    assert len(mappings) == 2
    for mapping in mappings:
        assert mapping["functionResponseTypes"] == ["ReportBatchItemFailures"]
        assert mapping["batchSize"] == batch
        assert mapping["maximumBatchingWindowInSeconds"] == window
        assert mapping["scalingConfig"] == {"maximumConcurrency": concurrency}


def test_the_audit_tables_stream_feeds_the_digest_function_in_order_until_success(default_run: ProgramRun) -> None:
    table = default_run.named("aws:dynamodb/table:Table", default_run.physical("audit"))
    assert (table["streamEnabled"], table["streamViewType"]) == (True, "NEW_AND_OLD_IMAGES")
    (stream,) = [m for m in default_run.of_type(MAPPING) if "/stream/" in m["eventSourceArn"]]
    assert stream["functionName"].endswith(f":function:{default_run.physical('digest')}")
    # From the stream's oldest record, a failing batch split down to its record, retried until it succeeds: an
    # event is never dropped from the digests (the stream keeps records 24 hours).
    assert stream["startingPosition"] == "TRIM_HORIZON" and stream["bisectBatchOnFunctionError"] is True
    assert (stream["maximumRetryAttempts"], stream["maximumRecordAgeInSeconds"]) == (-1, -1)
    assert "parallelizationFactor" not in stream  # one batch a shard at a time: in order


def test_every_function_macs_its_events_with_the_stacks_key(default_run: ProgramRun) -> None:
    for service in (*SERVICES, "digest"):
        variables = _function(default_run, service)["environment"]["variables"]
        assert variables["EVENT_MAC_KEY_ID"] == default_run.key_arn("mac")


@pytest.mark.parametrize("fixture", ["default_run", "local_run", "tuned_run"])
def test_each_function_budgets_its_aws_calls_from_its_own_timeout(fixture: str, request: pytest.FixtureRequest) -> None:
    run: ProgramRun = request.getfixturevalue(fixture)
    for service in SERVICES:
        function = _function(run, service)
        assert float(function["environment"]["variables"]["FUNCTION_TIMEOUT"]) == function["timeout"]


def test_the_sweepers_reserve_exceeds_one_worst_case_call() -> None:
    # The sweeper starts new work only while a worst-case call still fits before its deadline (handlers/sweeper.py);
    # that must leave it time to work at all, at its shortest timeout (the shortest schedule's) too.
    shortest = sweeper_timeout(RATE_UNIT_SECONDS["minute"])
    budget = CallBudget(shortest)
    assert budget.worst_case_call + budget.reserve < shortest / 2
    # Its longest timeout is Lambda's, for schedules of 15 minutes and more.
    assert sweeper_timeout(12 * 3600) == LAMBDA_MAX_TIMEOUT
