"""Policies on the REST API: the route tree, auth on every method, proxy integrations, stage, throttling, key."""

from __future__ import annotations

import json

import pulumi
import pytest

from infra.api import ROUTES, Route, deployment_fingerprint
from tests.infra.harness import ACCOUNT, ProgramRun, run_program

RESOURCE = "aws:apigateway/resource:Resource"
METHOD = "aws:apigateway/method:Method"
INTEGRATION = "aws:apigateway/integration:Integration"


def _paths(run: ProgramRun) -> dict[str, str]:
    """Resource id -> full path, rebuilt from the parentId chain the program declared."""
    by_id = {f"{r.name}-id": r.inputs for r in run.resources if r.typ == RESOURCE}

    def path(resource_id: str) -> str:
        if resource_id == "rootid":
            return ""
        resource = by_id[resource_id]
        return f"{path(resource['parentId'])}/{resource['pathPart']}"

    return {resource_id: path(resource_id) for resource_id in by_id}


def _routes(run: ProgramRun) -> dict[str, dict]:
    paths = _paths(run)
    return {f"{m['httpMethod']} {paths[m['resourceId']]}": m for m in run.of_type(METHOD)}


def test_routes_are_tasks_task_redrive_and_docs_under_api_v1(default_run: ProgramRun) -> None:
    assert sorted(_paths(default_run).values()) == [
        "/api",
        "/api/v1",
        "/api/v1/swagger",
        "/api/v1/tasks",
        "/api/v1/tasks/{taskId}",
        "/api/v1/tasks/{taskId}/redrive",
    ]
    assert set(_routes(default_run)) == {
        "POST /api/v1/tasks",
        "GET /api/v1/tasks",
        "GET /api/v1/tasks/{taskId}",
        "POST /api/v1/tasks/{taskId}/redrive",
        "GET /api/v1/swagger",
    }


@pytest.mark.parametrize(
    ("fixture", "authorization", "key_required"),
    [("default_run", "NONE", True), ("iam_run", "AWS_IAM", False), ("open_run", "NONE", False)],
)
def test_auth_mode_is_on_every_method(
    fixture: str, authorization: str, key_required: bool, request: pytest.FixtureRequest
) -> None:
    run: ProgramRun = request.getfixturevalue(fixture)
    methods = run.of_type(METHOD)
    assert len(methods) == len(ROUTES)
    for method in methods:
        assert method["authorization"] == authorization
        assert method.get("apiKeyRequired", False) is key_required


def test_default_auth_is_an_api_key_in_a_throttled_usage_plan(default_run: ProgramRun) -> None:
    (key,) = default_run.of_type("aws:apigateway/apiKey:ApiKey")
    (plan,) = default_run.of_type("aws:apigateway/usagePlan:UsagePlan")
    (plan_key,) = default_run.of_type("aws:apigateway/usagePlanKey:UsagePlanKey")
    assert key["enabled"] is True
    (stage,) = plan["apiStages"]
    assert stage["stage"] == "prod"
    assert plan["throttleSettings"] == {"rateLimit": 100, "burstLimit": 200}
    assert plan_key["keyType"] == "API_KEY"
    assert plan_key["keyId"] == default_run.id_of("aws:apigateway/apiKey:ApiKey", key["name"])
    assert plan_key["usagePlanId"] == default_run.id_of("aws:apigateway/usagePlan:UsagePlan", plan["name"])


def test_iam_auth_creates_no_api_key(iam_run: ProgramRun) -> None:
    assert iam_run.of_type("aws:apigateway/apiKey:ApiKey") == []
    assert iam_run.of_type("aws:apigateway/usagePlan:UsagePlan") == []
    assert "apiKey" not in iam_run.outputs


def test_every_route_is_a_lambda_proxy_to_the_gateway(default_run: ProgramRun) -> None:
    gateway_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{default_run.physical('gateway')}"
    integrations = default_run.of_type(INTEGRATION)
    assert {(i["resourceId"], i["httpMethod"]) for i in integrations} == {
        (m["resourceId"], m["httpMethod"]) for m in default_run.of_type(METHOD)
    }
    for integration in integrations:
        assert integration["type"] == "AWS_PROXY"
        assert integration["integrationHttpMethod"] == "POST"
        assert integration["uri"] == (
            f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{gateway_arn}/invocations"
        )


def test_stage_is_prod_traced_with_access_logs(tuned_run: ProgramRun) -> None:
    (stage,) = tuned_run.of_type("aws:apigateway/stage:Stage")
    assert stage["stageName"] == "prod"
    assert stage["xrayTracingEnabled"] is True
    group = tuned_run.named("aws:cloudwatch/logGroup:LogGroup", f"/aws/apigateway/{tuned_run.physical('api')}/access")
    assert group["retentionInDays"] == 30
    settings = stage["accessLogSettings"]
    assert settings["destinationArn"] == f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{group['name']}"
    fields = json.loads(settings["format"])
    assert {"requestId", "status", "httpMethod", "resourcePath", "ip"} <= set(fields)


def test_stage_throttling_follows_config(default_run: ProgramRun, tuned_run: ProgramRun) -> None:
    for run, rate, burst in ((default_run, 100, 200), (tuned_run, 25, 50)):
        (settings,) = run.of_type("aws:apigateway/methodSettings:MethodSettings")
        assert settings["methodPath"] == "*/*"
        assert settings["stageName"] == "prod"
        assert settings["settings"]["throttlingRateLimit"] == rate
        assert settings["settings"]["throttlingBurstLimit"] == burst


def test_deployment_is_replaced_when_routes_or_auth_change(default_run: ProgramRun, iam_run: ProgramRun) -> None:
    (default,) = default_run.of_type("aws:apigateway/deployment:Deployment")
    (iam,) = iam_run.of_type("aws:apigateway/deployment:Deployment")
    assert default["triggers"]["routes"] == deployment_fingerprint(ROUTES, "apiKey")
    assert iam["triggers"]["routes"] != default["triggers"]["routes"]
    more = (*ROUTES, Route("GET", ("tasks",)))
    assert deployment_fingerprint(more, "apiKey") != deployment_fingerprint(ROUTES, "apiKey")


def test_path_parameters_become_wildcards_in_invoke_permissions() -> None:
    assert Route("POST", ("tasks", "{taskId}", "redrive")).source_arn_path == "api/v1/tasks/*/redrive"


def test_destroying_a_stack_never_takes_the_accounts_api_gateway_logging_role_from_another() -> None:
    # The CloudWatch role is one setting per account and region, shared by every API there; pulumi-aws 7 resets it
    # when its Account resource is deleted (hashicorp/terraform-provider-aws#42226). Nothing of it may go with a stack,
    # and a role left behind must not collide with the next one: the role is named by Pulumi (a random suffix).
    kept: dict[str, bool | None] = {}

    def record(args: pulumi.ResourceTransformationArgs) -> None:
        if args.type_ == "aws:iam/role:Role" and "apigateway" not in str(args.props["assume_role_policy"]):
            return  # a function's role
        if args.type_ in ACCOUNT_SETTING:
            kept[args.type_] = args.opts.retain_on_delete
            assert args.props.get("name") is None and args.props.get("name_prefix") is None

    run_program("test", transformation=record)
    assert kept == dict.fromkeys(ACCOUNT_SETTING, True)


ACCOUNT_SETTING = (
    "aws:iam/role:Role",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:apigateway/account:Account",
)
