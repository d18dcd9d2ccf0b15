"""IAM as policy: every document parsed, exact actions on exact ARNs, the audit table append-only."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest

from tests.infra.harness import ACCOUNT, ProgramRun

REGION = "us-east-1"
# X-Ray's write actions have no resource-level permissions: the only statement allowed a "*" resource.
XRAY_PAIR = frozenset({"xray:PutTraceSegments", "xray:PutTelemetryRecords"})
FORBIDDEN_ON_TABLE = frozenset({"dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"})
SQS_CONSUME = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility")
SERVICES = ("gateway", "processing", "dlq", "sweeper", "digest")
# dynamodb:ListStreams has no resource-level permission, and Lambda refuses to create a stream mapping without it.
LIST_STREAMS = frozenset({"dynamodb:ListStreams"})
STREAM_READ = ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator")
PUSH_TO_CLOUDWATCH = "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _documents(run: ProgramRun) -> dict[str, dict]:
    """Every inline role policy, parsed, keyed by the role it is attached to."""
    return {policy["role"]: json.loads(policy["policy"]) for policy in run.of_type("aws:iam/rolePolicy:RolePolicy")}


def _allowed(document: dict) -> dict[str, set[str]]:
    """Allowed action -> the resources it is allowed on."""
    grants: dict[str, set[str]] = defaultdict(set)
    for statement in document["Statement"]:
        if statement["Effect"] == "Allow":
            for action in _as_list(statement["Action"]):
                grants[action] |= set(_as_list(statement["Resource"]))
    return dict(grants)


def _expected(run: ProgramRun, service: str) -> dict[str, set[str]]:
    table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{run.physical('audit')}"
    processing = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{run.physical('processing')}"
    dlq = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{run.physical('dlq')}"
    own_logs = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{run.physical(service)}:*"
    bucket = run.one("aws:s3/bucket:Bucket")["bucketPrefix"] + "mock"
    digests = f"arn:aws:s3:::{bucket}"
    signing_key, mac_key = (run.key_arn(purpose) for purpose in ("signing", "mac"))
    grants = {
        "logs:CreateLogStream": {own_logs},
        "logs:PutLogEvents": {own_logs},
        "xray:PutTraceSegments": {"*"},
        "xray:PutTelemetryRecords": {"*"},
        # Every function MACs what it appends (and the digest function checks them) with day keys of this key.
        "kms:GenerateMac": {mac_key},
    }
    if service != "digest":
        grants["dynamodb:PutItem"] = {table}
    if service == "digest":
        # Reads the stream; writes chunks, buckets and digests once each, reads them back to chain them; signs.
        grants |= {action: {f"{table}/stream/2026-12-01T00:00:00.000"} for action in STREAM_READ}
        grants |= {"dynamodb:ListStreams": {"*"}, "kms:Sign": {signing_key}, "s3:ListBucket": {digests}}
        grants |= {action: {f"{digests}/*"} for action in ("s3:PutObject", "s3:GetObject", "s3:GetObjectVersion")}
    elif service == "gateway":
        # History by task on the table; listing by status on the status index, and on nothing else; the queue's
        # depth for a retried POST.
        grants |= {
            "dynamodb:Query": {table, f"{table}/index/byStatus"},
            "sqs:SendMessage": {processing},
            "sqs:GetQueueAttributes": {processing},
            # GET /tasks/{taskId}/proof: the task's digests, and KMS to check their signatures.
            "s3:GetObject": {f"{digests}/*"},
            "s3:GetObjectVersion": {f"{digests}/*"},
            "s3:ListBucket": {digests},
            "kms:Verify": {signing_key},
        }
    elif service == "sweeper":
        # Reads QUEUED entries from its checkpoints, tells processed tasks apart in bulk, reads the others'
        # histories, claims a re-send and sends; the queue's depth tells a lost send from a backlog.
        grants |= {
            "dynamodb:Query": {table, f"{table}/index/byStatus"},
            "dynamodb:BatchGetItem": {table},
            "sqs:SendMessage": {processing},
            "sqs:GetQueueAttributes": {processing},
        }
    elif service == "processing":
        grants |= {action: {processing} for action in SQS_CONSUME} | {"sqs:SendMessage": {dlq}}
    else:
        grants |= {action: {dlq} for action in SQS_CONSUME} | {"dynamodb:Query": {table}}
    return grants


@pytest.fixture(params=["default_run", "local_run", "iam_run"])
def run(request: pytest.FixtureRequest) -> ProgramRun:
    return request.getfixturevalue(request.param)


@pytest.mark.parametrize("service", SERVICES)
def test_each_role_allows_exactly_the_expected_actions_on_exact_arns(run: ProgramRun, service: str) -> None:
    policy = run.named("aws:iam/rolePolicy:RolePolicy", f"{run.physical(service)}-policy")
    assert policy["role"] == run.id_of("aws:iam/role:Role", f"{run.physical(service)}-role")
    assert _allowed(json.loads(policy["policy"])) == _expected(run, service)


def test_every_role_policy_belongs_to_a_function_role(run: ProgramRun) -> None:
    policies = run.of_type("aws:iam/rolePolicy:RolePolicy")
    assert sorted(policy["name"] for policy in policies) == sorted(
        f"{run.physical(service)}-policy" for service in SERVICES
    )
    assert len({policy["role"] for policy in policies}) == len(SERVICES)


def test_no_wildcard_action_and_no_wildcard_resource_but_xray(run: ProgramRun) -> None:
    for role, document in _documents(run).items():
        for statement in document["Statement"]:
            actions = set(_as_list(statement["Action"]))
            assert all("*" not in action for action in actions), (role, statement)
            assert "NotAction" not in statement and "NotResource" not in statement, (role, statement)
            resources = _as_list(statement["Resource"])
            if statement["Effect"] == "Allow" and any("*" == resource for resource in resources):
                assert actions <= XRAY_PAIR or actions <= LIST_STREAMS, (role, statement)


def test_audit_table_is_append_only(run: ProgramRun) -> None:
    table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{run.physical('audit')}"
    for role, document in _documents(run).items():
        allowed = _allowed(document)
        assert not FORBIDDEN_ON_TABLE & set(allowed), role
        denied = [s for s in document["Statement"] if s["Effect"] == "Deny" and table in _as_list(s["Resource"])]
        assert denied, f"{role} has no explicit deny on the audit table"
        assert FORBIDDEN_ON_TABLE <= {action for statement in denied for action in _as_list(statement["Action"])}


def test_function_roles_trust_lambda_only(run: ProgramRun) -> None:
    for service in SERVICES:
        role = run.named("aws:iam/role:Role", f"{run.physical(service)}-role")
        (statement,) = json.loads(role["assumeRolePolicy"])["Statement"]
        assert statement == {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }


def test_only_managed_policy_is_api_gateways_logging_role(default_run: ProgramRun, tuned_run: ProgramRun) -> None:
    (attachment,) = default_run.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    (role,) = [r for r in default_run.resources if r.typ == "aws:iam/role:Role" and "name" not in r.inputs]
    assert attachment == {"role": f"{role.name}-id", "policyArn": PUSH_TO_CLOUDWATCH}
    (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert statement["Principal"] == {"Service": "apigateway.amazonaws.com"}
    (account,) = default_run.of_type("aws:apigateway/account:Account")
    assert account["cloudwatchRoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/{role.name}-id"
    # With the account setting left to someone else, the stack attaches no managed policy at all.
    assert tuned_run.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment") == []
    assert tuned_run.of_type("aws:apigateway/account:Account") == []


def test_api_may_invoke_the_gateway_on_its_own_routes_only(default_run: ProgramRun) -> None:
    permissions = [
        p for p in default_run.of_type("aws:lambda/permission:Permission") if p["principal"] != "events.amazonaws.com"
    ]
    (rest_api,) = [r for r in default_run.resources if r.typ == "aws:apigateway/restApi:RestApi"]
    rest_api_id = f"{rest_api.name}-id"
    execution = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{rest_api_id}"
    assert sorted(p["sourceArn"] for p in permissions) == [
        f"{execution}/prod/GET/api/v1/swagger",
        f"{execution}/prod/GET/api/v1/tasks",
        f"{execution}/prod/GET/api/v1/tasks/*",
        f"{execution}/prod/GET/api/v1/tasks/*/proof",
        f"{execution}/prod/POST/api/v1/tasks",
        f"{execution}/prod/POST/api/v1/tasks/*/redrive",
    ]
    for permission in permissions:
        assert permission["action"] == "lambda:InvokeFunction"
        assert permission["principal"] == "apigateway.amazonaws.com"
        assert permission["function"] == default_run.physical("gateway")


def test_each_schedule_may_invoke_its_own_function_only(run: ProgramRun) -> None:
    rules = {rule["name"]: rule for rule in run.of_type("aws:cloudwatch/eventRule:EventRule")}
    assert set(rules) == {f"{run.physical(service)}-schedule" for service in ("sweeper", "digest")}
    permissions = [
        p for p in run.of_type("aws:lambda/permission:Permission") if p["principal"] == "events.amazonaws.com"
    ]
    assert sorted(permissions, key=lambda p: p["function"]) == [
        {
            "action": "lambda:InvokeFunction",
            "function": run.physical(service),
            "principal": "events.amazonaws.com",
            "sourceArn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{run.physical(service)}-schedule",
        }
        for service in ("digest", "sweeper")
    ]
