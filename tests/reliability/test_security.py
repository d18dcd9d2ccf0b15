# ruff: noqa: F811 - the logging tests take the imported moto `cloud` fixture by its name
"""Security: every IAM document the program declares linted with parliament and held to least privilege, the audit
table append-only in IAM and in the handlers' code, auth on every deployed route, and payloads kept out of logs."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import parliament
import pytest
import requests

from tests.e2e.cloud import RunningCloud
from tests.infra.harness import PROJECT_DIR, ProgramRun, run_program
from tests.integration.conftest import Cloud, cloud, gateway  # noqa: F401 - `cloud`: the moto fixture
from tests.reliability import trail
from tests.reliability.faults import Faults

logger = gateway.logger  # the one Powertools logger of handlers.observability, as the handlers import it
SEVERITY_ORDER = ["INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
# Findings above LOW that are accepted, each with why: (kind of document, issue, detail) -> reason.
STREAM_FORMAT = "arn:*:dynamodb:*:*:table/*/stream/*"
ALLOWED_FINDINGS = {
    ("trust", "MALFORMED", "Statement contains neither Resource nor NotResource"): (
        "parliament lints identity policies; a role's trust policy names a Principal and never has a Resource"
    ),
    (
        "identity",
        "RESOURCE_MISMATCH",
        json.dumps(
            [
                {"action": f"dynamodb:{action}", "required_format": STREAM_FORMAT}
                for action in ("DescribeStream", "GetRecords", "GetShardIterator")
            ]
        ),
    ): (
        "the digest function's stream ARN is in that format, but its label is a time with colons "
        "(table/T/stream/2026-12-01T00:00:00.000, as DynamoDB names streams), and parliament splits ARNs on ':'"
    ),
}
XRAY_PAIR = frozenset({"xray:PutTraceSegments", "xray:PutTelemetryRecords"})
# Actions IAM authorises on "*" only (no resource type): X-Ray's write pair, and dynamodb:ListStreams, which Lambda's
# DynamoDB stream event source asks of the digest function's role
# (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazondynamodb.html,
# https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html "Execution role permissions").
STAR_ONLY = XRAY_PAIR | {"dynamodb:ListStreams"}
REWRITES = frozenset(
    {
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:PartiQLUpdate",
        "dynamodb:PartiQLDelete",
        "dynamodb:TransactWriteItems",
        "dynamodb:DeleteTable",
        "dynamodb:UpdateTable",
    }
)
# botocore method and operation names that could change or remove a stored event.
REWRITE_CALLS = re.compile(
    r"\b(update_item|delete_item|batch_write_item|transact_write_items|execute_statement|batch_execute_statement|"
    r"execute_transaction|UpdateItem|DeleteItem|BatchWriteItem|TransactWriteItems|ExecuteStatement|delete_table|"
    r"update_table)\b|\.Table\("
)
CONFIGS = {
    "defaults": ("test", None),
    "local": ("local", None),
    "iam-auth": ("test", {"apiAuth": "iam"}),
    "logging-on": ("test", {"logPayloads": "true", "logLevel": "DEBUG", "faultInjection": "true"}),
}


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def program(request: pytest.FixtureRequest) -> ProgramRun:
    stack, overrides = CONFIGS[request.param]
    return run_program(stack, overrides)


def _documents(run: ProgramRun) -> list[tuple[str, str, dict[str, Any]]]:
    """(kind, resource name, parsed document) of every IAM document the program declares."""
    documents = []
    for resource in run.resources:
        inputs = resource.inputs
        if resource.typ in ("aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy", "aws:iam/userPolicy:UserPolicy"):
            documents.append(("identity", resource.name, json.loads(inputs["policy"])))
        elif resource.typ == "aws:iam/role:Role":
            documents.append(("trust", resource.name, json.loads(inputs["assumeRolePolicy"])))
            for inline in inputs.get("inlinePolicies") or []:
                documents.append(("identity", f"{resource.name}/{inline['name']}", json.loads(inline["policy"])))
    return documents


def _finding(kind: str, finding: Any) -> tuple[str, str, str]:
    """A finding as the allow-list names it (a detail that is not text, as its JSON)."""
    detail = finding.detail if isinstance(finding.detail, str) else json.dumps(finding.detail)
    return kind, finding.issue, detail


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def test_parliament_finds_nothing_above_low_in_any_iam_document(program: ProgramRun) -> None:
    documents = _documents(program)
    assert len([d for d in documents if d[0] == "identity"]) >= 3, "one policy per function role at least"
    unexplained = []
    for kind, name, document in documents:
        for finding in parliament.analyze_policy_string(json.dumps(document), include_community_auditors=True).findings:
            # Community auditors' issues are not in parliament's severity table: count them as MEDIUM.
            severity = (parliament.config.get(finding.issue) or {}).get("severity") or "MEDIUM"
            if SEVERITY_ORDER.index(severity) <= SEVERITY_ORDER.index("LOW"):
                continue
            if _finding(kind, finding) not in ALLOWED_FINDINGS:
                unexplained.append((name, severity, finding.issue, finding.detail, finding.location))
    assert not unexplained, unexplained


def test_the_allow_list_is_still_needed(program: ProgramRun) -> None:
    # An entry nothing triggers any more is dropped, so that the list never hides a future finding.
    triggered = {
        _finding(kind, finding)
        for kind, _, document in _documents(program)
        for finding in parliament.analyze_policy_string(json.dumps(document), include_community_auditors=True).findings
    }
    assert set(ALLOWED_FINDINGS) <= triggered


def test_least_privilege_no_star_but_where_iam_has_no_resource_and_no_rewrite_of_history(program: ProgramRun) -> None:
    for kind, name, document in _documents(program):
        if kind != "identity":
            continue
        for statement in document["Statement"]:
            assert "NotAction" not in statement and "NotResource" not in statement, (name, statement)
            actions = set(_as_list(statement["Action"]))
            if statement["Effect"] != "Allow":
                continue
            assert not any("*" in action for action in actions), (name, statement)
            if "*" in _as_list(statement["Resource"]):
                assert actions <= STAR_ONLY, f"{name}: Resource * for an action with a resource type: {statement}"
            assert not actions & REWRITES, f"{name} may rewrite history: {statement}"


def test_every_function_role_denies_rewrites_of_the_audit_table(program: ProgramRun) -> None:
    table = next(r for r in program.of_type("aws:dynamodb/table:Table"))["name"]
    for kind, name, document in _documents(program):
        if kind != "identity" or "apigateway" in name:
            continue
        denied = {
            action
            for statement in document["Statement"]
            if statement["Effect"] == "Deny" and any(table in resource for resource in _as_list(statement["Resource"]))
            for action in _as_list(statement["Action"])
        }
        assert {"dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"} <= denied, (name, denied)


def test_every_deployed_method_requires_auth(program: ProgramRun) -> None:
    schemes = program.openapi()["components"]["securitySchemes"]
    routes = program.routes()
    assert routes
    for route, operation in routes.items():
        if route.startswith("OPTIONS ") and not operation.get("security"):
            continue  # CORS preflight carries no credentials by design, and its integration is a mock
        # Each operation requires a scheme API Gateway enforces: the x-api-key header, or SigV4.
        (requirement,) = operation["security"]
        (scheme,) = (schemes[name] for name in requirement)
        assert scheme["in"] == "header" and (
            scheme["name"] == "x-api-key" or scheme.get("x-amazon-apigateway-authtype") == "awsSigv4"
        ), (route, scheme)


def test_no_handler_code_can_rewrite_or_delete_an_event() -> None:
    sources = sorted((PROJECT_DIR / "handlers").rglob("*.py"))
    assert len(sources) > 10
    offenders = [
        f"{path.relative_to(PROJECT_DIR)}:{number}: {line.strip()}"
        for path in sources
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if REWRITE_CALLS.search(line)
    ]
    assert not offenders, offenders


# --- auth at run time, on the local cloud --------------------------------------------------------------------------


def _route_paths(run: ProgramRun) -> list[tuple[str, str]]:
    return [(route.split(" ", 1)[0], route.split(" ", 1)[1]) for route in run.routes()]


@pytest.mark.slow
def test_every_route_of_the_running_stack_refuses_a_missing_or_wrong_key(stack: RunningCloud) -> None:
    routes = _route_paths(run_program("local"))
    base = stack.api_url.removesuffix("/api/v1")
    table, dynamodb = stack.outputs["auditTableName"], stack.client("dynamodb")
    before = trail.keys(dynamodb, table)
    for method, path in routes:
        url = base + re.sub(r"\{[^}]+\}", "auth-probe", path)
        body = json.dumps({"taskId": "auth-probe", "payload": {}})
        for headers in ({}, {"x-api-key": "not-the-key"}):
            response = requests.request(
                method, url, data=body, headers={**headers, "content-type": "application/json"}, timeout=30
            )
            assert response.status_code == 403, (method, path, headers, response.status_code, response.text[:200])
    assert trail.keys(dynamodb, table) == before


# --- payloads stay out of the logs ---------------------------------------------------------------------------------


def _logged(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    text = " ".join(str(record.__dict__) for record in caplog.records) + captured.out + captured.err
    caplog.clear()
    return text


def _every_path_with(cloud: Cloud, marker: str) -> None:
    """Drive a payload carrying `marker` through every handler path that logs: accepted, retried, dead-lettered,
    conflicting, refused as invalid, failed to enqueue (503), and a poison message."""
    cloud.post({"taskId": f"ok-{marker}", "payload": {"secret": marker}})
    cloud.post({"taskId": f"ok-{marker}", "payload": {"secret": marker, "other": 1}})  # 409
    cloud.post({"taskId": "bad id", "payload": {"secret": marker}})  # 422
    cloud.post({"taskId": f"fail-{marker}", "payload": {"simulate": "fail", "secret": marker}})
    for _ in range(3):
        messages = cloud.receive()
        if messages:
            failed = {f["itemIdentifier"] for f in cloud.process(messages)["batchItemFailures"]}
            for message in messages:
                if message["MessageId"] in failed:
                    cloud.fast_forward(message)
    cloud.receive()
    cloud.drain_dlq()
    cloud.sqs.send_message(QueueUrl=cloud.queue_url, MessageBody=json.dumps({"secret": marker}))
    cloud.process(cloud.receive())
    cloud.drain_dlq()
    faults = Faults()
    faults.install()
    faults.fail("sqs", "SendMessage", "ServiceUnavailable")
    assert cloud.post({"taskId": f"down-{marker}", "payload": {"secret": marker}})[0] == 503
    faults.clear()


def test_payloads_are_not_logged_by_default(
    cloud: Cloud, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = f"s3cr3t{uuid.uuid4().hex[:10]}"
    # The functions' own logger at its most verbose (logLevel DEBUG). botocore's DEBUG logging (a root logger at
    # DEBUG) prints request bodies whatever the code does: that is outside what LOG_PAYLOADS can promise.
    caplog.set_level("DEBUG", logger=logger.name)

    _every_path_with(cloud, marker)

    logged = _logged(caplog, capsys)
    assert "task dead-lettered" in logged and "poison message" in logged, "the paths above did log"
    assert [t for t in cloud.types(f"fail-{marker}") if t == "DEAD_LETTERED"]
    scrubbed = logged.replace(f"ok-{marker}", "").replace(f"fail-{marker}", "").replace(f"down-{marker}", "")
    leaks = [scrubbed[max(0, m.start() - 300) : m.end() + 50] for m in re.finditer(marker, scrubbed)]
    assert not leaks, leaks[:3]


def test_payloads_are_logged_when_asked(
    cloud: Cloud, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = f"s3cr3t{uuid.uuid4().hex[:10]}"
    caplog.set_level("DEBUG", logger=logger.name)
    cloud.setenv(LOG_PAYLOADS="true")

    _every_path_with(cloud, marker)

    assert marker in _logged(caplog, capsys).replace(f"ok-{marker}", "").replace(f"fail-{marker}", "")


@pytest.mark.slow
def test_the_running_stack_logs_no_payload(stack: RunningCloud) -> None:
    marker = f"s3cr3t{uuid.uuid4().hex[:10]}"
    for name, payload in (("ok", {"secret": marker}), ("fail", {"simulate": "fail", "secret": marker})):
        assert stack.post_task(f"log-{name}-{uuid.uuid4().hex[:6]}", payload).status_code == 202
    assert stack.post_task("bad id", {"secret": marker}).status_code == 422
    trail.wait_until(
        lambda: "task dead-lettered" in stack.log() and stack.log().count("task succeeded") > 0,
        timeout=60,
        what=lambda: "the dead-lettering never showed in the log",
    )
    assert marker not in stack.log()
