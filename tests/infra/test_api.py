"""Policies on the REST API: the route tree, auth on every method, proxy integrations, stage, throttling, key."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest

from handlers.models.contract import ApiAuth
from infra.api import ROUTES, Route, document_digest, openapi_document
from tests.infra.harness import ACCOUNT, ProgramRun, run_program

REST_API = "aws:apigateway/restApi:RestApi"
DEPLOYMENT = "aws:apigateway/deployment:Deployment"
PER_ROUTE_TYPES = (
    "aws:apigateway/resource:Resource",
    "aws:apigateway/method:Method",
    "aws:apigateway/integration:Integration",
)


def test_routes_are_tasks_task_redrive_and_docs_under_api_v1(default_run: ProgramRun) -> None:
    assert set(default_run.routes()) == {
        "POST /api/v1/tasks",
        "GET /api/v1/tasks",
        "GET /api/v1/tasks/{taskId}",
        "POST /api/v1/tasks/{taskId}/redrive",
        "GET /api/v1/tasks/{taskId}/proof",
        "GET /api/v1/swagger",
    }
    assert default_run.routes()["GET /api/v1/tasks/{taskId}"]["parameters"] == [
        {"name": "taskId", "in": "path", "required": True, "schema": {"type": "string"}}
    ]


@pytest.mark.parametrize(
    ("fixture", "scheme"),
    [
        ("default_run", {"api_key": {"type": "apiKey", "name": "x-api-key", "in": "header"}}),
        (
            "iam_run",
            {
                "sigv4": {
                    "type": "apiKey",
                    "name": "Authorization",
                    "in": "header",
                    "x-amazon-apigateway-authtype": "awsSigv4",
                }
            },
        ),
        ("open_run", None),
    ],
)
def test_auth_mode_is_on_every_method(fixture: str, scheme: dict | None, request: pytest.FixtureRequest) -> None:
    run: ProgramRun = request.getfixturevalue(fixture)
    routes = run.routes()
    assert len(routes) == len(ROUTES)
    document = run.openapi()
    if scheme is None:
        assert "components" not in document
        assert all("security" not in operation for operation in routes.values())
    else:
        assert document["components"]["securitySchemes"] == scheme
        assert all(operation["security"] == [{name: []} for name in scheme] for operation in routes.values())


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
    for operation in default_run.routes().values():
        assert operation["x-amazon-apigateway-integration"] == {
            "type": "aws_proxy",
            "httpMethod": "POST",
            "uri": f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{gateway_arn}/invocations",
            "passthroughBehavior": "when_no_match",
        }


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


def test_the_api_is_its_openapi_document_and_nothing_else(default_run: ProgramRun) -> None:
    # Per-route resources would be deleted last (pulumi/pulumi#9979), after a new Deployment had snapshotted them.
    # The document, put in overwrite mode, makes the API exactly the current routes before any Deployment exists.
    for typ in PER_ROUTE_TYPES:
        assert default_run.of_type(typ) == []
    (api,) = default_run.of_type(REST_API)
    assert api["putRestApiMode"] == "overwrite"
    (deployment,) = default_run.of_type(DEPLOYMENT)
    assert deployment["restApi"] == default_run.id_of(REST_API, api["name"])
    assert deployment["triggers"] == {"openapi": document_digest(api["body"])}


INVOKE = (
    "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:1:function:f/invocations"
)


def _digest(routes: tuple[Route, ...] = ROUTES, auth: ApiAuth = "apiKey", invoke_arn: str = INVOKE) -> str:
    return document_digest(json.dumps(openapi_document(routes, auth, invoke_arn, "t"), sort_keys=True))


@pytest.mark.parametrize(
    "change",
    [
        {"routes": (*ROUTES, Route("DELETE", ("tasks", "{taskId}")))},  # a route added
        {"routes": ROUTES[:-1]},  # a route removed
        {"routes": (Route("PUT", ("tasks",)), *ROUTES[1:])},  # a method changed
        {"routes": (*ROUTES[:-1], Route("GET", ("docs",)))},  # a path changed
        {"auth": "iam"},  # authorisation
        {"auth": "none"},
        {"invoke_arn": INVOKE.replace("function:f", "function:g")},  # the integration
    ],
    ids=["added", "removed", "method", "path", "iam", "none", "integration"],
)
def test_any_change_to_a_route_its_integration_or_auth_redeploys(change: dict[str, Any]) -> None:
    assert _digest(**change) != _digest()


def test_the_same_routes_give_the_same_deployment(default_run: ProgramRun) -> None:
    # A second `pulumi up` with no change must not replace the Deployment (nor touch the stage).
    again = run_program("test")
    assert again.of_type(DEPLOYMENT) == default_run.of_type(DEPLOYMENT)


def test_the_stage_serves_a_deployment_only_once_every_routes_permission_exists() -> None:
    depends: dict[str, list[str]] = {}

    def record(args: pulumi.ResourceTransformationArgs) -> None:
        if args.type_ == "aws:apigateway/stage:Stage":
            depends["stage"] = [resource._name for resource in args.opts.depends_on or []]  # type: ignore[union-attr]

    run = run_program("test", transformation=record)
    permissions = [
        r.name for r in run.resources if r.typ == "aws:lambda/permission:Permission" and "schedule" not in r.name
    ]
    assert len(permissions) == len(ROUTES)
    assert set(permissions) <= set(depends["stage"])


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
